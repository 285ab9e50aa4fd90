"""The gateway's gRPC side: mTLS with required client certificates, registration checked
against the certificate's CN, the Control call loop, and the DoGet hand-over.

Why one file: registration, the Control call's two loops and DoGet on grpc_port share
the service's state (registry, CRL, expected calls); the protocol's decisions are core's
(tunnel_link.py, call_table.py, tunnel_codec.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

from saeta.config import GatewayConfig
from saeta.core.names import is_dataset_name, is_tenant_id
from saeta.core.tunnel_codec import CALL_ID_KEY, TUNNEL_PROTOCOL_VERSION, accepted_codec
from saeta.core.tunnel_keepalive import KEEPALIVE_OPTIONS, KEEPALIVE_TIME_MS
from saeta.core.tunnel_link import BACKLOG_REASON
from saeta.core.x509_identity import certificate_serial, client_cert_problem
from saeta.gateway.crl import CrlWatcher
from saeta.gateway.data_calls import DataCallRefused, DataCalls, GrpcDataStream, PendingCall, claim_for_doget
from saeta.gateway.registry import ConnectorLink, ConnectorRegistry
from saeta.relay import Relay
from saeta.v1 import tunnel_pb2 as pb

log = logging.getLogger("saeta.gateway.tunnel")

REVOKED_REASON = "certificate revoked"
BAD_MESSAGE_REASON = "a Control message is not a ConnectorMessage"


class BadControlMessage(Exception):
    """Bytes on the Control call that do not parse as a ConnectorMessage."""


async def _parsed(raw: AsyncIterator[bytes]) -> AsyncIterator[pb.ConnectorMessage]:
    async for data in raw:
        try:
            yield pb.ConnectorMessage.FromString(data)
        except DecodeError:
            raise BadControlMessage from None


MAX_DATASETS = 10_000


def _peer_identity(context: grpc.aio.ServicerContext) -> tuple[str | None, bytes | None]:
    auth = context.auth_context()
    cns = auth.get("x509_common_name") or []
    pems = auth.get("x509_pem_cert") or []
    cn = cns[0].decode("utf-8", "replace") if len(cns) == 1 else None
    return cn, (pems[0] if pems else None)


def _refusal(tenant: str | None, code: str, detail: str, peer: str) -> None:
    log.warning("tunnel refused code=%s tenant=%s peer=%s: %s", code, tenant or "-", peer, detail)


class TunnelService:
    def __init__(
        self,
        cfg: GatewayConfig,
        registry: ConnectorRegistry,
        calls: DataCalls,
        crl: CrlWatcher,
        relay: Relay,
    ) -> None:
        self.cfg = cfg
        self.relay = relay
        # Told to connectors at registration: "" from a gateway that is the only one.
        self.replica_id = cfg.replica.id if cfg.replica is not None else ""
        # Told to connectors at registration once the Rust data plane listens; 0 = DoGet
        # on the tunnel's own channel (grpcio).
        self.data_port = 0
        self.registry = registry
        self.calls = calls
        self.crl = crl

    def cut_revoked(self, revoked: frozenset[int]) -> None:
        """Ends every live tunnel whose certificate is now revoked."""
        for link in self.registry.links():
            if link.cert_serial in revoked:
                log.warning(
                    "tunnel cut code=CERT_REVOKED tenant=%s tunnel=%s serial=%x",
                    link.tenant,
                    link.tunnel_id,
                    link.cert_serial,
                )
                link.close(REVOKED_REASON)

    def handlers(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            "saeta.v1.Tunnel",
            {
                # Raw bytes in, parsed by _parsed(): a message that is not a ConnectorMessage
                # ends the call with INVALID_ARGUMENT (grpc's own decoding would end it with
                # UNKNOWN and the parser's exception text).
                "Control": grpc.stream_stream_rpc_method_handler(
                    self.control,
                    request_deserializer=None,
                    response_serializer=pb.GatewayMessage.SerializeToString,
                ),
                # Raw bytes in: the relay slices the Arrow payload out without parsing.
                "DoGet": grpc.stream_unary_rpc_method_handler(
                    self.do_get,
                    request_deserializer=None,
                    response_serializer=pb.DoGetSummary.SerializeToString,
                ),
            },
        )

    async def _registration(
        self, requests: AsyncIterator[pb.ConnectorMessage], context: grpc.aio.ServicerContext
    ) -> tuple[pb.RegisterRequest, int | None]:
        peer = context.peer()
        cn, pem = _peer_identity(context)
        if cn is None or pem is None:
            _refusal(None, "NO_CLIENT_CERT", "no client certificate CN", peer)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "TUNNEL_REFUSED: no client certificate")
        assert cn is not None and pem is not None  # abort() raises
        problem = client_cert_problem(pem)
        if problem:
            _refusal(cn, "CERT_USAGE", problem, peer)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"TUNNEL_REFUSED: {problem}")
        serial = certificate_serial(pem)
        if self.crl.is_revoked(serial):
            _refusal(cn, "CERT_REVOKED", f"certificate serial {serial:x} is revoked", peer)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "CERT_REVOKED: the client certificate is revoked")
        try:
            first = await asyncio.wait_for(anext(requests), self.cfg.connect_seconds)
        except (TimeoutError, StopAsyncIteration):
            _refusal(cn, "NO_REGISTER", "no RegisterRequest in time", peer)
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "TUNNEL_REFUSED: register first")
        if first.WhichOneof("msg") != "register":
            _refusal(cn, "NO_REGISTER", "first message is not a RegisterRequest", peer)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "TUNNEL_REFUSED: register first")
        reg = first.register
        if reg.tenant_id != cn:
            _refusal(cn, "TENANT_MISMATCH", f"RegisterRequest.tenant_id {reg.tenant_id!r} != certificate CN", peer)
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "TUNNEL_REFUSED: tenant_id does not match the client certificate's CN",
            )
        if not is_tenant_id(cn):
            _refusal(cn, "TENANT_INVALID", "certificate CN is not a valid tenant id", peer)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "TUNNEL_REFUSED: invalid tenant id")
        if reg.protocol_version != TUNNEL_PROTOCOL_VERSION:
            _refusal(cn, "PROTOCOL_VERSION", f"protocol version {reg.protocol_version}", peer)
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "TUNNEL_REFUSED: protocol version 1 required")
        if len(reg.datasets) > MAX_DATASETS or not all(is_dataset_name(d) for d in reg.datasets):
            _refusal(cn, "DATASETS_INVALID", "dataset list invalid", peer)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "TUNNEL_REFUSED: invalid dataset names")
        return reg, serial

    async def control(
        self, raw: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GatewayMessage]:
        requests = _parsed(raw)
        try:
            reg, serial = await self._registration(requests, context)
        except BadControlMessage:
            _refusal(_peer_identity(context)[0], "BAD_MESSAGE", BAD_MESSAGE_REASON, context.peer())
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "BAD_MESSAGE: not a ConnectorMessage")
            raise
        link = ConnectorLink(
            tenant=reg.tenant_id,
            datasets=frozenset(reg.datasets),
            version=reg.version[:64],
            cert_serial=serial,
            direct_data=reg.direct_data,
            compression=accepted_codec(reg.compression, self.cfg.tunnel_compression),
        )
        welcome = pb.GatewayMessage(
            registered=pb.RegisterResponse(
                status="ok",
                session_id=link.tunnel_id,
                heartbeat_seconds=self.cfg.heartbeat_seconds,
                data_port=self.data_port,
                replica_id=self.replica_id,
            )
        )
        if reg.probe:
            log.info("tunnel probe ok tenant=%s peer=%s", link.tenant, context.peer())
            yield welcome
            return
        if self.replica_id and self.replica_id in reg.held_replicas:
            # The connector holds a tunnel here already and dials for another replica.
            log.info("tunnel not needed tenant=%s peer=%s: held here already", link.tenant, context.peer())
            welcome.registered.status = "already_held"
            yield welcome
            return
        await self._admit(link, context)
        self.registry.add(link)
        log.info(
            "connector registered tenant=%s tunnel=%s version=%s datasets=%d peer=%s",
            link.tenant,
            link.tunnel_id,
            link.version,
            len(link.datasets),
            context.peer(),
        )
        handler = asyncio.current_task()
        reader = asyncio.create_task(self._read_loop(link, requests, handler))
        try:
            yield welcome
            while (msg := await link.next_command()) is not None:
                yield msg
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            self.registry.remove(link)
            link.close(link.close_reason or "tunnel ended")
            log.info("connector gone tenant=%s tunnel=%s reason=%s", link.tenant, link.tunnel_id, link.close_reason)
        if link.close_reason == REVOKED_REASON:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "CERT_REVOKED: the client certificate is revoked")
        if link.close_reason == BAD_MESSAGE_REASON:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "BAD_MESSAGE: not a ConnectorMessage")
        if link.close_reason == BACKLOG_REASON:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"CONTROL_BACKLOG: {BACKLOG_REASON}")

    async def _admit(self, link: ConnectorLink, context: grpc.aio.ServicerContext) -> None:
        """Bounds a tenant's live tunnels, and says loudly when a tunnel registers with the
        certificate of one that is live: a connector reconnecting before the gateway saw
        its old tunnel go, or a second connector with a copy of its certificate, whose
        queries now go to the newest (unless ``tunnels.same_certificate: refuse``)."""
        peer = context.peer()
        live = self.registry.of(link.tenant)
        if len(live) >= self.cfg.max_tunnels_per_tenant:
            _refusal(link.tenant, "TOO_MANY_TUNNELS", f"{len(live)} tunnels live (tunnels.max_per_tenant)", peer)
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"TOO_MANY_TUNNELS: at most {self.cfg.max_tunnels_per_tenant} tunnels per tenant",
            )
        same = [other for other in live if other.cert_serial == link.cert_serial]
        if not same:
            return
        serial = f"{link.cert_serial:x}" if link.cert_serial is not None else "-"
        if self.cfg.same_certificate == "refuse":
            _refusal(link.tenant, "CERT_IN_USE", f"certificate {serial} is live on tunnel {same[-1].tunnel_id}", peer)
            await context.abort(
                grpc.StatusCode.ALREADY_EXISTS, "CERT_IN_USE: a tunnel with this certificate is live (same_certificate)"
            )
        log.warning(
            "code=DUPLICATE_CERTIFICATE tenant=%s serial=%s peer=%s: certificate already live on tunnel %s; "
            "queries go to the newest (a reconnect, or a second connector with a copy of the certificate)",
            link.tenant,
            serial,
            peer,
            same[-1].tunnel_id,
        )

    async def _read_loop(
        self,
        link: ConnectorLink,
        requests: AsyncIterator[pb.ConnectorMessage],
        handler: asyncio.Task[Any] | None,
    ) -> None:
        """Reads the connector's messages until the call or the link ends. A link closed
        for its backlog cannot end its handler the usual way (the handler waits to write to
        a connector that reads nothing), so its task is cancelled, which ends the call."""
        silence = 3 * self.cfg.heartbeat_seconds + 5
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(anext(requests), silence)
                except StopAsyncIteration:
                    link.close("connector closed the tunnel")
                    return
                except TimeoutError:
                    link.close(f"no heartbeat for {silence}s")
                    return
                except BadControlMessage:
                    _refusal(link.tenant, "BAD_MESSAGE", BAD_MESSAGE_REASON, "-")
                    link.close(BAD_MESSAGE_REASON)  # ends the handler, which aborts the call
                    return
                link.on_message(msg)
                if link.close_reason == BACKLOG_REASON:
                    _refusal(link.tenant, "CONTROL_BACKLOG", BACKLOG_REASON, "-")
                    if handler is not None:
                        handler.cancel()
                    return
        except grpc.RpcError as exc:
            link.close(f"tunnel broke: {exc}")
        except Exception as exc:
            log.exception("tunnel read loop failed tenant=%s", link.tenant)
            link.close(f"tunnel read failed: {type(exc).__name__}")

    def claim_data_call(self, cn: str | None, serial: int | None, call_id: object, peer: str) -> PendingCall:
        """The pending call a DoGet from ``cn`` may serve (gateway/data_calls.py)."""
        return claim_for_doget(self.calls, self.crl.is_revoked, cn, serial, call_id, peer)

    async def do_get(self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> pb.DoGetSummary:
        cn, pem = _peer_identity(context)
        call_id = dict(context.invocation_metadata() or ()).get(CALL_ID_KEY)
        serial = certificate_serial(pem) if pem is not None else None
        try:
            pending = self.claim_data_call(cn, serial, call_id, context.peer())
        except DataCallRefused as refused:
            await context.abort(getattr(grpc.StatusCode, refused.status), refused.message)
            raise  # abort() raises; this line is for the type checker
        pending.arrived.set_result(GrpcDataStream(requests, self.relay))
        abort = await pending.finished
        if abort is not None:
            status = grpc.StatusCode.INVALID_ARGUMENT if abort.invalid_data else grpc.StatusCode.CANCELLED
            await context.abort(status, abort.status_message)
        return pb.DoGetSummary()


def server_credentials(cfg: GatewayConfig) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(cfg.server_key.read_bytes(), cfg.server_cert.read_bytes())],
        root_certificates=cfg.ca_cert.read_bytes(),
        require_client_auth=True,
    )


def server_options(cfg: GatewayConfig) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", cfg.max_message_bytes),
        ("grpc.max_send_message_length", 4 * 1024 * 1024),
        *KEEPALIVE_OPTIONS,
        # Accept the connector's pings (every KEEPALIVE_TIME_MS) with room to spare.
        ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_TIME_MS // 4),
        # A connection must finish its TLS handshake (certificate checked) within the
        # registration deadline; grpc's own default held idle strangers for 120 s.
        ("grpc.server_handshake_timeout_ms", int(cfg.connect_seconds * 1000)),
    ]
