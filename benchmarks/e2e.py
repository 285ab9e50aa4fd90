"""End-to-end targets with real processes: saeta (connector -> gateway over mTLS ->
WebSocket -> pyarrow) and the Flight baseline (pyarrow.flight over mTLS). All targets stay
up together and the suite interleaves their runs, so the machine's drift spreads evenly
over them; each run records throughput, time to the first decoded batch, and the CPU its
server-side processes spent during that run."""

from __future__ import annotations

import abc
import asyncio
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.flight as flight
from saeta import certs
from saeta.client import AsyncClient

from benchmarks.flight_server import client as flight_client
from benchmarks.procstat import cpu_seconds
from tests.system.harness import Deployment, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    rows: int
    seconds: float
    first_batch_seconds: float
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU-seconds during this run


@dataclass
class Result:
    name: str
    volume: int  # bytes moved per run: the table as an Arrow IPC stream, the same for every target
    runs: list[Run] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def first_batch_ms(self) -> float:
        return 1000 * statistics.median(r.first_batch_seconds for r in self.runs)

    @property
    def mb_per_s(self) -> float:
        return self.volume / 1e6 / self.seconds

    @property
    def rows_per_s(self) -> float:
        return self.runs[0].rows / self.seconds

    def cpu_per_gb(self, process: str) -> float:
        return sum(r.cpu[process] for r in self.runs) / (self.volume * len(self.runs) / 1e9)

    @property
    def processes(self) -> list[str]:
        return list(self.runs[0].cpu) if self.runs else []


# The gateway's production defaults, where the test harness shortens them.
GATEWAY_DEFAULTS = {"session_cache_seconds": 5, "timeouts": {"query_seconds": 60, "connect_seconds": 10}}


# Given the started gateway, the (host, port) its connector dials instead (a proxy).
Dial = Callable[[Deployment], tuple[str, int]]


def deployment(
    root: Path,
    certs_dir: Path,
    datasets: dict[str, object],
    batch_rows: int,
    https: bool = False,
    dial: Dial | None = None,
    connector: dict[str, object] | None = None,
    **gateway: object,
) -> Deployment:
    """Control plane, gateway and one connector of tenant acme serving ``datasets``, with
    the CA in ``certs_dir``; with ``https`` the gateway serves https and wss with a
    certificate for localhost from a CA of its own (ROOT/web); ``dial`` puts something
    (a WAN link) between connector and gateway; ``connector``: more of the connector's
    performance keys. Everything started is stopped again if a step fails."""
    dep = Deployment(root)
    dep.root.mkdir(parents=True, exist_ok=True)
    (dep.root / "certs").symlink_to(certs_dir)
    try:
        dep.start_control_plane()
        if https:
            web = dep.root / "web"
            certs.init_ca(web)
            dep.web_ca = web / "ca.crt"
            gateway = {**gateway, "https": {"cert": str(web / "server.crt"), "key": str(web / "server.key")}}
        dep.start_gateway(**{**GATEWAY_DEFAULTS, **gateway})
        host, port = dial(dep) if dial else ("127.0.0.1", dep.grpc_port)
        dep.start_connector(
            "acme", datasets, via_host=host, via_port=port, max_chunk_size=batch_rows, **(connector or {})
        )
    except BaseException:
        dep.stop()
        raise
    return dep


class Target(abc.ABC):
    """Something the suite can run a query against: its server-side processes, one run,
    and a way to stop it."""

    name = ""

    @abc.abstractmethod
    def pids(self) -> dict[str, int]: ...

    @abc.abstractmethod
    def once(self) -> Run: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    def measure(self) -> Run:
        pids = self.pids()
        before = {k: cpu_seconds(p) for k, p in pids.items()}
        run = self.once()
        run.cpu = {k: cpu_seconds(p) - before[k] for k, p in pids.items()}
        return run


