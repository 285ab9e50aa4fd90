"""The answering side of replica-to-replica calls (proto/saeta/v1/peer.proto): a peer that
has checked a browser's session asks this replica, which holds the tenant's tunnel, to
describe a dataset, relay one partition's data call (or, direct data, have the connector
send it to the asking replica), or list the datasets. The caller
must present a replica's certificate (OU saeta-replica, not revoked): anything else is
refused before its request is even parsed. The data call is relayed by the same loop as a
browser's (gateway/call_relay.py), with this replica's call slots for the tenant, and its
messages go out as they came (the asking replica cuts frames and validates fully).

A refusal ends the call with a status whose trailing metadata "saeta-error-code" names
the saeta code; the asking replica turns it back into the same typed error."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import grpc.aio
import pyarrow as pa
from google.protobuf.message import DecodeError, Message

from saeta.config import GatewayConfig
from saeta.core import filter_codec
from saeta.core.browser_protocol import DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES
from saeta.core.grpc_target import is_host_port
from saeta.core.tunnel_codec import encode_arrow_chunk
from saeta.core.x509_identity import certificate_serial, is_replica_certificate
from saeta.errors import BadRequest, DatasetNotFound, DirectDataUnavailable, SaetaError
from saeta.gateway.call_relay import Follow, Out, QueryContext, relay_partition
from saeta.gateway.call_slots import CallSlots
from saeta.gateway.crl import CrlWatcher
from saeta.gateway.data_calls import DataCalls, Resume
from saeta.gateway.registry import ConnectorLink, ConnectorRegistry
from saeta.gateway.ws_protocol import Buffer
from saeta.relay import Relay
from saeta.v1 import peer_pb2 as peer
from saeta.v1 import tunnel_pb2 as pb

log = logging.getLogger("saeta.gateway.peer")

ERROR_CODE_KEY = "saeta-error-code"
MAX_PEER_REQUEST_BYTES = 1024 * 1024
MAX_CALL_ID_CHARS = 128  # as the data planes take them
# The asking replica cuts frames to its browsers' limit; here pieces go out whole.
NO_FRAME_LIMIT = 2**62
_NO_SCHEMA = pa.schema([])
M = TypeVar("M", bound=Message)


def _status_of(err: SaetaError) -> grpc.StatusCode:
    if isinstance(err, DatasetNotFound):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(err, BadRequest) or err.code == "BAD_REQUEST":
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.FAILED_PRECONDITION


async def _fail(context: grpc.aio.ServicerContext, err: SaetaError) -> None:
    context.set_trailing_metadata(((ERROR_CODE_KEY, err.code),))
    await context.abort(_status_of(err), err.message)


@dataclass
class _PeerContext(QueryContext):
    """A data call relayed to a peer replica: a subscription's snapshot becomes one
    message of its own (ArrowChunk.snapshot_rows), written as is."""

    write: Callable[[bytes], Awaitable[None]] | None = None

    async def snapshot(self, query_id: str, rows: int) -> None:
        assert self.write is not None
        await self.write(pb.ArrowChunk(snapshot_rows=rows).SerializeToString())


class PeerService:
    def __init__(
        self,
        cfg: GatewayConfig,
        registry: ConnectorRegistry,
        calls: DataCalls,
        slots: CallSlots,
        crl: CrlWatcher,
        relay: Relay,
    ) -> None:
        self.cfg, self.registry, self.calls, self.slots, self.crl, self.relay = cfg, registry, calls, slots, crl, relay

    def handlers(self) -> grpc.GenericRpcHandler:
        # Raw bytes in: the caller's certificate is checked before anything is parsed.
        return grpc.method_handlers_generic_handler(
            "saeta.v1.Peer",
            {
                "Describe": grpc.unary_unary_rpc_method_handler(
                    self.describe,
                    request_deserializer=None,
                    response_serializer=pb.FlightInfoResponse.SerializeToString,
                ),
                "Fetch": grpc.unary_stream_rpc_method_handler(
                    self.fetch, request_deserializer=None, response_serializer=None
                ),
                "Datasets": grpc.unary_unary_rpc_method_handler(
                    self.datasets, request_deserializer=None, response_serializer=peer.PeerDatasetList.SerializeToString
                ),
            },
        )

    async def _checked_caller(self, context: grpc.aio.ServicerContext) -> None:
        """Aborts unless the caller presented a replica's certificate that is not revoked."""
        pems = context.auth_context().get("x509_pem_cert") or []
        pem = pems[0] if len(pems) == 1 else None
        problem = None
        if pem is None:
            problem = "no client certificate"
        elif not is_replica_certificate(pem):
            problem = "the client certificate is not a gateway replica's (OU saeta-replica)"
        elif (serial := certificate_serial(pem)) is None or self.crl.is_revoked(serial):
            problem = "the replica's certificate is revoked"
        if problem is not None:
            log.warning("peer call refused code=PEER_REFUSED peer=%s: %s", context.peer(), problem)
            context.set_trailing_metadata(((ERROR_CODE_KEY, "PEER_REFUSED"),))
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"PEER_REFUSED: {problem}")

    async def _parsed(self, raw: bytes, kind: type[M], context: grpc.aio.ServicerContext) -> M:
        await self._checked_caller(context)
        if len(raw) > MAX_PEER_REQUEST_BYTES:
            await _fail(context, BadRequest("peer request too large"))
        try:
            return kind.FromString(raw)
        except DecodeError:
            await _fail(context, BadRequest(f"not a {kind.__name__}"))
            raise  # abort() raises; for the type checker

    async def describe(self, raw: bytes, context: grpc.aio.ServicerContext) -> pb.FlightInfoResponse:
        ask = await self._parsed(raw, peer.PeerDescribe, context)
        request_id = secrets.token_hex(8)
        link = None
        try:
            link = self.registry.route(ask.tenant_id, ask.dataset)
            q = ask.query
            return await link.get_flight_info(
                request_id,
                ask.dataset,
                tuple(q.columns) or None,
                None if q.limit < 0 else q.limit,
                self.cfg.query_seconds,
                filter_codec.from_proto(q.filter),
                follow=q.follow,
                resumable=q.resumable,
                aggregate=filter_codec.aggregate_from_proto(q),
                page=filter_codec.page_from_proto(q),
            )
        except SaetaError as err:
            await _fail(context, err)
            raise  # abort() raises; for the type checker
        finally:
            if link is not None:
                link.unwatch(request_id)

    async def datasets(self, raw: bytes, context: grpc.aio.ServicerContext) -> peer.PeerDatasetList:
        ask = await self._parsed(raw, peer.PeerDatasets, context)
        return peer.PeerDatasetList(datasets=sorted(self.registry.datasets(ask.tenant_id)))

    async def fetch(self, raw: bytes, context: grpc.aio.ServicerContext) -> None:
        ask = await self._parsed(raw, peer.PeerFetch, context)
        request_id = secrets.token_hex(8)
        try:
            link = self.registry.route(ask.tenant_id, ask.dataset)
        except SaetaError as err:
            await _fail(context, err)
            return
        if ask.data_address:
            await self._fetch_direct(ask, link, request_id, context)
            return

        async def send_parts(parts: Sequence[Buffer]) -> None:
            await context.write(encode_arrow_chunk(parts[1:]))

        async def send_text(text: str) -> None:
            return None  # nothing but data and the snapshot goes to a peer

        get = ask.do_get
        frame = get.max_chunk_bytes + FRAME_HEADER_BYTES if get.max_chunk_bytes else DEFAULT_MAX_FRAME_BYTES
        ctx = _PeerContext(
            link,
            self.calls,
            self.relay,
            self.cfg.query_seconds,
            send_text,
            send_parts,
            slots=None if ask.follow else self.slots,
            owner=f"peer:{ask.owner[:64]}",
            max_frame_bytes=frame,
            write=context.write,
            max_message_bytes=self.cfg.max_message_bytes,
            peer_decodes=ask.accepts_compressed,
        )
        errors = link.watch_errors(request_id)
        follow = None
        if ask.follow:
            follow = Follow("peer", asyncio.Event(), link.watch_snapshot(request_id))
            if get.resume_points:  # the asking replica keeps the checkpoints; points go to it as they came

                async def relay_point(point: Resume) -> None:
                    at = pb.ResumePoint(cursor=point.cursor or b"", skip=point.skip)
                    await context.write(pb.ArrowChunk(resume_at=at).SerializeToString())

                follow.on_resume, follow.cursor, follow.skip = relay_point, get.cursor, max(0, get.skip_rows)
        out = Out(b"", _NO_SCHEMA, False, NO_FRAME_LIMIT)
        try:
            limit = None if get.limit < 0 else get.limit
            conditions = filter_codec.from_proto(get.filter)
            rows, _ = await relay_partition(
                ctx, request_id, get.ticket, limit, conditions, out, errors, follow, max(0, get.skip_rows)
            )
            await context.write(pb.ArrowChunk(end=True, end_records=rows).SerializeToString())
        except SaetaError as err:
            await _fail(context, err)
        except asyncio.CancelledError:
            link.cancel(request_id)
            raise
        finally:
            if follow is not None:
                follow.close()
            link.unwatch(request_id)

    async def _fetch_direct(
        self, ask: peer.PeerFetch, link: ConnectorLink, request_id: str, context: grpc.aio.ServicerContext
    ) -> None:
        """Direct data (gateway/peer_direct.py): the connector sends the partition to the
        asking replica, with that replica's call id. This call holds the tenant's call slot
        (a query's) until the asking replica cancels it, and carries back only a
        subscription's snapshot count or the connector's error."""
        if not link.direct_data:
            await _fail(context, DirectDataUnavailable("the tenant's connector on this replica cannot send direct"))
            return
        call_id = ask.do_get.call_id
        if not is_host_port(ask.data_address) or not 0 < len(call_id) <= MAX_CALL_ID_CHARS:
            await _fail(context, BadRequest("a direct fetch needs a HOST:PORT data address and a call id"))
            return
        get = pb.DoGetRequest()
        get.CopyFrom(ask.do_get)
        get.request_id, get.data_address = request_id, ask.data_address
        # The asking replica decodes what it is sent with its schema; one of before
        # accepts_compressed cannot take compressed batches.
        get.compression = link.compression if ask.accepts_compressed else ""
        slot = self.slots.hold(link.tenant, f"peer:{ask.owner[:64]}") if not ask.follow else contextlib.nullcontext()
        errors = link.watch_errors(request_id)
        snapshot = link.watch_snapshot(request_id) if ask.follow else None
        try:
            async with slot:
                link.ask_direct(get)
                if snapshot is not None:
                    either: set[asyncio.Future[Any]] = {snapshot, errors}
                    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                    if snapshot.done() and not errors.done():
                        await context.write(pb.ArrowChunk(snapshot_rows=snapshot.result()).SerializeToString())
                err = await errors  # or, far more often, the asking replica's cancel
            await _fail(context, err)
        except asyncio.CancelledError:
            link.cancel(request_id)
            raise
        finally:
            link.unwatch(request_id)
