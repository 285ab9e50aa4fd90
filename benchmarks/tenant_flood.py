"""One tenant flooding the gateway beside another: tenant acme's users read as fast as they
can (8 users, 4 queries each, again and again, on 1.6M rows), while a user of tenant globex
reads 400,000 rows whole. Globex's time alone and beside the flood, without a quota on acme
and with `quotas.bytes_per_second_per_tenant` on it; two deployments moments apart, same
machine, same data.

    python -m benchmarks.tenant_flood [--rate-mb 40] [--runs 3]

Writes benchmarks/results/tenant-flood-*.json."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

import pyarrow.parquet as pq  # noqa: E402
from saeta import certs  # noqa: E402
from saeta.demo_data import ventas  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from benchmarks.procstat import cpu_seconds  # noqa: E402
from tests.system.harness import Deployment  # noqa: E402

ROWS = 400_000
USERS, QUERIES = 8, 4
PAUSE_SECONDS = 2.0


async def read_whole(url: str, dataset: str, qid: str = "q") -> tuple[int, int]:
    """One query read to its end without decoding: (rows, bytes of binary frames)."""
    nbytes = 0
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"action": "query", "id": qid, "dataset": dataset}))
        while True:
            frame = await asyncio.wait_for(ws.recv(), 300)
            if isinstance(frame, bytes):
                nbytes += len(frame)
                continue
            message = json.loads(frame)
            if message["type"] == "error":
                raise RuntimeError(f"{message['code']}: {message['message']}")
            if message["type"] == "end":
                return int(message["rows"]), nbytes


async def flood(url: str, moved: list[int], stop: asyncio.Event) -> None:
    """Queries on one socket, ``QUERIES`` at a time, each read whole, until ``stop``."""
    async with connect(url, compression=None, max_size=None) as ws:
        running = 0
        n = 0

        async def send() -> None:
            nonlocal running, n
            n += 1
            running += 1
            await ws.send(json.dumps({"action": "query", "id": f"f{n}", "dataset": "big"}))

        for _ in range(QUERIES):
            await send()
        while running:
            frame = await ws.recv()
            if isinstance(frame, bytes):
                moved[0] += len(frame)
            elif json.loads(frame)["type"] in ("end", "error"):
                running -= 1
                if not stop.is_set():
                    await send()


async def globex_reads(url: str, runs: int) -> list[float]:
    """Globex's reads, each after a pause (a person looking at the chart): the quota, the
    same for every tenant, lets a tenant's burst of one second's worth through at once."""
    seconds = []
    for i in range(runs):
        await asyncio.sleep(PAUSE_SECONDS)
        started = time.perf_counter()
        rows, _ = await read_whole(url, "one", f"g{i}")
        assert rows == ROWS, rows
        seconds.append(time.perf_counter() - started)
    return seconds


async def scenario(dep: Deployment, runs: int) -> dict[str, Any]:
    pids = {"gateway": dep.procs[1].popen.pid, "acme_connector": dep.procs[2].popen.pid, "clients": os.getpid()}
    globex = f"{dep.ws_url}/stream/{dep.session('globex', user='neighbour', ttl=3600)}"
    floods = [f"{dep.ws_url}/stream/{dep.session('acme', user=f'flood-{u}', ttl=3600)}" for u in range(USERS)]
    await globex_reads(globex, 1)  # warm-up
    alone = await globex_reads(globex, runs)
    stop = asyncio.Event()
    moved = [0]
    tasks = [asyncio.create_task(flood(url, moved, stop)) for url in floods]
    await asyncio.sleep(3)  # the flood under way
    before, started = moved[0], time.perf_counter()
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    beside = await globex_reads(globex, runs)
    elapsed = time.perf_counter() - started
    acme_mb_s = (moved[0] - before) / 1e6 / elapsed
    cpu_share = {name: (cpu_seconds(pid) - cpu[name]) / elapsed for name, pid in pids.items()}
    stop.set()
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(BaseException):
            await t
    return {
        "globex_seconds_alone": statistics.median(alone),
        "globex_seconds_beside": statistics.median(beside),
        "slowdown": statistics.median(beside) / statistics.median(alone),
        "acme_mb_per_s_during": acme_mb_s,
        "cores_busy_during": cpu_share,
    }


def measure(root: Path, runs: int, quotas: dict[str, int]) -> dict[str, Any]:
    dep = Deployment(root)
    certs.init_ca(dep.certs)
    try:
        data = dep.root / "data"
        data.mkdir(parents=True)
        pq.write_table(ventas(ROWS), data / "ventas.parquet", row_group_size=16384)
        dep.start_control_plane()
        dep.start_gateway(
            session_cache_seconds=60, timeouts={"query_seconds": 120, "connect_seconds": 5}, quotas=quotas
        )
        dep.start_connector("acme", {"big": {"type": "parquet", "path": ["data/ventas.parquet"] * 4}})
        dep.start_connector("globex", {"one": {"type": "parquet", "path": "data/ventas.parquet"}})
        return asyncio.run(scenario(dep, runs))
    finally:
        dep.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate-mb", type=float, default=40.0, help="acme's bytes_per_second_per_tenant, in MB")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        free = measure(Path(tmp) / "free", args.runs, {})
        rate = int(args.rate_mb * 1e6)
        paced = measure(Path(tmp) / "paced", args.runs, {"bytes_per_second_per_tenant": rate})
    for name, point in (("no quota", free), (f"acme at {args.rate_mb:g} MB/s", paced)):
        print(
            f"{name}: globex {point['globex_seconds_alone']:.2f} s alone, {point['globex_seconds_beside']:.2f} s beside"
            f" the flood ({point['slowdown']:.2f}x); acme moved {point['acme_mb_per_s_during']:.0f} MB/s;"
            f" cores busy {json.dumps({k: round(v, 2) for k, v in point['cores_busy_during'].items()})}",
            flush=True,
        )
    out = RESULTS / f"tenant-flood-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    point = {"rows": ROWS, "users": USERS, "queries_each": QUERIES, "runs": args.runs, "rate_mb": args.rate_mb}
    out.write_text(json.dumps({**point, "no_quota": free, "quota": paced}, indent=1))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
