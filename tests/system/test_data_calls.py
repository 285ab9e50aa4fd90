"""DoGet calls from connectors that misbehave, against both tunnel sides: the Rust data
plane (data_port) and grpcio's DoGet on grpc_port. A test-owned connector speaks the real
tunnel protocol with real certificates, and then does what an attacker would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import grpc.aio
import pyarrow as pa
import pytest
import saeta.client
from saeta import certs
from saeta.client import AsyncClient, ServerError
from saeta.core.tunnel_codec import encode_arrow_chunk
from saeta.v1 import tunnel_pb2 as pb

from benchmarks.procstat import peak_rss
from tests.system.harness import Deployment, http_json, wait_for

pytestmark = pytest.mark.system

DOGET = "/saeta.v1.Tunnel/DoGet"
SCHEMA = pa.schema([("x", pa.int64())])
# Where DoGet is served: the Rust data plane; grpcio with the Rust relay; grpcio with the
# pure-Python relay twin (relay: python), end to end.
PLANES = ["data-plane", "grpcio", "python-twin"]


def credentials(dep: Deployment, tenant: str | None) -> grpc.ChannelCredentials:
    root = (dep.certs / "ca.crt").read_bytes()
    if tenant is None:
        return grpc.ssl_channel_credentials(root_certificates=root)
    if not (dep.certs / "clients" / tenant / "client.crt").exists():
        certs.issue_client(dep.certs, tenant)
    client = dep.certs / "clients" / tenant
    return grpc.ssl_channel_credentials(
        root_certificates=root,
        private_key=(client / "client.key").read_bytes(),
        certificate_chain=(client / "client.crt").read_bytes(),
    )


def channel(dep: Deployment, port: int, tenant: str | None, *options: tuple[str, Any]) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(
        f"127.0.0.1:{port}",
        credentials(dep, tenant),
        options=[("grpc.ssl_target_name_override", "localhost"), *options],
    )


async def doget(dep: Deployment, port: int, tenant: str | None, call_id: str | None, messages: list[bytes]) -> Any:
    """Runs one DoGet; returns the response or the grpc error."""

    async def requests() -> AsyncIterator[bytes]:
        for message in messages:
            yield message

    async with channel(dep, port, tenant) as ch:
        call = ch.stream_unary(DOGET, request_serializer=None, response_deserializer=None)
        metadata = (("saeta-call-id", call_id),) if call_id is not None else ()
        try:
            return await asyncio.wait_for(call(requests(), metadata=metadata), 20)
        except grpc.aio.AioRpcError as exc:
            return exc


@pytest.fixture(params=PLANES)
def gateway(deployment: Deployment, request: pytest.FixtureRequest) -> Iterator[tuple[Deployment, int]]:
    """A gateway and the port its DoGet calls go to."""
    deployment.start_control_plane()
    if request.param in ("grpcio", "python-twin"):
        extra = {"relay": "python"} if request.param == "python-twin" else {}
        gateway = deployment.start_gateway(data_port=None, **extra)
        want = "relay=python" if extra else "relay=rust"
        assert want in gateway.text()
        yield deployment, deployment.grpc_port
    else:
        deployment.start_gateway()
        yield deployment, deployment.data_port


class HostileConnector:
    """Registers as ``tenant`` over Control (claiming to be ``version``), answers FlightInfo
    with one partition (or with a QueryError saying ``refusal``), and queues each
    DoGetRequest in ``do_gets``. With ``starts_first`` it opens the plan's first call
    itself (GetFlightInfoRequest.first_call, queued in ``do_gets`` too); ``asked`` counts
    the DoGetRequests that came down Control, ``first_calls`` the first calls offered."""

    def __init__(
        self,
        dep: Deployment,
        tenant: str,
        schema: pa.Schema = SCHEMA,
        version: str = "",
        refusal: str | None = None,
        partitions: int = 1,
        compression: tuple[str, ...] = (),
        starts_first: bool = False,
    ) -> None:
        self.dep, self.tenant, self.schema = dep, tenant, schema
        self.starts_first, self.asked, self.first_calls = starts_first, 0, 0
        self.version, self.refusal, self.partitions = version, refusal, partitions
        self.compression = compression  # what its RegisterRequest offers
        self.outbox: asyncio.Queue[pb.ConnectorMessage] = asyncio.Queue()
        self.do_gets: asyncio.Queue[pb.DoGetRequest] = asyncio.Queue()
        self.data_port = 0

    async def run(self, ready: asyncio.Event) -> None:
        async with channel(self.dep, self.dep.grpc_port, self.tenant) as ch:
            control = ch.stream_stream(
                "/saeta.v1.Tunnel/Control",
                request_serializer=pb.ConnectorMessage.SerializeToString,
                response_deserializer=pb.GatewayMessage.FromString,
            )

            async def outgoing() -> AsyncIterator[pb.ConnectorMessage]:
                yield pb.ConnectorMessage(
                    register=pb.RegisterRequest(
                        tenant_id=self.tenant,
                        datasets=["d"],
                        protocol_version=1,
                        version=self.version,
                        compression=self.compression,
                    )
                )
                while True:
                    yield await self.outbox.get()

            call = control(outgoing())
            async for msg in call:
                kind = msg.WhichOneof("msg")
                if kind == "registered":
                    self.data_port = msg.registered.data_port
                    ready.set()
                elif kind == "get_flight_info" and self.refusal is not None:
                    request_id = msg.get_flight_info.request_id
                    error = pb.QueryError(request_id=request_id, code="QUERY_FAILED", message=self.refusal)
                    await self.outbox.put(pb.ConnectorMessage(error=error))
                elif kind == "get_flight_info":
                    ask = msg.get_flight_info
                    self.first_calls += ask.HasField("first_call")
                    start = self.starts_first and ask.HasField("first_call")
                    await self.outbox.put(
                        pb.ConnectorMessage(
                            flight_info=pb.FlightInfoResponse(
                                request_id=ask.request_id,
                                schema=self.schema.serialize().to_pybytes(),
                                partitions=[pb.Partition(ticket="t", records=-1)] * self.partitions,
                                total_records=-1,
                                first_call_started=start,
                            )
                        )
                    )
                    if start:
                        await self.do_gets.put(ask.first_call)
                elif kind == "do_get":
                    self.asked += 1
                    await self.do_gets.put(msg.do_get)
                elif kind == "heartbeat":
                    await self.outbox.put(pb.ConnectorMessage(heartbeat=pb.Heartbeat()))


async def query_with(
    dep: Deployment,
    act: Any,
    schema: pa.Schema = SCHEMA,
    data_frames: list[int] | None = None,
    compression: tuple[str, ...] = (),
    client_decodes: bool = False,
) -> tuple[ServerError | pa.Table, Any]:
    """Starts a hostile acme connector, runs a browser query on it, and lets ``act`` play
    the connector's part of the DoGet; returns the browser's table or error, and act's
    result. ``data_frames`` gets the number of binary frames the browser received after
    the schema's: whatever the client then made of them. The client names no codecs, as
    the dashboard, unless it ``client_decodes`` (the Python client's default: compressed
    batches then pass through)."""
    if not client_decodes:
        monkeypatch = pytest.MonkeyPatch()
        monkeypatch.setattr(saeta.client, "BODY_CODECS", [])
        try:
            return await query_with(dep, act, schema, data_frames, compression, client_decodes=True)
        finally:
            monkeypatch.undo()
    hostile = HostileConnector(dep, "acme", schema, compression=compression)
    ready = asyncio.Event()
    runner = asyncio.create_task(hostile.run(ready))
    try:
        await asyncio.wait_for(ready.wait(), 20)
        async with await AsyncClient.connect(dep.ws_url, dep.session("acme")) as client:
            frames = [0]
            on_binary = client._on_binary

            def counting(frame: bytes) -> None:
                frames[0] += 1
                on_binary(frame)

            client._on_binary = counting  # type: ignore[method-assign]
            query = asyncio.create_task(client.query("d"))
            request = await asyncio.wait_for(hostile.do_gets.get(), 20)
            port = hostile.data_port or dep.grpc_port
            outcome = await act(port, request)
            try:
                return await asyncio.wait_for(query, 20), outcome
            except ServerError as err:
                return err, outcome
            finally:
                if data_frames is not None:
                    data_frames.append(frames[0] - 1)  # the first is the schema's
    finally:
        runner.cancel()


async def _refused_query(
    dep: Deployment, query_args: dict[str, Any] | None = None, **hostile_args: Any
) -> tuple[ServerError, int]:
    """A browser query (``query_args``) of a HostileConnector(``hostile_args``) that must
    fail: its error, and how many DoGets the gateway asked for."""
    hostile = HostileConnector(dep, "acme", **hostile_args)
    ready = asyncio.Event()
    runner = asyncio.create_task(hostile.run(ready))
    try:
        await asyncio.wait_for(ready.wait(), 20)
        async with await AsyncClient.connect(dep.ws_url, dep.session("acme")) as client:
            with pytest.raises(ServerError) as err:
                await client.query("d", **(query_args or {}))
            return err.value, hostile.do_gets.qsize()
    finally:
        runner.cancel()


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"partitions": 10_001}, "10001 partitions (at most 10000)"),
        ({"schema": pa.schema([(f"c{i}", pa.int8()) for i in range(5000)])}, "5000 columns (at most 4096)"),
        ({"schema": pa.schema([("c" * 600_000, pa.int8())])}, "exceed 524288 characters"),
    ],
)
def test_a_connectors_answer_is_bounded_before_the_gateway_works_on_it(
    gateway: tuple[Deployment, int], kwargs: dict[str, Any], problem: str
) -> None:
    """Partitions a query answer may list, and columns (and their text) a schema may hold:
    past them the query fails at once, no partition is fetched, no info frame is sent."""
    dep, _ = gateway
    err, do_gets = asyncio.run(_refused_query(dep, **kwargs))
    assert err.code == "QUERY_FAILED" and problem in err.message, err.message
    assert do_gets == 0


def test_a_connector_that_answers_an_aggregate_with_plain_rows_is_refused(gateway: tuple[Deployment, int]) -> None:
    """A connector of before aggregates ignores Query.aggregate and would send the
    dataset's rows: without FlightInfoResponse.aggregated, the query fails before any
    partition is fetched, and the browser never takes rows for an aggregate."""
    dep, _ = gateway
    counted = {"aggregate": {"measures": [{"op": "count"}]}}
    err, do_gets = asyncio.run(_refused_query(dep, counted))
    assert err.code == "QUERY_FAILED" and "does not run aggregates" in err.message, err.message
    assert do_gets == 0


def test_text_from_a_connector_cannot_forge_a_log_line(gateway: tuple[Deployment, int]) -> None:
    """Newlines and terminal escapes in a connector's version and in its error messages
    reach the gateway's text log escaped, inside the one line that quotes them."""
    dep, _ = gateway
    forged = "\n2026-12-01 00:00:00,000 gateway WARNING saeta.gateway: FORGED \x1b[2J\r"

    err, _ = asyncio.run(_refused_query(dep, version="1.0" + forged, refusal="no" + forged))
    assert err.code == "QUERY_FAILED"
    log = next(p for p in dep.procs if p.name == "gateway").text()
    assert "version=1.0\\x0a2026-12-01" in log and "no\\x0a2026-12-01" in log  # quoted, escaped
    assert not any(line.startswith("2026-12-01 00:00:00,000") for line in log.splitlines())
    assert "\x1b" not in log and "\r" not in log


