"""The gateway's Arrow Flight / Flight SQL endpoint (docs/flight.md): a gRPC service on its
own TLS port, in the gateway's event loop, beside the tunnel server. Each call carries the
session token as ``authorization: Bearer``, validated as a socket's is (the control
plane, the revocation state, the session cache); a refusal is a gRPC status whose
message begins with saeta's code (core/flight_status.py).

The calls: ListFlights (the session's datasets), GetFlightInfo and GetSchema (a dataset,
saeta's query JSON, or a Flight SQL command: gateway/flight_sql.py), DoGet (one endpoint:
gateway/flight_get.py), DoAction (Flight SQL's prepared statements), Handshake (checks the
header). DoPut, DoExchange and PollFlightInfo are UNIMPLEMENTED: the endpoint only reads.

Requests arrive as raw bytes and are parsed here, so a message that is not what the call
takes is INVALID_ARGUMENT BAD_REQUEST rather than grpcio's UNKNOWN."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import DecodeError, Message

from saeta.core import browser_protocol as bp
from saeta.core import flight_request, flight_ticket
from saeta.core.flight_status import status_of
from saeta.core.resume_token import session_digest
from saeta.core.tunnel_keepalive import KEEPALIVE_OPTIONS
from saeta.errors import (
    BadRequest,
    ConnectorOffline,
    ControlPlaneUnavailable,
    DatasetNotFound,
    FlightUnsupported,
    SaetaError,
    Unauthorized,
)
from saeta.flight import flight_pb2 as fpb
from saeta.gateway import flight_sql
from saeta.gateway.flight_get import FlightStream
from saeta.gateway.flight_info import (
    Caller,
    FlightGateway,
    SchemaCache,
    admitted,
    ask_connector,
    flight_info,
    write_within,
)

log = logging.getLogger("saeta.gateway.flight")
M = TypeVar("M", bound=Message)
SERVICE = "arrow.flight.protocol.FlightService"
Context: TypeAlias = grpc.aio.ServicerContext
# The call's caller once its session validated, for the refusal's log line (each call
# runs in a task of its own, so in a context of its own).
_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("flight_caller", default=None)


def _parsed(kind: type[M], raw: bytes) -> M:
    try:
        return kind.FromString(raw)
    except DecodeError:
        raise BadRequest(f"the request is not a {kind.__name__}") from None


def _bearer(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    raise Unauthorized("the session token goes in an authorization: Bearer header")


class FlightService:
    def __init__(self, gateway: FlightGateway) -> None:
        self.gateway = gateway
        self.schemas = SchemaCache()
        self.streams: set[FlightStream] = set()  # DoGets being streamed

    def on_revoked(self, sid: str) -> None:
        for stream in list(self.streams):
            stream.on_revoked(sid)

    def drain(self) -> None:
        for stream in list(self.streams):
            stream.end(SaetaError("the gateway is shutting down: read the endpoint again", code="GATEWAY_DRAINING"))

    # --- plumbing

    def handlers(self) -> grpc.GenericRpcHandler:
        unary, stream = grpc.unary_unary_rpc_method_handler, grpc.unary_stream_rpc_method_handler
        raw: dict[str, Any] = {"request_deserializer": None, "response_serializer": None}
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Handshake": grpc.stream_stream_rpc_method_handler(self._guard("Handshake", self.handshake), **raw),
                "ListFlights": stream(self._guard("ListFlights", self.list_flights), **raw),
                "GetFlightInfo": unary(self._guard("GetFlightInfo", self.get_flight_info), **raw),
                "GetSchema": unary(self._guard("GetSchema", self.get_schema), **raw),
                "DoGet": stream(self._guard("DoGet", self.do_get), **raw),
                "DoAction": stream(self._guard("DoAction", self.do_action), **raw),
                "ListActions": stream(self._guard("ListActions", self.list_actions), **raw),
                "PollFlightInfo": unary(self._guard("PollFlightInfo", self.unsupported), **raw),
                "DoPut": grpc.stream_stream_rpc_method_handler(self._guard("DoPut", self.unsupported), **raw),
                "DoExchange": grpc.stream_stream_rpc_method_handler(self._guard("DoExchange", self.unsupported), **raw),
            },
        )

    def _guard(self, name: str, call: Callable[[Any, Context], Awaitable[Any]]) -> Callable[[Any, Context], Any]:
        async def guarded(request: Any, context: Context) -> Any:
            try:
                return await call(request, context)
            except SaetaError as err:
                status, message = status_of(err)
                caller = _CALLER.get()
                who = f"tenant={caller.session.tenant} session={caller.fp}" if caller else f"peer={context.peer()}"
                log.info("flight refused code=%s call=%s %s: %s", err.code, name, who, err.message)
                await context.abort(grpc.StatusCode[status], message)
            except grpc.aio.AbortError:
                raise
            except Exception:  # a fault of the gateway's: the client gets the code, the log the trace
                log.exception("flight call failed code=INTERNAL call=%s", name)
                await context.abort(grpc.StatusCode.INTERNAL, "INTERNAL: the gateway failed (see its log)")

        return guarded

    async def _caller(self, context: Context) -> Caller:
        """The call's session, validated; refusals as a socket's handshake's."""
        gw = self.gateway
        if gw.draining:
            raise SaetaError("the gateway is shutting down: try again", code="GATEWAY_DRAINING")
        token = _bearer(context)
        try:
            async with asyncio.timeout(gw.cfg.handshake_seconds):
                session = await gw.sessions.validate(token)
        except TimeoutError:
            raise ControlPlaneUnavailable("the session check took too long: try again") from None
        caller = Caller(session, token)
        _CALLER.set(caller)
        return caller

    # --- calls

    async def unsupported(self, request: Any, context: Context) -> None:
        raise FlightUnsupported("the Flight endpoint only reads: DoGet the endpoints of a FlightInfo")

    async def handshake(self, requests: AsyncIterator[bytes], context: Context) -> None:
        """Checks the bearer header and answers it back (header and payload): clients that
        hand over a token from their handshake keep sending the same one."""
        caller = await self._caller(context)
        async for raw in requests:
            _parsed(fpb.HandshakeRequest, raw)
            break
        await context.send_initial_metadata((("authorization", f"Bearer {caller.token}"),))
        await context.write(fpb.HandshakeResponse(payload=caller.token.encode()).SerializeToString())

    async def list_flights(self, raw: bytes, context: Context) -> None:
        """The datasets the session may read, each a FlightInfo of its path alone: its
        schema and endpoints come from GetFlightInfo."""
        caller = await self._caller(context)
        _parsed(fpb.Criteria, raw)
        try:
            served = await self.gateway.router.datasets(caller.session.tenant)
        except ConnectorOffline:
            served = set()
        for name in sorted(d for d in served if caller.session.allows(d)):
            descriptor = fpb.FlightDescriptor(type=fpb.FlightDescriptor.PATH, path=[name])
            info = fpb.FlightInfo(flight_descriptor=descriptor, total_records=-1, total_bytes=-1)
            await write_within(context, info.SerializeToString(), self.gateway.cfg.stalled_seconds)

    async def get_flight_info(self, raw: bytes, context: Context) -> bytes:
        caller = await self._caller(context)
        descriptor = _parsed(fpb.FlightDescriptor, raw)
        info = await self._describe(caller, descriptor)
        return info.SerializeToString()

    async def get_schema(self, raw: bytes, context: Context) -> bytes:
        caller = await self._caller(context)
        descriptor = _parsed(fpb.FlightDescriptor, raw)
        info = await self._describe(caller, descriptor)
        return fpb.SchemaResult(schema=info.schema).SerializeToString()

    async def _describe(self, caller: Caller, descriptor: fpb.FlightDescriptor) -> fpb.FlightInfo:
        if descriptor.type == fpb.FlightDescriptor.PATH:
            q, names = flight_request.path_query(descriptor.path), None
        elif descriptor.type == fpb.FlightDescriptor.CMD and flight_request.is_json(descriptor.cmd):
            q, names = flight_request.json_query(descriptor.cmd), None
        elif descriptor.type == fpb.FlightDescriptor.CMD:
            command = flight_sql.command_of(descriptor.cmd)
            answered = flight_sql.metadata_info(command, descriptor)
            if answered is not None:
                return answered
            statement = flight_sql.query_of(self.gateway.cfg.secret_key, caller, command)
            q, names = statement.query, statement.names
        else:
            raise BadRequest("a FlightDescriptor is a PATH or a CMD")
        with admitted(self.gateway, caller.session):
            info = await ask_connector(self.gateway, caller, q)
        return flight_info(self.gateway.cfg, caller, q, info, self.schemas, descriptor, names)

    async def do_get(self, raw: bytes, context: Context) -> None:
        caller = await self._caller(context)
        ticket = _parsed(fpb.Ticket, raw).ticket
        if flight_sql.is_metadata_ticket(ticket):
            await flight_sql.do_get_metadata(self.gateway, caller, ticket, context)
            return
        gw = self.gateway
        t = flight_ticket.verify(gw.cfg.secret_key, ticket, session_digest(caller.session.sid), time.time())
        if not caller.session.allows(t.dataset):
            raise DatasetNotFound(f"no dataset {t.dataset!r}")  # permissions may have changed since
        s = caller.session
        log.info("flight doget open tenant=%s user=%s session=%s dataset=%s", s.tenant, s.user_id, caller.fp, t.dataset)
        stream = FlightStream(gw, caller, t, context, self.schemas)
        started, code = time.monotonic(), "OK"
        try:
            rows = await stream.serve(self.streams)
        except asyncio.CancelledError:
            code = "CANCELLED"
            what = "flight doget cancelled by the client"
            log.info("%s tenant=%s session=%s dataset=%s", what, s.tenant, caller.fp, t.dataset)
            raise
        except SaetaError as err:
            code = err.code
            raise
        except Exception:  # answered INTERNAL by the service's catch-all
            code = "INTERNAL"
            raise
        finally:
            ctx = stream.ctx
            rows_sent, nbytes = (ctx.rows_relayed, ctx.bytes_relayed) if ctx is not None else (0, 0)
            q = bp.RunQuery("flight", t.dataset, t.columns, t.limit, t.conditions, aggregate=t.aggregate, page=t.page)
            gw.outcomes.ended("flight", s, caller.fp, q, rows_sent, nbytes, code, time.monotonic() - started)
        log.info("flight doget done tenant=%s session=%s dataset=%s rows=%d", s.tenant, caller.fp, t.dataset, rows)

    async def do_action(self, raw: bytes, context: Context) -> None:
        caller = await self._caller(context)
        action = _parsed(fpb.Action, raw)
        for body in await flight_sql.do_action(self.gateway, caller, action):
            await context.write(fpb.Result(body=body).SerializeToString())

    async def list_actions(self, raw: bytes, context: Context) -> None:
        await self._caller(context)
        for name, description in flight_sql.ACTIONS:
            await context.write(fpb.ActionType(type=name, description=description).SerializeToString())


def server_credentials(cert: bytes, key: bytes) -> grpc.ServerCredentials:
    """TLS without client certificates: a Flight client is authenticated by its session."""
    return grpc.ssl_server_credentials([(key, cert)], require_client_auth=False)


def server_options(max_message_bytes: int, handshake_seconds: float) -> list[tuple[str, Any]]:
    return [
        # Requests are descriptors, tickets and actions: a ticket is the largest.
        ("grpc.max_receive_message_length", flight_ticket.MAX_TICKET_BYTES + 64 * 1024),
        ("grpc.max_send_message_length", max_message_bytes + 64 * 1024),
        *KEEPALIVE_OPTIONS,
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.server_handshake_timeout_ms", int(handshake_seconds * 1000)),
    ]
