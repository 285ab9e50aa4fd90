"""pyarrow.flight through saeta's Flight endpoint (client -> gateway over TLS -> tunnel ->
connector reading a Parquet file) against the same client on a pyarrow.flight server
reading the file itself (benchmarks/flight_server.py, over mutual TLS), in one run: both
stay up, runs interleave, medians compared. Both read batches of the same size
(BATCH_ROWS). Each saeta run is a GetFlightInfo then a DoGet of its endpoint (a Flight
client's whole path); the baseline's is its DoGet (it needs no FlightInfo). CPU-seconds of
the server-side processes are measured per run.

Usage: python -m benchmarks.flight_endpoint [--rows N] [--runs N]"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.flight as fl
import pyarrow.parquet as pq
from saeta import certs

from benchmarks.e2e import deployment
from benchmarks.flight_server import client as baseline_client
from benchmarks.procstat import cpu_seconds
from benchmarks.report import save
from benchmarks.workload import BATCH_ROWS, table
from tests.system.harness import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


def _read(reader: fl.FlightStreamReader) -> int:
    return sum(chunk.data.num_rows for chunk in reader)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="saeta-flight-bench-") as tmp:
        root = Path(tmp)
        file = root / "data.parquet"
        data = table(args.rows)
        pq.write_table(data, file, row_group_size=8 * BATCH_ROWS)
        volume = sum(b.serialize().size for b in data.to_batches(BATCH_ROWS))
        ca = root / "certs"
        certs.init_ca(ca)
        certs.issue_client(ca, "acme")
        flight_port = free_port()
        dep = deployment(
            root / "saeta",
            ca,
            {"bench": {"type": "parquet", "path": str(file)}},
            BATCH_ROWS,
            flight={"port": flight_port},
        )
        base_port = free_port()
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks/flight_server.py"), str(base_port), str(ca), str(file)]
        )
        try:
            wait_for(lambda: _up(base_port, ca), 30, "the pyarrow.flight server")
            token = dep.session("acme")
            options = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
            saeta = fl.connect(
                f"grpc+tls://127.0.0.1:{flight_port}",
                tls_root_certs=(ca / "ca.crt").read_bytes(),
                override_hostname="localhost",
            )
            baseline = baseline_client(base_port, ca, "acme")
            pids = {p.name: p.popen.pid for p in dep.procs if p.name in ("gateway", "connector-acme")}
            runs: dict[str, list[dict[str, float]]] = {"saeta": [], "pyarrow.flight": []}

            def saeta_once() -> int:
                info = saeta.get_flight_info(fl.FlightDescriptor.for_path("bench"), options)
                return sum(_read(saeta.do_get(e.ticket, options)) for e in info.endpoints)

            def baseline_once() -> int:
                return _read(baseline.do_get(fl.Ticket(b"bench")))

            for n in range(args.runs + 1):  # the first of each: a warm-up, not counted
                for name, once, procs in (
                    ("saeta", saeta_once, pids),
                    ("pyarrow.flight", baseline_once, {"server": server.pid}),
                ):
                    before = {k: cpu_seconds(p) for k, p in procs.items()}
                    start = time.perf_counter()
                    rows = once()
                    seconds = time.perf_counter() - start
                    assert rows == args.rows, (name, rows)
                    if n:
                        cpu = {k: cpu_seconds(p) - before[k] for k, p in procs.items()}
                        runs[name].append({"seconds": seconds, **{f"cpu_{k}": v for k, v in cpu.items()}})
        finally:
            server.terminate()
            server.wait(10)
            dep.stop()
    result: dict[str, Any] = {"rows": args.rows, "arrow_bytes": volume, "batch_rows": BATCH_ROWS, "runs": runs}
    for name, these in runs.items():
        median = statistics.median(r["seconds"] for r in these)
        result[name] = {
            "median_seconds": median,
            "mb_per_s": volume / 1e6 / median,
            **{
                key: statistics.median(r[key] for r in these) / (volume / 1e9)
                for key in these[0]
                if key.startswith("cpu_")
            },
        }
    result["saeta_over_baseline"] = result["saeta"]["median_seconds"] / result["pyarrow.flight"]["median_seconds"]
    path = save("flight-endpoint", result)
    print(
        f"saeta {result['saeta']['median_seconds']:.3f} s ({result['saeta']['mb_per_s']:.0f} MB/s), "
        f"pyarrow.flight {result['pyarrow.flight']['median_seconds']:.3f} s "
        f"({result['pyarrow.flight']['mb_per_s']:.0f} MB/s): {result['saeta_over_baseline']:.2f} times; {path}"
    )
    return result


def _up(port: int, ca: Path) -> bool:
    try:
        list(baseline_client(port, ca, "acme").list_flights())
    except NotImplementedError:  # it serves DoGet only: it answered, so it is up
        return True
    except fl.FlightError:
        return False
    return True


if __name__ == "__main__":
    main()
