"""saeta against Arrow Flight over a customer's link (issue 19): toxiproxy (installed by
scripts/setup.sh) puts the same bandwidth cap and latency, both ways, between saeta's
connector and gateway and between Flight's client and server. Prints a table per link
and writes benchmarks/results/wan-STAMP.json. Usage:
  python benchmarks/wan.py [--rows N] [--runs N] [--links 25:20,100:50,50:100] [--shape mixed]
                           [--targets off,lz4,zstd,auto,plane]

A link is MB/s:ms (10^6 bytes per second, milliseconds added each way). On each, medians
of interleaved runs of:
- the link's ceiling: raw TCP through the same kind of proxy, the table's IPC size;
- Flight as it ships (DoGet over mTLS, the server's best reader, no compression): the
  baseline every ratio is taken against; and Flight with ZSTD bodies, its best on a slow
  link (a Flight server has to be told to compress);
- saeta as it ships (one port, DoGet on grpcio) with the connector's
  ``performance.compression`` off, lz4, zstd and auto (the default), and auto over the
  Rust data plane (its second port proxied the same way). The client reads over wss://
  next to the gateway; the WAN is the tunnel.

Time to first batch is from asking to holding the first decoded batch; its goal is
Flight's plus one round trip. Every process runs on this 2-core machine, toxiproxy too:
the link's ceiling is measured rather than assumed."""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from saeta import certs  # noqa: E402

from benchmarks import e2e, workload  # noqa: E402
from benchmarks.report import save  # noqa: E402
from tests.system.harness import Deployment  # noqa: E402
from tests.system.toxiproxy import Link, Toxiproxy  # noqa: E402

FAR = "127.0.0.2"  # the connector's side of the link: loopback, another address


class Ceiling(e2e.Target):
    """``volume`` bytes of raw TCP through a proxy: what the link itself carries."""

    def __init__(self, proxy: Toxiproxy, volume: int) -> None:
        self.name = "link ceiling (raw TCP, same bytes)"
        self.volume = volume
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(1)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.port = proxy.proxy("ceiling", self.server.getsockname()[1])

    def _serve(self) -> None:
        block = b"\0" * (1 << 20)
        while self.running:
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(1)
                left = self.volume
                while left > 0:
                    conn.sendall(memoryview(block)[: min(left, len(block))])
                    left -= len(block)

    def pids(self) -> dict[str, int]:
        return {}

    def once(self) -> e2e.Run:
        with socket.create_connection(("127.0.0.1", self.port), timeout=120) as conn:
            start = time.perf_counter()
            conn.sendall(b"g")
            got, first = 0, 0.0
            while chunk := conn.recv(1 << 20):
                if not got:
                    first = time.perf_counter() - start
                got += len(chunk)
        return e2e.Run(got, time.perf_counter() - start, first)

    def stop(self) -> None:
        self.running = False
        self.thread.join(5)
        self.server.close()


def saeta_dial(proxy: Toxiproxy, name: str, data_plane: bool) -> e2e.Dial:
    """The connector dials FAR: the tunnel's port through a proxy, and with the data plane
    its data_port too (the connector dials the tunnel's host at the port the gateway
    names, so the proxy listens on FAR at that same port)."""

    def dial(dep: Deployment) -> tuple[str, int]:
        if data_plane:
            proxy.proxy(f"{name}-data", dep.data_port, listen=FAR, listen_port=dep.data_port)
        return FAR, proxy.proxy(name, dep.grpc_port, listen=FAR)

    return dial


BASELINES = ("ceiling", "flight", "flight-zstd")  # always measured: the report's references
SAETA_TARGETS = ("off", "lz4", "zstd", "auto", "plane")


def targets(
    root: Path, cert_dir: Path, parquet: Path, proxy: Toxiproxy, volume: int, only: tuple[str, ...] = SAETA_TARGETS
) -> list[e2e.Target]:
    """The baselines (the ceiling, then Flight as it ships, then Flight with ZSTD) and the
    saeta targets in ``only``; all started, or none left running."""

    def flight(compression: str, name: str) -> e2e.Target:
        tag = f"flight-{compression or 'none'}"
        return e2e.FlightTarget(
            root / tag,
            cert_dir,
            parquet,
            "scan",
            compression=compression,
            dial=lambda port: proxy.proxy(tag, port),
            name=name,
        )

    def saeta(compression: str, data_plane: bool = False) -> e2e.Target:
        tag = f"saeta-{compression}{'-plane' if data_plane else ''}"
        where = "Rust data plane" if data_plane else "as shipped"
        return e2e.SaetaTarget(
            root / tag,
            cert_dir,
            parquet,
            "rust",
            workload.BATCH_ROWS,
            data_plane=data_plane,
            https=True,
            name=f"saeta {where}, compression {compression}",
            dial=saeta_dial(proxy, tag, data_plane),
            connector={"compression": compression},
        )

    makers = {
        "ceiling": lambda: Ceiling(proxy, volume),
        "flight": lambda: flight("", "Flight as it ships (no compression)"),
        "flight-zstd": lambda: flight("zstd", "Flight, ZSTD bodies"),
        "off": lambda: saeta("off"),
        "lz4": lambda: saeta("lz4"),
        "zstd": lambda: saeta("zstd"),
        "auto": lambda: saeta("auto"),
        "plane": lambda: saeta("auto", data_plane=True),
    }
    started: list[e2e.Target] = []
    try:
        for key, make in makers.items():
            if key in BASELINES or key in only:
                started.append(make())
    except BaseException:
        for target in started:
            target.stop()
        raise
    return started


