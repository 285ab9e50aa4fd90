"""Redis Sentinel (docs/scaling.md): with ``redis_url: redis+sentinel://...``, the control
plane and two gateway replicas follow a failover of the Redis master by themselves. After
the master is SIGKILLed and the sentinel promotes its replica, a revocation still closes
the session's sockets on both replicas, new sessions are accepted, and a query is still
forwarded between replicas (presence rewritten on the new master)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from saeta.client import AsyncClient, ServerError

from tests.system.harness import Deployment, wait_for
from tests.system.replicas import revoked_close_codes, start_connector_on, start_replica
from tests.system.sentinel import SentinelSet

pytestmark = pytest.mark.system


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    group = SentinelSet(tmp_path / "sentinel")
    group.start()
    try:
        yield group
    finally:
        group.stop()


def test_a_sentinel_failover_is_followed_by_every_process(deployment: Deployment, sentinels: SentinelSet) -> None:
    dep = deployment
    data = dep.root / "data"
    data.mkdir()
    (data / "log.csv").write_text("id,nivel\n1,info\n2,error\n")
    dep.start_control_plane(redis_url=sentinels.url)
    # Answers cached 60 s: only the push through Redis can close a revoked socket in time.
    a = start_replica(dep, "a", sentinels.url, session_cache_seconds=60)
    b = start_replica(dep, "b", sentinels.url, session_cache_seconds=60)
    start_connector_on(dep, "acme", {"log": {"type": "csv", "path": "data/log.csv"}}, b.grpc_port, connections=1)
    wait_for(lambda: b.connectors() == 1, 30, "the connector on b")
    session = dep.session("acme")

    async def forwarded_rows() -> int:
        """The rows of a query forwarded from a to b; -1 while it is refused (during the
        failover presence may be unreadable, or lapsed until the next refresh)."""
        async with await AsyncClient.connect(a.ws_url, dep.session("acme")) as client:
            try:
                return (await client.query("log")).num_rows
            except ServerError:
                return -1

    wait_for(lambda: asyncio.run(forwarded_rows()) == 2, 30, "a forwarded query")
    old = sentinels.kill_master()
    wait_for(lambda: sentinels.master_port() not in (None, old), 60, "the sentinel to promote the replica")

    # Forwarding works again through the new master (presence read there, on a new
    # session: new sessions are accepted), both replicas are ready, and a revocation
    # pushed through it closes the session's sockets on both.
    wait_for(lambda: asyncio.run(forwarded_rows()) == 2, 60, "a forwarded query after the failover")
    wait_for(lambda: a.readyz().get("ready") is True and b.readyz().get("ready") is True, 60, "ready again")
    assert asyncio.run(revoked_close_codes(dep, session, [a, b])) == [4003, 4003]
