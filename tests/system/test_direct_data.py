"""Direct data (docs/scaling.md), with real processes: a query or subscription forwarded
to the replica holding the tenant's tunnel has its bytes sent by the connector straight
to the replica that asked (replica.data_address), the holder keeping only the control;
when the connector cannot send direct (direct_data: false, or the address does not
answer from where it runs) the same queries are relayed through the holder, nothing lost.

Which way the bytes went is read off a TCP proxy the asking replica's peer calls to the
holder pass through: the data (tens of MB) crosses it relayed, never direct.

Compressed tunnels (docs/tunnel.md, "Compression") take both ways too: the holder asks its
connector for the codec its tunnel negotiated and relays those batches as they came, for
the asking replica to decode with the query's schema (the holder has none)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from saeta.client import AsyncClient

from tests.system.harness import Deployment, free_port, wait_for
from tests.system.redis_server import RedisServer
from tests.system.replicas import (
    Replica,
    forwarding_datasets,
    limited_missing_and_followed,
    start_connector_on,
    start_replica,
)
from tests.system.tcp_proxy import TcpProxy
from tests.system.test_tunnel_compression import bytes_sent

pytestmark = pytest.mark.system

ROWS = 200_000
COPIES = 4  # partitions of the dataset: more than max_calls_per_tenant below
# The connector's compression: none (a loopback round trip decides nothing, on any
# machine), or zstd whatever the round trip.
OFF: dict[str, Any] = {"compression": "off"}
COMPRESSED: dict[str, Any] = {"compression": "zstd"}


def _datasets(root: Path) -> dict[str, Any]:
    return forwarding_datasets(root, ROWS, COPIES, seed=7)


def _cluster(
    dep: Deployment, redis: RedisServer, data_address: str, perf: dict[str, Any] = OFF, **connector: Any
) -> tuple[Replica, TcpProxy, Path]:
    """Asker a (data_port, ``data_address``: "direct" for its own) and holder b, whose
    peer calls pass through the returned proxy; the connector's one tunnel on b, with
    ``perf`` in its performance section."""
    dep.start_control_plane(redis_url=redis.url)
    b_port = free_port()
    proxy = TcpProxy(("127.0.0.1", b_port)).start()
    limits = {"limits": {"max_calls_per_tenant": 2}}
    a = start_replica(dep, "a", redis.url, data_port=free_port(), data_address=data_address, **limits)
    b = start_replica(dep, "b", redis.url, grpc_port=b_port, peer_address=f"127.0.0.1:{proxy.port}", **limits)
    start_connector_on(dep, "acme", _datasets(dep.root), b.grpc_port, perf, connections=1, **connector)
    wait_for(lambda: b.connectors() == 1, 30, "the connector on b")
    wait_for(lambda: redis.client().zcard("saeta:holders:acme") == 1, 30, "b's presence for acme")
    return a, proxy, dep.root / "data" / "ventas.parquet"


@pytest.fixture
def proxies() -> Iterator[list[TcpProxy]]:
    made: list[TcpProxy] = []
    yield made
    for proxy in made:
        proxy.stop()


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names])


async def _forwarded_reads(a: Replica, dep: Deployment, source: Path) -> int:
    """Queries (whole, limited, cancelled, a missing dataset) and a subscription on ``a``,
    each checked against a direct read; returns the Arrow bytes the whole query held."""
    expected = pa.concat_tables([pq.read_table(source)] * COPIES)
    # Resumable: the queries carry checkpoints, the subscription the connector's resume
    # points, which come on the direct data call like its data.
    async with await AsyncClient.connect(a.ws_url, dep.session("acme"), resume=True) as client:
        table = await client.query("ventas")
        assert _sorted(table).equals(_sorted(expected))
        # Stopped mid-stream (the first batch of 4 x 200,000 rows), three times over: the
        # holder's two call slots are given back each time, or the last query would wait.
        for n in range(3):
            async for _ in client.stream("ventas", query_id=f"c{n}"):
                break
        await limited_missing_and_followed(client, dep.root / "data" / "log.csv")
        assert _sorted(await client.query("ventas")).equals(_sorted(expected))
    return int(expected.nbytes)


def test_forwarded_data_goes_straight_to_the_asking_replica(
    deployment: Deployment, redis_server: RedisServer, proxies: list[TcpProxy]
) -> None:
    a, proxy, source = _cluster(deployment, redis_server, "direct")
    proxies.append(proxy)
    nbytes = asyncio.run(_forwarded_reads(a, deployment, source))
    # Two whole queries of ~nbytes each went to a; the peer link carried control only.
    assert proxy.accepted >= 1
    assert proxy.forwarded < nbytes / 20, (proxy.forwarded, nbytes)
    assert "DIRECT_DATA_UNAVAILABLE" not in a.proc.text()


@pytest.mark.parametrize("way", ["connector refuses", "address unreachable"])
def test_without_direct_data_the_holder_relays_and_nothing_is_lost(
    deployment: Deployment, redis_server: RedisServer, proxies: list[TcpProxy], way: str
) -> None:
    if way == "connector refuses":
        a, proxy, source = _cluster(deployment, redis_server, "direct", direct_data=False)
    else:  # a's data_address names a port nothing listens on
        a, proxy, source = _cluster(deployment, redis_server, f"127.0.0.1:{free_port()}")
    proxies.append(proxy)
    nbytes = asyncio.run(_forwarded_reads(a, deployment, source))
    # Two whole queries crossed it (plus the three cut short): well over one query's bytes.
    assert proxy.forwarded > 1.5 * nbytes, (proxy.forwarded, nbytes)
    assert "code=DIRECT_DATA_UNAVAILABLE tenant=acme holder=b" in a.proc.text()


@pytest.mark.parametrize("way", ["direct", "relayed"])
def test_compressed_batches_reach_the_asking_replica_either_way(
    deployment: Deployment, redis_server: RedisServer, proxies: list[TcpProxy], way: str
) -> None:
    address = "direct" if way == "direct" else f"127.0.0.1:{free_port()}"  # relayed: a's port is dead
    a, proxy, source = _cluster(deployment, redis_server, address, COMPRESSED)
    proxies.append(proxy)
    nbytes = asyncio.run(_forwarded_reads(a, deployment, source))
    # Two whole queries left the connector compressed: uncompressed they are over 2 x nbytes
    # (ventas takes zstd to about a third).
    sent = bytes_sent(deployment, "acme")
    assert 0 < sent < nbytes, (sent, nbytes)
    # Every whole partition counted sent, though a direct call's Fetch is cancelled once
    # its end arrives (the holder then cancels the connector's request).
    log = next(p for p in deployment.procs if p.name == "connector-acme").text()
    assert len(re.findall(rf"partition \d+: {ROWS} rows", log)) >= 2 * COPIES
    if way == "direct":
        assert proxy.forwarded < nbytes / 20, (proxy.forwarded, nbytes)
    else:  # the compressed batches crossed the peer link as they came
        assert nbytes / 5 < proxy.forwarded < 1.5 * nbytes, (proxy.forwarded, nbytes)
