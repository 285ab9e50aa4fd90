"""Several gateway replicas on one Redis (docs/scaling.md), with real processes: a query,
a list and a subscription on a replica that holds no tunnel for the tenant are forwarded
to one that does, equal to a direct read; peer calls take only a replica's certificate;
a connector holds tunnels to distinct replicas behind HAProxy; presence that points at a
replica that is gone ends a query with CONNECTOR_OFFLINE, never a hang."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from saeta import certs
from saeta.client import AsyncClient, ServerError, SocketClosed
from saeta.v1 import peer_pb2 as peer
from saeta.v1 import tunnel_pb2 as pb

from tests.system.harness import Deployment, wait_for
from tests.system.redis_server import RedisServer
from tests.system.replicas import (
    HAProxy,
    Replica,
    forwarding_datasets,
    limited_missing_and_followed,
    revoked_close_codes,
    start_connector_on,
    start_replica,
)

pytestmark = pytest.mark.system

ROWS = 300_000


def _datasets(root: Path) -> dict[str, Any]:
    return forwarding_datasets(root, ROWS, 3, seed=5)


@pytest.fixture
def two(deployment: Deployment, redis_server: RedisServer) -> tuple[Deployment, Replica, Replica]:
    """Replicas a and b; the connector's one tunnel on b. Control-plane answers are cached
    60 s: a socket closed for a revocation within the tests' bounds was closed by the push."""
    deployment.start_control_plane(redis_url=redis_server.url)
    a = start_replica(deployment, "a", redis_server.url, session_cache_seconds=60)
    b = start_replica(deployment, "b", redis_server.url, session_cache_seconds=60)
    start_connector_on(deployment, "acme", _datasets(deployment.root), b.grpc_port, connections=1)
    wait_for(lambda: b.connectors() == 1, 30, "the connector on b")
    wait_for(lambda: redis_server.client().zcard("saeta:holders:acme") == 1, 30, "b's presence for acme")
    return deployment, a, b


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names])


def test_query_list_and_subscribe_are_forwarded_to_the_replica_holding_the_tunnel(
    two: tuple[Deployment, Replica, Replica],
) -> None:
    dep, a, _ = two
    expected = pa.concat_tables([pq.read_table(dep.root / "data" / "ventas.parquet")] * 3)
    assert a.connectors() == 0

    async def main() -> None:
        async with await AsyncClient.connect(a.ws_url, dep.session("acme")) as client:
            assert [d["name"] for d in await client.list()] == ["log", "ventas"]
            table = await client.query("ventas")
            assert table.num_rows == 3 * ROWS
            assert _sorted(table).equals(_sorted(expected))
            # An aggregate goes the same way (the Describe carries it, the ticket names it).
            by_region = {"group_by": ["region"], "measures": [{"op": "sum", "column": "cantidad"}]}
            summed = await client.query("ventas", aggregate=by_region)
            want = expected.group_by("region").aggregate([("cantidad", "sum")]).sort_by("region")
            assert summed.column("sum_cantidad").to_pylist() == want.column("cantidad_sum").to_pylist()
            await limited_missing_and_followed(client, dep.root / "data" / "log.csv")

    asyncio.run(main())