def test_unknown_or_missing_call_id_is_not_found(gateway: tuple[Deployment, int]) -> None:
    dep, port = gateway
    for call_id in ("0" * 32, None, "x" * 500):
        err = asyncio.run(doget(dep, port, "acme", call_id, [b""]))
        assert isinstance(err, grpc.aio.AioRpcError), call_id
        assert err.code() == grpc.StatusCode.NOT_FOUND, (call_id, err)
    # Both sides put a well-formed unknown id to the same check, which logs the refusal.
    wait_for(lambda: "code=UNKNOWN_CALL" in dep.procs[1].text(), 10, "the refusal in the log")


def test_a_call_id_used_by_another_tenant_is_refused_and_fails_the_query(gateway: tuple[Deployment, int]) -> None:
    dep, _ = gateway

    async def steal(port: int, request: pb.DoGetRequest) -> Any:
        return await doget(dep, port, "globex", request.call_id, [b""])

    err, stolen = asyncio.run(query_with(dep, steal))
    assert isinstance(stolen, grpc.aio.AioRpcError)
    assert stolen.code() == grpc.StatusCode.PERMISSION_DENIED
    assert isinstance(err, ServerError) and err.code == "QUERY_FAILED"
    assert "code=CALL_TENANT_MISMATCH tenant=globex" in dep.procs[1].text()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xff\xff\xff\xff\x10\x00\x00\x00" + b"\0" * 8, "IPC_FRAMING_INVALID"),
        (b"\x01\x02\x03", "IPC_FRAMING_INVALID"),
        (SCHEMA.serialize().to_pybytes(), "IPC_SEQUENCE_INVALID"),
    ],
)
def test_invalid_arrow_never_reaches_the_browser(gateway: tuple[Deployment, int], payload: bytes, code: str) -> None:
    dep, _ = gateway

    async def send_garbage(port: int, request: pb.DoGetRequest) -> Any:
        return await doget(dep, port, "acme", request.call_id, [encode_arrow_chunk([payload])])

    relayed: list[int] = []
    err, answer = asyncio.run(query_with(dep, send_garbage, data_frames=relayed))
    assert relayed == [0]  # not one frame of it reached the browser
    assert isinstance(err, ServerError) and err.code == "QUERY_FAILED"
    assert code in err.message
    assert isinstance(answer, grpc.aio.AioRpcError) and answer.code() == grpc.StatusCode.INVALID_ARGUMENT


