"""End-to-end runs with real processes: saeta (connector -> gateway over mTLS -> WebSocket
-> pyarrow) and the Flight baseline (pyarrow.flight over mTLS), each measured for
throughput, time to first decoded batch, and the CPU its server-side processes spent."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.flight as flight
from saeta.client import AsyncClient

from benchmarks.flight_server import client as flight_client
from benchmarks.procstat import cpu_seconds
from tests.system.harness import Deployment, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    rows: int
    nbytes: int  # Arrow buffer bytes decoded at the client
    seconds: float
    first_batch_seconds: float


@dataclass
class Result:
    name: str
    runs: list[Run]
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU-seconds over all runs
    volume: int = 0  # bytes moved per run: the table as an Arrow IPC stream, the same for every path

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
        return self.cpu[process] / (self.volume * len(self.runs) / 1e9)


async def _saeta_run(url: str, session: str) -> Run:
    rows = nbytes = 0
    first = 0.0
    async with await AsyncClient.connect(url, session) as client:
        start = time.perf_counter()
        async for batch in client.stream("bench"):
            if not rows:
                first = time.perf_counter() - start
            rows += batch.num_rows
            nbytes += batch.nbytes
        return Run(rows, nbytes, time.perf_counter() - start, first)


def saeta(root: Path, certs_dir: Path, parquet: Path, runs: int, relay: str, batch_rows: int) -> Result:
    dep = Deployment(root)
    dep.root.mkdir(parents=True, exist_ok=True)
    (dep.root / "certs").symlink_to(certs_dir)
    try:
        dep.start_control_plane()
        gateway = dep.start_gateway(relay=relay)
        connector = dep.start_connector("acme", {"bench": {"type": "parquet", "path": str(parquet)}},
                                        max_chunk_size=batch_rows)
        session = dep.session("acme", ttl=3600)
        asyncio.run(_saeta_run(dep.ws_url, session))  # warm-up: imports, first connections
        before = {"gateway": cpu_seconds(gateway.popen.pid), "connector": cpu_seconds(connector.popen.pid)}
        measured = [asyncio.run(_saeta_run(dep.ws_url, session)) for _ in range(runs)]
        cpu = {
            "gateway": cpu_seconds(gateway.popen.pid) - before["gateway"],
            "connector": cpu_seconds(connector.popen.pid) - before["connector"],
        }
    finally:
        dep.stop()
    return Result(f"saeta ({relay} relay)", measured, cpu)


def _flight_run(client: flight.FlightClient) -> Run:
    start = time.perf_counter()
    reader = client.do_get(flight.Ticket(b"bench"))
    rows = nbytes = 0
    first = 0.0
    for chunk in reader:
        if not rows:
            first = time.perf_counter() - start
        rows += chunk.data.num_rows
        nbytes += chunk.data.nbytes
    return Run(rows, nbytes, time.perf_counter() - start, first)


def flight_baseline(root: Path, certs_dir: Path, parquet: Path, runs: int) -> Result:
    port = free_port()
    log = open(root / "flight.log", "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "flight_server.py"), str(port), str(certs_dir), str(parquet)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        wait_for(lambda: "ready" in (root / "flight.log").read_text(), 30, "the Flight server")
        client = flight_client(port, certs_dir, "acme")
        wait_for(lambda: _answers(client), 30, "the Flight server to answer")
        _flight_run(client)  # warm-up
        before = cpu_seconds(proc.pid)
        measured = [_flight_run(client) for _ in range(runs)]
        cpu = {"server": cpu_seconds(proc.pid) - before}
        client.close()
    finally:
        proc.terminate()
        proc.wait(30)
    return Result("pyarrow.flight DoGet (mTLS)", measured, cpu)


def _answers(client: flight.FlightClient) -> bool:
    try:
        client.wait_for_available(timeout=1)
        return True
    except flight.FlightError:
        return False
