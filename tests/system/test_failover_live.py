"""Losing a gateway replica mid-subscription, with real processes: 3 replicas behind
HAProxy on one Redis, a connector holding tunnels to two of them, several browsers
following a CSV dataset whose snapshot is far larger than every buffer on the path. One
replica holding a tunnel is killed (SIGKILL) while every browser is inside the snapshot
(they stop reading until it is dead), rows are appended and a new file appears: every
subscription carries on through resumption (docs/protocol.md, "Resuming") and each
browser gets every row exactly once."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from saeta.client import AsyncClient

from tests.system.harness import Deployment, wait_for
from tests.system.redis_server import RedisServer
from tests.system.replicas import HAProxy, start_connector_on, start_replica

pytestmark = pytest.mark.system

BROWSERS = 3
SNAPSHOT_ROWS = 600_000  # ~35 MB of CSV, ~30 MB of Arrow
APPENDED = 1_000
NOTE = "y" * 32


def write_rows(path: Path, first: int, count: int, header: bool = False) -> None:
    with path.open("a") as fh:
        if header:
            fh.write("id,valor,nota\n")
        fh.writelines(f"{i},{i % 977}.25,{NOTE}\n" for i in range(first, first + count))


def test_a_replica_killed_mid_subscription_loses_no_row_of_any_subscription(
    deployment: Deployment, redis_server: RedisServer
) -> None:
    data = deployment.root / "data"
    data.mkdir()
    write_rows(data / "log.csv", 0, SNAPSHOT_ROWS, header=True)
    deployment.start_control_plane(redis_url=redis_server.url)
    replicas = [start_replica(deployment, name, redis_server.url) for name in ("r1", "r2", "r3")]
    proxy = HAProxy(deployment.root / "haproxy", replicas)
    proxy.start()
    try:
        live = {"log": {"type": "csv", "path": "data/log*.csv", "live": {"poll_seconds": 0.1}}}
        start_connector_on(deployment, "acme", live, proxy.tunnel_port, connections=2)
        wait_for(lambda: sum(r.connectors() for r in replicas) == 2, 60, "two tunnels")
        victim = next(r for r in replicas if r.connectors() == 1)
        sessions = [deployment.session("acme", f"u{i}") for i in range(BROWSERS)]
        total = SNAPSHOT_ROWS + 2 * APPENDED

        async def main() -> list[tuple[pa.ChunkedArray, list[int]]]:
            midway = [asyncio.Event() for _ in range(BROWSERS)]
            go = asyncio.Event()

            async def follow(i: int) -> tuple[pa.ChunkedArray, list[int]]:
                ids: list[pa.Array] = []
                snapshots: list[int] = []
                async with await AsyncClient.connect(proxy.ws_url, sessions[i], resume=True) as client:
                    it = client.subscribe("log", ["id"], on_snapshot=snapshots.append)
                    seen = 0
                    while seen < total:
                        batch = await asyncio.wait_for(anext(it), 120)
                        ids.append(batch.column("id"))
                        seen += batch.num_rows
                        if not midway[i].is_set() and seen >= SNAPSHOT_ROWS // 3:
                            midway[i].set()
                            await go.wait()  # read nothing more until the replica is dead
                    await it.aclose()
                return pa.chunked_array(ids, pa.int64()), snapshots

            tasks = [asyncio.create_task(follow(i)) for i in range(BROWSERS)]
            await asyncio.wait_for(asyncio.gather(*(m.wait() for m in midway)), 120)
            victim.proc.popen.send_signal(signal.SIGKILL)
            victim.proc.popen.wait(timeout=30)
            write_rows(data / "log.csv", SNAPSHOT_ROWS, APPENDED)
            (data / "log-2.csv").write_text("id,valor,nota\n")
            write_rows(data / "log-2.csv", 10 * SNAPSHOT_ROWS, APPENDED)
            go.set()
            return await asyncio.wait_for(asyncio.gather(*tasks), 300)

        results = asyncio.run(main())
        expected = {*range(SNAPSHOT_ROWS + APPENDED), *range(10 * SNAPSHOT_ROWS, 10 * SNAPSHOT_ROWS + APPENDED)}
        for ids, snapshots in results:
            counts = pc.value_counts(ids)
            assert set(counts.field("counts").to_pylist()) == {1}  # none twice
            assert set(counts.field("values").to_pylist()) == expected  # none lost
            assert len(snapshots) == 1
        alive = [r for r in replicas if r is not victim]
        wait_for(lambda: sorted(r.connectors() for r in alive) == [1, 1], 60, "the connector to re-home")
        # Browsers whose socket, or whose subscription's tunnel, was on the dead replica resumed.
        assert sum(r.proc.text().count("subscription resumed tenant=acme") for r in alive) >= 1
    finally:
        proxy.stop()