TEXT = pa.schema([("s", pa.string())])


def _text_batch(offsets: list[int], data: bytes) -> bytes:
    """A string batch built from raw buffers: framing and ``validate()`` accept it."""
    arr = pa.Array.from_buffers(
        pa.string(),
        len(offsets) - 1,
        [None, pa.py_buffer(pa.array(offsets, pa.int32()).buffers()[1]), pa.py_buffer(data)],
    )
    batch = pa.record_batch([arr], schema=TEXT)
    batch.validate()
    return batch.serialize().to_pybytes()


@pytest.mark.parametrize(
    "payload",
    [
        _text_batch([0, 2, 4], b"ok\xff\xfe"),  # not UTF-8
        _text_batch([0, 3, 1, 4], b"abcd"),  # offsets that go back
    ],
    ids=["invalid-utf8", "decreasing-offsets"],
)
def test_data_that_only_full_validation_catches_never_reaches_the_browser(
    gateway: tuple[Deployment, int], payload: bytes
) -> None:
    dep, _ = gateway

    async def send(port: int, request: pb.DoGetRequest) -> Any:
        return await doget(dep, port, "acme", request.call_id, [encode_arrow_chunk([payload])])

    relayed: list[int] = []
    err, answer = asyncio.run(query_with(dep, send, TEXT, relayed))
    assert relayed == [0]
    assert isinstance(err, ServerError) and err.code == "QUERY_FAILED"
    assert "FULL_VALIDATION" in err.message
    assert isinstance(answer, grpc.aio.AioRpcError) and answer.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "code=FULL_VALIDATION tenant=acme" in dep.procs[1].text()


