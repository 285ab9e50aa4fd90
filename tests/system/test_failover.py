"""Losing a gateway replica mid-query, with real processes: 3 replicas behind HAProxy on
one Redis, a connector holding tunnels to two of them, several browsers reading a
dataset far larger than every buffer on the path. One replica holding a tunnel is
killed (SIGKILL) or stopped (SIGTERM) while every query is mid-stream (the browsers stop reading until it is dead,
so no query can finish first, however fast the machine): the connector re-homes, and
every query completes through resumption with each row exactly once."""

from __future__ import annotations

import asyncio
import signal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from saeta.client import AsyncClient

from tests.system.harness import BIG_COPIES, BIG_FILE_ROWS, BIG_ROWS, Deployment, big_dataset, wait_for
from tests.system.redis_server import RedisServer
from tests.system.replicas import HAProxy, start_connector_on, start_replica

pytestmark = pytest.mark.system

BROWSERS = 3


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
def test_a_replica_lost_mid_query_loses_no_row_of_any_query(
    deployment: Deployment, redis_server: RedisServer, stop: signal.Signals
) -> None:
    """SIGKILL: the replica dies at once. SIGTERM: it drains (its sockets closed with
    1001, its tunnels closed, out of Redis first) and exits within 30 s; either way every
    query completes elsewhere."""
    deployment.start_control_plane(redis_url=redis_server.url)
    replicas = [start_replica(deployment, name, redis_server.url) for name in ("r1", "r2", "r3")]
    proxy = HAProxy(deployment.root / "haproxy", replicas)
    proxy.start()
    try:
        start_connector_on(deployment, "acme", {"big": big_dataset(deployment.root)}, proxy.tunnel_port, connections=2)
        wait_for(lambda: sum(r.connectors() for r in replicas) == 2, 60, "two tunnels")
        holders = [r for r in replicas if r.connectors() == 1]
        victim = holders[0]
        sessions = [deployment.session("acme", f"u{i}") for i in range(BROWSERS)]

        async def main() -> list[pa.ChunkedArray]:
            midway = [asyncio.Event() for _ in range(BROWSERS)]
            go = asyncio.Event()

            async def browse(i: int) -> pa.ChunkedArray:
                ids: list[pa.Array] = []
                async with await AsyncClient.connect(proxy.ws_url, sessions[i], resume=True) as client:
                    async for batch in client.stream("big"):
                        ids.append(batch.column("id"))
                        if not midway[i].is_set() and sum(len(a) for a in ids) >= BIG_FILE_ROWS:
                            midway[i].set()
                            await go.wait()  # read nothing more until the replica is dead
                return pa.chunked_array(ids, pa.int64())

            tasks = [asyncio.create_task(browse(i)) for i in range(BROWSERS)]
            await asyncio.wait_for(asyncio.gather(*(m.wait() for m in midway)), 120)
            victim.proc.popen.send_signal(stop)
            go.set()
            return await asyncio.wait_for(asyncio.gather(*tasks), 300)

        results = asyncio.run(main())
        assert victim.proc.popen.wait(timeout=30) == (0 if stop == signal.SIGTERM else -signal.SIGKILL)
        for ids in results:
            assert len(ids) == BIG_ROWS
            counts = pc.value_counts(ids)
            assert len(counts) == BIG_FILE_ROWS
            assert set(counts.field("counts").to_pylist()) == {BIG_COPIES}  # each row once per partition
        # The connector re-homed: two tunnels again, on the two replicas left.
        alive = [r for r in replicas if r is not victim]
        wait_for(lambda: sorted(r.connectors() for r in alive) == [1, 1], 60, "the connector to re-home")
        # At least the browser whose socket was on the dead replica resumed elsewhere.
        assert sum(r.proc.text().count("query resumed tenant=acme") for r in alive) >= 1
    finally:
        proxy.stop()
