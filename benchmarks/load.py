"""Load shapes with real processes: a slow reader (memory must stay bounded end to end)
and many concurrent sessions (throughput must hold, completion times stay even)."""

from __future__ import annotations

import asyncio
import json
import math
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
from saeta.client import AsyncClient, SocketClosed
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from benchmarks.e2e import deployment
from benchmarks.procstat import peak_rss
from tests.system.harness import Deployment

MiB = 1024 * 1024


@dataclass
class SlowReader:
    mb_read: float
    seconds: float
    gateway_rss_growth_mib: float
    connector_rss_growth_mib: float


async def _read_slowly(url: str, session: str, mb_per_s: float, limit: int | None = None) -> tuple[int, float]:
    """Reads one query's frames at about ``mb_per_s``, straight from the socket, so the
    pace reaches the gateway through TCP."""
    async with connect(url + f"/stream/{session}", compression=None, max_queue=4, max_size=None) as ws:
        request: dict[str, object] = {"action": "query", "id": "slow", "dataset": "big"}
        if limit is not None:
            request["limit"] = limit
        await ws.send(json.dumps(request))
        start = time.perf_counter()
        received = 0
        while True:
            frame = await ws.recv()
            if isinstance(frame, str):
                message = json.loads(frame)
                if message["type"] in ("end", "error"):
                    assert message["type"] == "end", message
                    return received, time.perf_counter() - start
                continue
            received += len(frame)
            ahead = received / (mb_per_s * 1e6) - (time.perf_counter() - start)
            if ahead > 0:
                await asyncio.sleep(ahead)


def slow_reader(
    root: Path, certs_dir: Path, parquet: Path, table_mb: float, target_mb: float, mb_per_s: float, batch_rows: int
) -> SlowReader:
    copies = max(1, math.ceil(target_mb / table_mb))
    dep = deployment(root, certs_dir, {"big": {"type": "parquet", "path": [str(parquet)] * copies}}, batch_rows)
    try:
        gateway, connector = dep.procs[1].popen.pid, dep.procs[2].popen.pid
        session = dep.session("acme", ttl=3600)
        # Warm up (lazy imports, thread pools, allocator arenas), so that the baseline is
        # the processes' idle state after having served a query.
        asyncio.run(_read_slowly(dep.ws_url, session, 1e6, limit=300_000))
        time.sleep(1.0)
        with peak_rss({"gateway": gateway, "connector": connector}, every=0.2) as rss:
            received, seconds = asyncio.run(_read_slowly(dep.ws_url, session, mb_per_s))
    finally:
        dep.stop()
    return SlowReader(
        received / 1e6,
        seconds,
        (rss["gateway"][1] - rss["gateway"][0]) / MiB,
        (rss["connector"][1] - rss["connector"][0]) / MiB,
    )


@dataclass
class ManySessions:
    sessions: int
    rows_each: int
    single_rows_per_s: float
    aggregate_rows_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    retries: int
    error_kinds: dict[str, int]


async def _one(url: str, session: str, started: float, retries: list[int]) -> tuple[int, float]:
    """One session's query, retrying as the JS client does when the gateway says "try
    again later" (1013) or the handshake times out under the burst."""
    for attempt in range(10):
        try:
            async with await AsyncClient.connect(url, session, open_timeout=30) as client:
                table = await client.query("small")
            return table.num_rows, time.perf_counter() - started
        except (SocketClosed, ConnectionClosed, TimeoutError) as exc:
            code = (
                exc.close_code
                if isinstance(exc, SocketClosed)
                else exc.rcvd.code
                if (isinstance(exc, ConnectionClosed) and exc.rcvd is not None)
                else None
            )
            if not isinstance(exc, TimeoutError) and code != 1013:
                raise
            retries.append(1)
            await asyncio.sleep(random.uniform(0.5, 1.0) * 2 ** min(attempt, 4))
    raise TimeoutError("gave up after 10 attempts")


async def _many(dep: Deployment, sessions: int) -> tuple[float, list[tuple[int, float] | BaseException], float, int]:
    async with httpx.AsyncClient(timeout=30, headers=dep.admin_headers()) as http:

        async def issue(i: int) -> str:  # one user each: the gateway's quotas are per user
            answer = await http.post(f"{dep.cp_url}/api/sessions", json={"tenant": "acme", "user_id": f"load-{i}"})
            return str(answer.json()["session_id"])

        tokens = [await issue(i) for i in range(sessions)]
    singles = []
    retries: list[int] = []
    for token in tokens[:5]:
        rows, seconds = await _one(dep.ws_url, token, time.perf_counter(), retries)
        singles.append(rows / seconds)
    started = time.perf_counter()
    results = await asyncio.gather(*(_one(dep.ws_url, t, started, retries) for t in tokens), return_exceptions=True)
    return statistics.median(singles), results, time.perf_counter() - started, len(retries)


def many_sessions(root: Path, certs_dir: Path, parquet_small: Path, sessions: int, batch_rows: int) -> ManySessions:
    dep = deployment(root, certs_dir, {"small": {"type": "parquet", "path": str(parquet_small)}}, batch_rows)
    try:
        single, results, wall, retries = asyncio.run(_many(dep, sessions))
    finally:
        dep.stop()
    ok = [r for r in results if isinstance(r, tuple)]
    rows_each = ok[0][0] if ok else 0
    times = sorted(1000 * r[1] for r in ok)
    return ManySessions(
        sessions,
        rows_each,
        single,
        sum(r[0] for r in ok) / wall,
        statistics.median(times) if times else math.nan,
        times[min(len(times) - 1, int(0.99 * len(times)))] if times else math.nan,
        len(results) - len(ok),
        retries,
        dict(Counter(f"{type(r).__name__}: {r}"[:120] for r in results if not isinstance(r, tuple))),
    )