def test_an_oversized_data_message_ends_that_call_only(gateway: tuple[Deployment, int]) -> None:
    """A DoGet message over limits.max_message_bytes (16 MiB): that call ends with
    RESOURCE_EXHAUSTED and the query fails, on each DoGet server; the tunnel stays."""
    dep, _ = gateway
    oversized = encode_arrow_chunk([b"\x00" * (17 * 1024 * 1024)])

    async def send(port: int, request: pb.DoGetRequest) -> Any:
        return await doget(dep, port, "acme", request.call_id, [oversized])

    relayed: list[int] = []
    err, answer = asyncio.run(query_with(dep, send, data_frames=relayed))
    assert isinstance(answer, grpc.aio.AioRpcError), answer
    assert answer.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, answer
    assert isinstance(err, ServerError) and relayed == [0]
    assert err.code == "QUERY_FAILED" and "limits.max_message_bytes" in err.message, err


def test_framing_only_validation_relays_what_the_full_check_refuses(deployment: Deployment) -> None:
    """``arrow_validation: framing`` (for connectors one trusts): the relay's framing check
    alone, so the invalid UTF-8 that the full check refuses above is relayed here; and a
    framing error is still refused. The premise of the full check, and the mode, tested."""
    deployment.start_control_plane()
    deployment.start_gateway(arrow_validation="framing")
    bad_text = _text_batch([0, 2, 4], b"ok\xff\xfe")

    async def send(port: int, request: pb.DoGetRequest) -> Any:
        end = pb.ArrowChunk(end=True, end_records=2).SerializeToString()
        return await doget(deployment, port, "acme", request.call_id, [encode_arrow_chunk([bad_text]), end])

    relayed: list[int] = []
    table, _ = asyncio.run(query_with(deployment, send, TEXT, relayed))
    assert isinstance(table, pa.Table) and table.num_rows == 2 and relayed == [2]  # the batch, then EOS

    async def send_garbage(port: int, request: pb.DoGetRequest) -> Any:
        return await doget(deployment, port, "acme", request.call_id, [encode_arrow_chunk([b"\xff" * 64])])

    err, _ = asyncio.run(query_with(deployment, send_garbage))
    assert isinstance(err, ServerError) and err.code == "QUERY_FAILED"