def _describe(port: int, credentials: grpc.ChannelCredentials) -> grpc.RpcError:
    ask = peer.PeerDescribe(tenant_id="acme", dataset="ventas", query=pb.Query(limit=-1)).SerializeToString()
    with grpc.secure_channel(
        f"127.0.0.1:{port}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    ) as ch:
        call = ch.unary_unary("/saeta.v1.Peer/Describe", request_serializer=None, response_deserializer=None)
        try:
            call(ask, timeout=10)
        except grpc.RpcError as exc:
            return exc
    raise AssertionError("the peer call was answered")


def test_peer_calls_refuse_anything_but_a_replica_certificate(
    two: tuple[Deployment, Replica, Replica], tmp_path: Path
) -> None:
    dep, _, b = two
    ca = (dep.certs / "ca.crt").read_bytes()
    client = dep.certs / "clients" / "acme"
    as_connector = grpc.ssl_channel_credentials(
        ca, (client / "client.key").read_bytes(), (client / "client.crt").read_bytes()
    )
    refused = _describe(b.grpc_port, as_connector)
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "PEER_REFUSED" in (refused.details() or "")
    no_cert = _describe(b.grpc_port, grpc.ssl_channel_credentials(ca))
    assert no_cert.code() == grpc.StatusCode.UNAVAILABLE
    other = tmp_path / "other-ca"
    certs.init_ca(other)
    stranger = certs.issue_replica(other, "a")
    other_ca = grpc.ssl_channel_credentials(ca, stranger.key.read_bytes(), stranger.cert.read_bytes())
    assert _describe(b.grpc_port, other_ca).code() == grpc.StatusCode.UNAVAILABLE
    replica = dep.certs / "replicas" / "a"
    as_replica = grpc.ssl_channel_credentials(
        ca, (replica / "replica.key").read_bytes(), (replica / "replica.crt").read_bytes()
    )
    # The same call with a replica's certificate gets past the door (here: a malformed
    # query's answer, not a refusal of the caller).
    with grpc.secure_channel(
        f"127.0.0.1:{b.grpc_port}", as_replica, options=[("grpc.ssl_target_name_override", "localhost")]
    ) as ch:
        call = ch.unary_unary(
            "/saeta.v1.Peer/Datasets", request_serializer=None, response_deserializer=peer.PeerDatasetList.FromString
        )
        assert sorted(call(peer.PeerDatasets(tenant_id="acme").SerializeToString(), timeout=10).datasets) == [
            "log",
            "ventas",
        ]
    assert b.proc.text().count("code=PEER_REFUSED") == 1  # the connector's; the others failed at TLS


def test_a_replica_certificate_cannot_register_a_tunnel(two: tuple[Deployment, Replica, Replica]) -> None:
    dep, a, _ = two
    cfg_path = dep.connector_config("a", {"log": {"type": "csv", "path": "data/log.csv"}}, via_port=a.grpc_port)
    cfg = json.loads(cfg_path.read_text())
    cfg["mtls"]["client_cert"] = "certs/replicas/a/replica.crt"
    cfg["mtls"]["client_key"] = "certs/replicas/a/replica.key"
    cfg_path.write_text(json.dumps(cfg))
    conn = dep.spawn("connector-as-replica", "connector", "run", "--config", str(cfg_path))
    wait_for(lambda: "CERT_USAGE" in a.proc.text(), 30, "the refusal")
    # The connector logs the reason (it dials again, and each refusal says why; grpc may
    # give a first attempt's abort as INTERNAL while the registration is still being sent).
    reason = "a gateway replica's certificate cannot register a tunnel"
    wait_for(lambda: reason in conn.text(), 30, "the connector to log the reason")
    assert a.connectors() == 0


def test_presence_of_a_killed_replica_ends_the_query_with_connector_offline(
    two: tuple[Deployment, Replica, Replica],
) -> None:
    dep, a, b = two
    b.proc.stop(signal.SIGKILL)

    async def main() -> None:
        async with await AsyncClient.connect(a.ws_url, dep.session("acme")) as client:
            started = time.monotonic()
            with pytest.raises(ServerError) as offline:
                await client.query("ventas")
            # Not TIMEOUT (20 s here): the dead replica's entry costs one refused call.
            assert offline.value.code == "CONNECTOR_OFFLINE", offline.value
            assert time.monotonic() - started < 20

    asyncio.run(main())


def test_a_lookup_kept_from_before_a_connector_moved_costs_no_query(
    deployment: Deployment, redis_server: RedisServer
) -> None:
    """Replica a keeps a tenant's holders as long as presence may go unrefreshed (here
    200 s, so far past this test: the kept lookup is what the second query starts from).
    The connector moves from b to c in between: the query finds b without it, asks Redis
    again at once, and is served by c."""
    dep = deployment
    dep.start_control_plane(redis_url=redis_server.url)
    a, b, c = (start_replica(dep, name, redis_server.url, presence_seconds=600) for name in "abc")
    datasets = _datasets(dep.root)
    on_b = start_connector_on(dep, "acme", datasets, b.grpc_port, connections=1)
    wait_for(lambda: b.connectors() == 1, 30, "the connector on b")

    async def rows() -> int:
        async with await AsyncClient.connect(a.ws_url, dep.session("acme")) as client:
            return (await client.query("ventas", ["id"], limit=5000)).num_rows

    assert asyncio.run(rows()) == 5000  # a now keeps [b]
    on_b.stop()
    wait_for(lambda: b.connectors() == 0, 30, "the connector gone from b")
    start_connector_on(dep, "acme", datasets, c.grpc_port, connections=1)
    wait_for(lambda: c.connectors() == 1, 30, "the connector on c")
    wait_for(lambda: redis_server.client().zrange("saeta:holders:acme", 0, -1) == [b"c"], 30, "c's presence")
    assert asyncio.run(rows()) == 5000
    assert "peer b cannot serve tenant=acme" in a.proc.text()  # the kept lookup was used


def test_a_connector_never_holds_two_tunnels_on_one_replica(two: tuple[Deployment, Replica, Replica]) -> None:
    """A connector asking for two tunnels but able to reach only replica a: its second
    registration names a as held already, a answers "already held", and a keeps one."""
    dep, a, _ = two
    start_connector_on(dep, "acme", _datasets(dep.root), a.grpc_port, connections=2)
    wait_for(lambda: a.connectors() == 1, 30, "the first tunnel on a")
    wait_for(lambda: a.proc.text().count("held here already") >= 2, 30, "two refused second tunnels")
    assert a.connectors() == 1
    assert "DUPLICATE_CERTIFICATE" not in a.proc.text()


def test_a_connector_holds_tunnels_to_distinct_replicas_behind_haproxy(
    deployment: Deployment, redis_server: RedisServer
) -> None:
    deployment.start_control_plane(redis_url=redis_server.url)
    replicas = [start_replica(deployment, name, redis_server.url) for name in ("r1", "r2", "r3")]
    proxy = HAProxy(deployment.root / "haproxy", replicas)
    proxy.start()
    try:
        start_connector_on(deployment, "acme", _datasets(deployment.root), proxy.tunnel_port, connections=2)
        wait_for(lambda: sum(r.connectors() for r in replicas) == 2, 60, "two tunnels")
        assert sorted(r.connectors() for r in replicas) == [0, 1, 1]
        holders = {m.decode() for m in redis_server.client().zrange("saeta:holders:acme", 0, -1)}
        assert holders == {r.name for r in replicas if r.connectors() == 1}
        expected = pq.read_table(deployment.root / "data" / "ventas.parquet")

        async def main() -> None:
            # Through the balancer: whichever replica each socket lands on.
            for _ in range(3):
                async with await AsyncClient.connect(proxy.ws_url, deployment.session("acme")) as client:
                    table = await client.query("ventas", ordered=True)
                    assert table.num_rows == 3 * ROWS
                    assert table.slice(0, ROWS).equals(expected)

        asyncio.run(main())
    finally:
        proxy.stop()


def test_a_revocation_closes_the_sessions_sockets_on_every_replica(
    two: tuple[Deployment, Replica, Replica],
) -> None:
    dep, a, b = two
    assert asyncio.run(revoked_close_codes(dep, dep.session("acme"), [a, b])) == [4003, 4003]


async def _list_outcome(url: str, session: str) -> str | int:
    """ "ok", the error code of a list, or the socket's close code."""
    try:
        async with await AsyncClient.connect(url, session) as client:
            await client.list()
            return "ok"
    except ServerError as err:
        return err.code
    except SocketClosed as closed:
        return closed.close_code or 0


def test_without_redis_local_tunnels_serve_forwarding_stops_new_sessions_wait_then_all_recovers(
    two: tuple[Deployment, Replica, Replica], redis_server: RedisServer
) -> None:
    dep, a, b = two

    async def main() -> None:
        on_a = await AsyncClient.connect(a.ws_url, dep.session("acme"))
        on_b = await AsyncClient.connect(b.ws_url, dep.session("acme"))
        try:
            assert redis_server.proc is not None
            redis_server.proc.send_signal(signal.SIGKILL)
            redis_server.proc.wait(10)
            # Sockets already open: b's local tunnel serves; a cannot learn where it is.
            assert (await on_b.query("ventas", ["id"], limit=5000)).num_rows == 5000
            with pytest.raises(ServerError) as lost:
                await on_a.query("ventas", ["id"], limit=5000)
            assert lost.value.code == "CONNECTOR_OFFLINE" and "Redis" in lost.value.message
        finally:
            await on_a.close()
            await on_b.close()

    async def forwarded() -> int:
        async with await AsyncClient.connect(a.ws_url, dep.session("acme")) as client:
            return (await client.query("ventas", ["id"], limit=5000)).num_rows

    asyncio.run(main())
    # Past revocation.stale_seconds (10): new sessions are refused, 1013, on both.
    wait_for(lambda: a.readyz().get("ready") is False and b.readyz().get("ready") is False, 60, "not ready")
    assert asyncio.run(_list_outcome(a.ws_url, dep.session("acme"))) == 1013
    redis_server.start()  # the same port, empty: every entry is written again by its replica
    wait_for(lambda: asyncio.run(_list_outcome(a.ws_url, dep.session("acme"))) == "ok", 60, "recovery")
    assert asyncio.run(forwarded()) == 5000


def test_a_tenant_quota_holds_over_all_replicas(deployment: Deployment, redis_server: RedisServer) -> None:
    """queries_per_minute_per_tenant: 4 over two replicas: each applies its share (2), so
    the tenant gets 4 queries a minute in all, wherever its sockets land."""
    dep = deployment
    dep.start_control_plane(redis_url=redis_server.url)
    quota = {"quotas": {"queries_per_minute_per_tenant": 4}}
    a = start_replica(dep, "a", redis_server.url, **quota)
    b = start_replica(dep, "b", redis_server.url, **quota)
    start_connector_on(dep, "acme", _datasets(dep.root), b.grpc_port, connections=1)
    wait_for(lambda: a.readyz().get("replica", {}).get("replicas_live") == 2, 30, "a to count two replicas")
    wait_for(lambda: b.readyz().get("replica", {}).get("replicas_live") == 2, 30, "b to count two replicas")
    wait_for(lambda: b.connectors() == 1, 30, "the connector on b")

    async def outcomes(replica: Replica) -> list[str]:
        seen = []
        async with await AsyncClient.connect(replica.ws_url, dep.session("acme")) as client:
            for _ in range(3):
                try:
                    await client.query("log")
                    seen.append("ok")
                except ServerError as err:
                    seen.append(err.code)
        return seen

    assert asyncio.run(outcomes(a)) == ["ok", "ok", "QUOTA_EXCEEDED"]
    assert asyncio.run(outcomes(b)) == ["ok", "ok", "QUOTA_EXCEEDED"]
