"""Connect-query-cancel churn against a real gateway and connector: many short-lived
sockets, each starting a query on a large dataset and leaving it in one of three ways
(cancel before any data, cancel after the first batch, or vanish mid-stream without a
word). Afterwards the gateway's and the connector's asyncio tasks, threads and file
descriptors must come back to their baseline and RSS must stop growing; the figures are
what `python -m benchmarks.churn` reports (tests/system/test_churn.py runs a short one).

    python -m benchmarks.churn [--cycles 100000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

import pyarrow.parquet as pq  # noqa: E402
from saeta import certs  # noqa: E402
from saeta.demo_data import ventas  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from tests.system.harness import Deployment, Proc, wait_for  # noqa: E402

WAYS = ("cancel-before-data", "cancel-after-first-batch", "vanish-mid-stream")


@dataclass
class Churn:
    cycles: int = 0
    seconds: float = 0.0
    ends: Counter[str] = field(default_factory=Counter)  # how each cycle's query ended

    @property
    def per_second(self) -> float:
        return self.cycles / self.seconds if self.seconds else 0.0


def start(dep: Deployment, rows: int = 400_000) -> tuple[Proc, Proc]:
    """Control plane, gateway and one connector serving "big" (``rows`` rows in row
    groups of 4,096, so a query is still running when it is cancelled)."""
    (dep.root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(ventas(rows), dep.root / "data" / "big.parquet", row_group_size=4096)
    dep.start_control_plane()
    # Quotas off: a few sessions play the part of many users, and this measures leaks.
    off = dict.fromkeys(("queries_per_minute_per_user", "queries_per_minute_per_tenant"), 0)
    gateway = dep.start_gateway(session_cache_seconds=30, quotas=off)
    connector = dep.start_connector("acme", {"big": {"type": "parquet", "path": "data/big.parquet"}})
    return gateway, connector


CYCLE_SECONDS = 60  # a cycle that takes longer has lost its answer: an error, not a hang


async def _cycle(url: str, way: str, churn: Churn) -> None:
    try:
        async with asyncio.timeout(CYCLE_SECONDS):
            await _one_cycle(url, way, churn)
    except TimeoutError:
        raise AssertionError(f"a {way} cycle got no answer within {CYCLE_SECONDS}s") from None


async def _one_cycle(url: str, way: str, churn: Churn) -> None:
    async with connect(url, compression=None, max_size=None, close_timeout=2) as ws:
        await ws.send(json.dumps({"action": "query", "id": "q", "dataset": "big"}))
        if way == "cancel-before-data":
            await ws.send(json.dumps({"action": "cancel", "id": "q"}))
        else:
            while isinstance(await ws.recv(), str):  # the header frame, then the first batch
                pass
            if way == "vanish-mid-stream":
                ws.transport.abort()  # no close frame, no cancel: the gateway finds out alone
                churn.ends["vanished"] += 1
                return
            await ws.send(json.dumps({"action": "cancel", "id": "q"}))
        while True:
            frame = await ws.recv()
            if isinstance(frame, str):
                message = json.loads(frame)
                if message["type"] in ("end", "error"):
                    churn.ends[message.get("code") or "end"] += 1
                    return


async def run(urls: Sequence[str], cycles: int) -> Churn:
    """``cycles`` cycles, one worker per URL at a time (each URL a session of its own, as
    each browser tab of a user would be: a session holds a few sockets at most)."""
    churn = Churn()
    started = time.perf_counter()
    next_cycle = iter(range(cycles))

    async def worker(url: str) -> None:
        for i in next_cycle:
            await _cycle(url, WAYS[i % len(WAYS)], churn)
            churn.cycles += 1

    await asyncio.gather(*(worker(url) for url in urls))
    churn.seconds = time.perf_counter() - started
    return churn


COUNTS = ("tasks", "other_threads", "fds")
# asyncio's default executor starts threads on demand up to this cap and keeps them: they
# are bounded, not leaked, so they are held to the cap rather than to the baseline.
EXECUTOR_CAP = min(32, (os.cpu_count() or 1) + 4)


def counts(proc: Proc) -> dict[str, int]:
    stats = proc.stats()
    return {**stats, "other_threads": stats["threads"] - stats["executor_threads"]}


def quiet(proc: Proc, timeout: float = 30) -> dict[str, int]:
    """The process's counts once two readings half a second apart agree (what the last
    cycles left behind has been torn down): the baseline to come back to."""
    last = counts(proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = counts(proc)
        if all(now[k] == last[k] for k in COUNTS):
            return now
        last = now
    return last


def settled(proc: Proc, baseline: dict[str, int], timeout: float) -> dict[str, int]:
    """The process's counts once its tasks, threads and fds are back at ``baseline``
    (or the last ones seen when ``timeout`` runs out)."""
    seen: dict[str, int] = {}

    def back() -> bool:
        seen.update(counts(proc))
        return all(seen[k] <= baseline[k] for k in COUNTS) and seen["executor_threads"] <= EXECUTOR_CAP

    with contextlib.suppress(AssertionError):  # the caller compares what was seen last
        wait_for(back, timeout, f"{proc.name} back to its baseline")
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--checkpoints", type=int, default=10, help="stats taken this many times along the run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dep = Deployment(Path(tmp))
        certs.init_ca(dep.certs)
        try:
            gateway, connector = start(dep)
            urls = [f"{dep.ws_url}/stream/{dep.session('acme', ttl=86_400)}" for _ in range(args.concurrency)]
            asyncio.run(run(urls, args.warmup))
            base = {p.name: quiet(p) for p in (gateway, connector)}
            print(f"baseline after {args.warmup} warm-up cycles: {base}", flush=True)
            points = []
            total = Churn()
            step = max(1, args.cycles // args.checkpoints)
            while total.cycles < args.cycles:
                part = asyncio.run(run(urls, min(step, args.cycles - total.cycles)))
                total.cycles += part.cycles
                total.seconds += part.seconds
                total.ends.update(part.ends)
                now = {p.name: settled(p, base[p.name], 30) for p in (gateway, connector)}
                points.append({"cycles": total.cycles, **now})
                print(
                    f"{total.cycles:>7} cycles, {part.per_second:5.0f}/s: "
                    + "; ".join(
                        f"{name} tasks {s['tasks']} threads {s['threads']} ({s['executor_threads']} executor) "
                        f"fds {s['fds']} objects {s['py_objects']} arrow {s.get('arrow_kib', 0) / 1024:.1f} MiB "
                        f"rss {s['rss_kib'] / 1024:.1f} MiB ({(s['rss_kib'] - base[name]['rss_kib']) / 1024:+.1f})"
                        for name, s in now.items()
                    ),
                    flush=True,
                )
            result = {
                "cycles": total.cycles,
                "seconds": round(total.seconds, 1),
                "cycles_per_second": round(total.per_second),
                "concurrency": args.concurrency,
                "ends": dict(total.ends),
                "baseline": base,
                "checkpoints": points,
            }
            out = RESULTS / f"churn-{time.strftime('%Y%m%d-%H%M%S')}.json"
            out.parent.mkdir(exist_ok=True)
            out.write_text(json.dumps(result, indent=1))
            print(json.dumps({k: v for k, v in result.items() if k != "checkpoints"}, indent=1))
            print(f"written {out}")
        finally:
            dep.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