def test_a_well_behaved_call_is_relayed(gateway: tuple[Deployment, int]) -> None:
    dep, _ = gateway
    batch = pa.record_batch([pa.array(range(10), pa.int64())], schema=SCHEMA)

    async def serve(port: int, request: pb.DoGetRequest) -> Any:
        data = encode_arrow_chunk([batch.serialize()])
        end = pb.ArrowChunk(end=True, end_records=10).SerializeToString()
        return await doget(dep, port, "acme", request.call_id, [data, end])

    table, answer = asyncio.run(query_with(dep, serve))
    assert isinstance(table, pa.Table)
    assert table.column("x").to_pylist() == list(range(10))
    assert answer == b""  # DoGetSummary with default fields


@pytest.mark.parametrize("starts_first", [True, False], ids=["starts-first", "of-before-the-field"])
def test_the_first_call_is_asked_for_with_the_plan(gateway: tuple[Deployment, int], starts_first: bool) -> None:
    """docs/tunnel.md, "The first data call": a connector that opens it is sent no
    DoGetRequest for it; one that ignores it (of before the field) is asked as before."""
    dep, _ = gateway
    batch = pa.record_batch([pa.array(range(10), pa.int64())], schema=SCHEMA)

    async def run() -> tuple[pa.Table, HostileConnector]:
        hostile = HostileConnector(dep, "acme", starts_first=starts_first)
        ready = asyncio.Event()
        runner = asyncio.create_task(hostile.run(ready))
        try:
            await asyncio.wait_for(ready.wait(), 20)
            async with await AsyncClient.connect(dep.ws_url, dep.session("acme")) as client:
                query = asyncio.create_task(client.query("d"))
                request = await asyncio.wait_for(hostile.do_gets.get(), 20)
                assert request.call_id and request.limit == -1 and request.max_chunk_bytes > 0
                data = encode_arrow_chunk([batch.serialize()])
                end = pb.ArrowChunk(end=True, end_records=10).SerializeToString()
                await doget(dep, hostile.data_port or dep.grpc_port, "acme", request.call_id, [data, end])
                return await asyncio.wait_for(query, 20), hostile
        finally:
            runner.cancel()

    table, hostile = asyncio.run(run())
    assert table.column("x").to_pylist() == list(range(10))
    assert hostile.first_calls == 1
    assert hostile.asked == (0 if starts_first else 1)


def test_an_end_marker_with_an_empty_data_field_ends_the_call_on_every_server(gateway: tuple[Deployment, int]) -> None:
    """``0a 00 10 01 18 0a``: an empty data field, end, 10 records. Protobuf writers that
    emit empty fields send this; both DoGet servers take it as the end marker (the data
    plane did, grpcio refused it IPC_SEQUENCE_INVALID)."""
    dep, _ = gateway
    batch = pa.record_batch([pa.array(range(10), pa.int64())], schema=SCHEMA)

    async def serve(port: int, request: pb.DoGetRequest) -> Any:
        end = bytes.fromhex("0a001001180a")
        return await doget(dep, port, "acme", request.call_id, [encode_arrow_chunk([batch.serialize()]), end])

    table, answer = asyncio.run(query_with(dep, serve))
    assert isinstance(table, pa.Table), table
    assert table.column("x").to_pylist() == list(range(10))
    assert answer == b""