def parse_links(text: str) -> list[Link]:
    links = []
    for part in filter(None, text.split(",")):
        mb, _, ms = part.partition(":")
        links.append(Link(float(mb), int(ms)))
    return links


def report(link: Link, results: list[e2e.Result]) -> dict[str, Any]:
    ceiling, flight, flight_zstd = results[0], results[1], results[2]
    print(f"\nlink {link.label} (round trip {link.rtt_ms} ms); ceiling {ceiling.mb_per_s:.1f} MB/s")
    print(
        f"{'path':<44} {'MB/s':>6} {'x Flight':>8} {'x Flight zstd':>13} {'1st batch ms':>12} {'- Flight':>8}  CPU-s/GB"
    )
    rows = []
    for r in results:
        cpu = ", ".join(f"{k} {r.cpu_per_gb(k):.2f}" for k in r.processes)
        print(
            f"{r.name:<44} {r.mb_per_s:>6.1f} {r.mb_per_s / flight.mb_per_s:>8.2f}"
            f" {r.mb_per_s / flight_zstd.mb_per_s:>13.2f} {r.first_batch_ms:>12.1f}"
            f" {r.first_batch_ms - flight.first_batch_ms:>8.1f}  {cpu}"
        )
        rows.append(
            {
                "name": r.name,
                "mb_per_s": round(r.mb_per_s, 2),
                "vs_flight": round(r.mb_per_s / flight.mb_per_s, 3),
                "vs_flight_zstd": round(r.mb_per_s / flight_zstd.mb_per_s, 3),
                "vs_ceiling": round(r.mb_per_s / ceiling.mb_per_s, 3),
                "first_batch_ms": round(r.first_batch_ms, 1),
                "first_batch_minus_flight_ms": round(r.first_batch_ms - flight.first_batch_ms, 1),
                "cpu_s_per_gb": {k: round(r.cpu_per_gb(k), 3) for k in r.processes},
                "seconds": [round(run.seconds, 3) for run in r.runs],
            }
        )
    return {"mb_per_s": link.mb_per_s, "latency_ms_each_way": link.latency_ms, "rtt_ms": link.rtt_ms, "results": rows}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the table")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per target and link")
    parser.add_argument("--links", default="25:20,100:50,50:100", help="MB/s:ms-each-way, comma-separated")
    parser.add_argument("--shape", default="mixed", choices=sorted(workload.SHAPES), help="the data's shape")
    parser.add_argument("--targets", default=",".join(SAETA_TARGETS), help="saeta targets, comma-separated")
    args = parser.parse_args(argv)
    only = tuple(t for t in args.targets.split(",") if t)
    if set(only) - set(SAETA_TARGETS):
        parser.error(f"unknown targets {sorted(set(only) - set(SAETA_TARGETS))}; known: {list(SAETA_TARGETS)}")
    links = parse_links(args.links)
    with tempfile.TemporaryDirectory(prefix="saeta-wan-") as tmp:
        root = Path(tmp)
        cert_dir = root / "certs"
        certs.init_ca(cert_dir)
        certs.issue_client(cert_dir, "acme")
        parquet = root / "data" / "wan.parquet"
        volume = workload.ipc_bytes(workload.write(parquet, args.rows, args.shape))
        print(f"{args.rows:,} rows ({args.shape}), {volume / 1e6:.1f} MB as Arrow IPC; medians of {args.runs} runs")
        by_link = []
        with Toxiproxy(root / "toxiproxy.log", links[0]) as proxy:
            started = targets(root, cert_dir, parquet, proxy, volume, only)
            try:
                for link in links:
                    proxy.shape_all(link)
                    for target in started:
                        target.once()  # warm-up on this link: windows, round-trip estimates
                    results = e2e.interleaved(started, args.runs, volume)
                    for result in results:
                        assert all(run.rows in (args.rows, volume) for run in result.runs), result.name
                    by_link.append(report(link, results))
            finally:
                for target in started:
                    target.stop()
    result: dict[str, object] = {
        "rows": args.rows,
        "shape": args.shape,
        "ipc_mb": round(volume / 1e6, 1),
        "runs": args.runs,
        "targets": list(only),
        "links": by_link,
    }
    print(f"written: {save('wan', result)}")
    return result


if __name__ == "__main__":
    main()