async def _saeta_run(url: str, session: str, context: ssl.SSLContext | None) -> Run:
    rows = 0
    first = 0.0
    async with await AsyncClient.connect(url, session, ssl=context) as client:
        start = time.perf_counter()
        async for batch in client.stream("bench"):
            if not rows:
                first = time.perf_counter() - start
            rows += batch.num_rows
        return Run(rows, time.perf_counter() - start, first)


class SaetaTarget(Target):
    """saeta with the given relay; with the Rust relay, DoGet goes to the data plane
    (data_port) unless ``data_plane`` is False (the shipping default: one port, DoGet on
    grpcio). With ``https`` the client reads over wss://, as a browser on the internet
    would. Everything else is the gateway's default config (``arrow_validation: full``)."""

    def __init__(
        self,
        root: Path,
        certs_dir: Path,
        parquet: Path,
        relay: str,
        batch_rows: int,
        data_plane: bool = True,
        https: bool = False,
        name: str = "",
        dial: Dial | None = None,
        connector: dict[str, object] | None = None,
        **gateway: object,
    ) -> None:
        uses_plane = data_plane and relay == "rust"
        self.name = name or f"saeta ({relay} relay{', data plane' if uses_plane else ', grpcio DoGet'})"
        extra: dict[str, object] = {**gateway, **({} if uses_plane else {"data_port": None})}
        self.dep = deployment(
            root,
            certs_dir,
            {"bench": {"type": "parquet", "path": str(parquet)}},
            batch_rows,
            https=https,
            dial=dial,
            connector=connector,
            relay=relay,
            **extra,
        )
        self.gateway, self.connector = self.dep.procs[1], self.dep.procs[2]
        try:
            self.session = self.dep.session("acme", ttl=3600)
            self.once()  # warm-up: imports, first connections
        except BaseException:
            self.dep.stop()
            raise

    def pids(self) -> dict[str, int]:
        return {"gateway": self.gateway.popen.pid, "connector": self.connector.popen.pid}

    def once(self) -> Run:
        return asyncio.run(_saeta_run(self.dep.ws_url, self.session, self.dep.web_context()))

    def stop(self) -> None:
        self.dep.stop()


class FlightTarget(Target):
    """The baseline: pyarrow.flight DoGet over mutual TLS from benchmarks/flight_server.py,
    reading the file with ``reader`` (its best, a parallel dataset scan, by default) and
    sending its batches with IPC body ``compression`` ("" for none, Flight's default);
    ``dial`` maps the server's port to the one the client dials (a proxy)."""

    def __init__(
        self,
        root: Path,
        certs_dir: Path,
        parquet: Path,
        reader: str = "scan",
        compression: str = "",
        dial: Callable[[int], int] | None = None,
        name: str = "",
    ) -> None:
        self.name = name or f"pyarrow.flight DoGet (mTLS, {reader.replace('_', ' ')})"
        port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        log_path = root / f"flight-{reader}-{port}.log"
        log = open(log_path, "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "flight_server.py"),
                str(port),
                str(certs_dir),
                str(parquet),
                reader,
                compression,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            wait_for(lambda: "ready" in log_path.read_text(), 30, "the Flight server")
            self.client = flight_client(dial(port) if dial else port, certs_dir, "acme")
            self.client.wait_for_available(timeout=30)
            self.once()  # warm-up
        except BaseException:
            self.stop()
            raise

    def pids(self) -> dict[str, int]:
        return {"server": self.proc.pid}

    def once(self) -> Run:
        start = time.perf_counter()
        reader = self.client.do_get(flight.Ticket(b"bench"))
        rows = 0
        first = 0.0
        for chunk in reader:
            if not rows:
                first = time.perf_counter() - start
            rows += chunk.data.num_rows
        return Run(rows, time.perf_counter() - start, first)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def interleaved(targets: list[Target], runs: int, volume: int) -> list[Result]:
    """``runs`` rounds; each round runs every target once, starting from a different one."""
    results = [Result(t.name, volume) for t in targets]
    for i in range(runs):
        for k in range(len(targets)):
            j = (i + k) % len(targets)
            results[j].runs.append(targets[j].measure())
    return results