def test_data_plane_refuses_clients_without_a_certificate_and_other_methods(deployment: Deployment) -> None:
    deployment.start_control_plane()
    deployment.start_gateway()
    err = asyncio.run(doget(deployment, deployment.data_port, None, "0" * 32, [b""]))
    assert isinstance(err, grpc.aio.AioRpcError) and err.code() == grpc.StatusCode.UNAVAILABLE

    async def control() -> grpc.aio.AioRpcError:
        async with channel(deployment, deployment.data_port, "acme") as ch:
            call = ch.unary_unary("/saeta.v1.Tunnel/Control", request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await call(b"")
            return exc.value

    assert asyncio.run(control()).code() == grpc.StatusCode.UNIMPLEMENTED


def test_data_plane_refuses_a_revoked_certificate(deployment: Deployment) -> None:
    deployment.start_control_plane()
    deployment.start_gateway()
    certs.issue_client(deployment.certs, "acme")
    certs.revoke(deployment.certs, "acme")
    url = f"http://127.0.0.1:{deployment.http_port}/readyz"
    wait_for(lambda: http_json(url)["revoked_certificates"] >= 1, 10, "the gateway to load the CRL")
    err = asyncio.run(doget(deployment, deployment.data_port, "acme", "0" * 32, [b""]))
    assert isinstance(err, grpc.aio.AioRpcError)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "CERT_REVOKED" in (err.details() or "")


def test_registration_announces_the_data_port(deployment: Deployment) -> None:
    deployment.start_control_plane()
    deployment.start_gateway()
    hostile = HostileConnector(deployment, "acme")

    async def main() -> int:
        ready = asyncio.Event()
        runner = asyncio.create_task(hostile.run(ready))
        try:
            await asyncio.wait_for(ready.wait(), 20)
            return hostile.data_port
        finally:
            runner.cancel()

    assert asyncio.run(main()) == deployment.data_port


async def _control_with(dep: Deployment, tenant: str, raw: bytes, registered: bool) -> grpc.aio.AioRpcError | None:
    """Opens a Control call as ``tenant`` and sends ``raw``: as its first message, or
    after a valid registration."""

    async def requests() -> AsyncIterator[bytes]:
        if registered:
            reg = pb.RegisterRequest(tenant_id=tenant, datasets=["d"], protocol_version=1)
            yield pb.ConnectorMessage(register=reg).SerializeToString()
            await asyncio.sleep(0.5)
        yield raw
        await asyncio.sleep(30)

    async with channel(dep, dep.grpc_port, tenant) as ch:
        control = ch.stream_stream("/saeta.v1.Tunnel/Control", request_serializer=None, response_deserializer=None)
        call = control(requests())
        try:
            async for _ in call:
                pass
        except grpc.aio.AioRpcError as exc:
            return exc
    return None


@pytest.mark.parametrize(
    ("raw", "statuses"),
    [
        (b"\xff\xff\xff\xff\xff", {grpc.StatusCode.INVALID_ARGUMENT}),
        (b"\x0a\x05\x0a\x03ac", {grpc.StatusCode.INVALID_ARGUMENT}),  # truncated
        (b"\x22" + b"\xff" * 17 * 1024 * 1024, {grpc.StatusCode.RESOURCE_EXHAUSTED}),  # over 16 MiB
    ],
    ids=["garbage", "truncated", "oversized"],
)
@pytest.mark.parametrize("registered", [False, True], ids=["first", "after-register"])
def test_bad_control_messages_end_that_call_only(
    deployment: Deployment, raw: bytes, statuses: set[Any], registered: bool
) -> None:
    deployment.start_control_plane()
    gateway = deployment.start_gateway()
    data = deployment.root / "data"
    data.mkdir()
    (data / "x.csv").write_text("id\n1\n")
    deployment.start_connector("globex", {"x": {"type": "csv", "path": "data/x.csv"}})
    err = asyncio.run(_control_with(deployment, "acme", raw, registered))
    assert err is not None and err.code() in statuses, err
    # The gateway goes on, and so do other tenants' tunnels and queries.
    assert gateway.popen.poll() is None and deployment.connectors() == 1

    async def other() -> int:
        async with await AsyncClient.connect(deployment.ws_url, deployment.session("globex")) as client:
            return (await client.query("x")).num_rows

    assert asyncio.run(other()) == 1


def test_a_connector_that_floods_heartbeats_and_reads_nothing_is_dropped(deployment: Deployment) -> None:
    """Each heartbeat is answered on the Control call; a connector that never reads the
    answers fills the call's window, then the gateway's outbox for it, which is bounded:
    the tunnel is dropped (CONTROL_BACKLOG) instead of the gateway's memory growing."""
    deployment.start_control_plane()
    gateway = deployment.start_gateway()
    beat = pb.ConnectorMessage(heartbeat=pb.Heartbeat()).SerializeToString()
    sent = 0

    async def requests() -> AsyncIterator[bytes]:
        nonlocal sent
        reg = pb.RegisterRequest(tenant_id="acme", datasets=["d"], protocol_version=1)
        yield pb.ConnectorMessage(register=reg).SerializeToString()
        while sent < 200_000:  # far beyond the outbox (4,096) and the call's window (64 KiB)
            yield beat
            sent += 1

    async def main() -> None:
        # The receive window stays at its initial 64 KiB (no BDP probing): about 5,000
        # unread answers fill it, whatever the machine's speed.
        async with channel(deployment, deployment.grpc_port, "acme", ("grpc.http2.bdp_probe", 0)) as ch:
            control = ch.stream_stream("/saeta.v1.Tunnel/Control", request_serializer=None, response_deserializer=None)
            call = control(requests())  # never read: the answers pile up at the gateway
            await asyncio.to_thread(
                wait_for, lambda: "code=CONTROL_BACKLOG" in gateway.text(), 120, "the gateway to drop the tunnel"
            )
            call.cancel()

    with peak_rss({"gateway": gateway.popen.pid}) as rss:
        asyncio.run(main())
    grown = (rss["gateway"][1] - rss["gateway"][0]) / (1024 * 1024)
    print(f"\n{sent:,} heartbeats sent unread: tunnel dropped, gateway RSS +{grown:.1f} MiB at most")
    wait_for(lambda: deployment.connectors() == 0, 30, "the tunnel to be gone")
    assert grown < 64


async def _register(dep: Deployment, ch: grpc.aio.Channel) -> tuple[Any, str]:
    """Registers as acme on ``ch``; returns the call (kept open) and how it went: "ok", or
    the refusal's status and message."""
    reg = pb.ConnectorMessage(register=pb.RegisterRequest(tenant_id="acme", datasets=["d"], protocol_version=1))

    async def requests() -> AsyncIterator[pb.ConnectorMessage]:
        yield reg
        await asyncio.sleep(60)

    control = ch.stream_stream(
        "/saeta.v1.Tunnel/Control",
        request_serializer=pb.ConnectorMessage.SerializeToString,
        response_deserializer=pb.GatewayMessage.FromString,
    )
    call = control(requests())
    try:
        first = await asyncio.wait_for(call.read(), 20)
    except grpc.aio.AioRpcError as exc:
        return call, f"{exc.code().name} {exc.details()}"
    return call, "ok" if first.WhichOneof("msg") == "registered" else str(first)


@pytest.mark.parametrize("same_certificate", ["newest", "refuse"])
def test_a_second_tunnel_with_a_live_certificate_is_loud_or_refused(
    deployment: Deployment, same_certificate: str
) -> None:
    deployment.start_control_plane()
    gateway = deployment.start_gateway(tunnels={"same_certificate": same_certificate, "max_per_tenant": 2})

    async def main() -> list[str]:
        outcomes = []
        async with (
            channel(deployment, deployment.grpc_port, "acme") as a,
            channel(deployment, deployment.grpc_port, "acme") as b,
            channel(deployment, deployment.grpc_port, "acme") as c,
        ):
            calls = []
            for ch in (a, b, c):
                call, outcome = await _register(deployment, ch)
                calls.append(call)
                outcomes.append(outcome)
            for call in calls:
                call.cancel()
        return outcomes

    outcomes = asyncio.run(main())
    log = gateway.text()
    if same_certificate == "newest":
        # The second takes over, loudly; the third is past the tenant's bound of 2 tunnels.
        assert outcomes[:2] == ["ok", "ok"] and outcomes[2].startswith("RESOURCE_EXHAUSTED TOO_MANY_TUNNELS"), outcomes
        assert "WARNING saeta.gateway.tunnel: code=DUPLICATE_CERTIFICATE tenant=acme" in log
    else:
        assert outcomes[0] == "ok" and all(o.startswith("ALREADY_EXISTS CERT_IN_USE") for o in outcomes[1:]), outcomes
        assert "tunnel refused code=CERT_IN_USE tenant=acme" in log


# --- compressed record batches (docs/tunnel.md, "Compression")


def compressed_batch(batch: pa.RecordBatch, codec: str) -> bytes:
    """``batch`` as one encapsulated IPC message, its body compressed with ``codec``."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=pa.ipc.IpcWriteOptions(compression=codec)) as writer:
        writer.write_batch(batch)
    return bytes(list(pa.ipc.MessageReader.open_stream(sink.getvalue()))[1].serialize().to_pybytes())


def with_declared_length(message: bytes, declared: int) -> bytes:
    """``message`` (one int64 column without nulls) whose data buffer declares ``declared``
    bytes uncompressed: its i64 length prefix sits where the body starts."""
    raw = bytearray(message)
    at = len(raw) - pa.ipc.read_message(pa.py_buffer(message)).body.size
    raw[at : at + 8] = declared.to_bytes(8, "little", signed=True)
    return bytes(raw)


ROWS = pa.record_batch([pa.array(range(50_000), pa.int64())], schema=SCHEMA)


@pytest.mark.parametrize("client_decodes", [False, True], ids=["decompressed", "passed-through"])
def test_batches_compressed_with_the_accepted_codec_reach_the_browser_decompressed(
    gateway: tuple[Deployment, int], client_decodes: bool
) -> None:
    dep, _ = gateway
    seen: list[str] = []

    async def send(port: int, request: pb.DoGetRequest) -> Any:
        seen.append(request.compression)
        messages = [compressed_batch(ROWS, "zstd"), ROWS.serialize().to_pybytes()]  # one of each, as auto may
        end = pb.ArrowChunk(end=True, end_records=2 * ROWS.num_rows).SerializeToString()
        return await doget(dep, port, "acme", request.call_id, [encode_arrow_chunk(messages), end])

    table, answer = asyncio.run(query_with(dep, send, compression=("zstd", "lz4"), client_decodes=client_decodes))
    assert seen == ["zstd"]  # the first codec offered that the gateway can decompress
    assert isinstance(table, pa.Table) and table.equals(pa.Table.from_batches([ROWS, ROWS]))
    assert not isinstance(answer, grpc.aio.AioRpcError)


@pytest.mark.parametrize(
    ("offered", "sent", "code"),
    [
        ((), "zstd", "COMPRESSION_NOT_NEGOTIATED"),  # compression on a connector that offered none
        (("lz4",), "zstd", "COMPRESSION_NOT_NEGOTIATED"),  # a codec the gateway did not accept
    ],
    ids=["not-negotiated", "other-codec"],
)
def test_compression_that_was_not_negotiated_ends_the_query_typed(
    gateway: tuple[Deployment, int], offered: tuple[str, ...], sent: str, code: str
) -> None:
    dep, _ = gateway

    async def send(port: int, request: pb.DoGetRequest) -> Any:
        return await doget(dep, port, "acme", request.call_id, [encode_arrow_chunk([compressed_batch(ROWS, sent)])])

    relayed: list[int] = []
    err, answer = asyncio.run(query_with(dep, send, data_frames=relayed, compression=offered))
    assert relayed == [0]
    assert isinstance(err, ServerError) and err.code == "QUERY_FAILED" and code in err.message
    assert isinstance(answer, grpc.aio.AioRpcError) and answer.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"code={code} tenant=acme" in dep.procs[1].text()


@pytest.mark.parametrize(
    ("declared", "code"),
    [
        (2**40, "DECOMPRESSED_TOO_LARGE"),  # 1 TiB asked by a few bytes: refused before any allocation
        (-5, "IPC_FRAMING_INVALID"),  # a negative length
        (400_008, "FULL_VALIDATION"),  # more than the buffer really decompresses to
        (399_992, "FULL_VALIDATION"),  # less
    ],
    ids=["bomb", "negative", "longer", "shorter"],
)
@pytest.mark.parametrize("client_decodes", [False, True], ids=["browser", "decoding-client"])
def test_a_compressed_body_that_lies_about_its_size_is_refused_and_bounded(
    gateway: tuple[Deployment, int], declared: int, code: str, client_decodes: bool
) -> None:
    dep, _ = gateway
    gw = dep.procs[1]
    message = with_declared_length(compressed_batch(ROWS, "lz4"), declared)

    async def send(port: int, request: pb.DoGetRequest) -> Any:
        return await doget(dep, port, "acme", request.call_id, [encode_arrow_chunk([message])])

    relayed: list[int] = []
    logged = gw.text().count(f"code={code} tenant=acme")
    with peak_rss({"gateway": gw.popen.pid}) as rss:
        err, answer = asyncio.run(
            query_with(dep, send, data_frames=relayed, compression=("lz4",), client_decodes=client_decodes)
        )
    assert relayed == [0]  # a client that decodes lz4 is sent none of it either: checked first
    assert isinstance(err, ServerError) and err.code == "QUERY_FAILED"
    assert isinstance(answer, grpc.aio.AioRpcError) and answer.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert gw.text().count(f"code={code} tenant=acme") > logged
    before, peak = rss["gateway"]
    assert peak - before < 64 * 1024 * 1024, f"the gateway grew by {(peak - before) >> 20} MiB"
    # The gateway goes on: a well-formed compressed query on the same tunnel afterwards.

    async def good(port: int, request: pb.DoGetRequest) -> Any:
        end = pb.ArrowChunk(end=True, end_records=ROWS.num_rows).SerializeToString()
        ok = encode_arrow_chunk([compressed_batch(ROWS, "lz4")])
        return await doget(dep, port, "acme", request.call_id, [ok, end])

    table, _ = asyncio.run(query_with(dep, good, compression=("lz4",)))
    assert isinstance(table, pa.Table) and table.num_rows == ROWS.num_rows
