"""One data call relayed to a browser socket, a query's partition or a subscription's
call alike: the DoGetRequest sent down the tunnel, the call awaited, each piece read
within the query's timeout (or, followed, until the unsubscribe), checked, cut to the
frame limit and sent behind the stream's frame header. The accounting (rows against the
limit, the end marker's count, the snapshot, how the call ends for the connector) is
core/partition_relay.py's; this shell only waits and sends. A relayed payload is sent as
a view of the tunnel message it arrived in, never copied.

Why one file: it is one relay loop, used by queries and subscriptions alike; the
followed reader is that loop's variant, not another relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from saeta import memory_trim
from saeta.core import browser_protocol as bp
from saeta.core import filter_codec
from saeta.core.aggregation import Aggregate
from saeta.core.browser_protocol import DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES
from saeta.core.filters import Condition
from saeta.core.paging import Page
from saeta.core.partition_relay import PartitionRelay
from saeta.core.resume_token import ResumeKeys
from saeta.core.tunnel_codec import CODEC_CODES
from saeta.errors import ConnectorOffline, QueryFailed, QueryTimeout, RelayError, SaetaError
from saeta.gateway import arrow_check
from saeta.gateway.call_slots import CallSlots
from saeta.gateway.data_calls import (
    CallBroken,
    Chunk,
    ClosedEarly,
    DataCall,
    DataCalls,
    DataStream,
    End,
    LocalCall,
    MessageTooLarge,
    Resume,
)
from saeta.gateway.metrics import GatewayMetrics
from saeta.gateway.ws_protocol import Buffer
from saeta.relay import Relay
from saeta.v1 import tunnel_pb2 as pb

log = logging.getLogger("saeta.gateway.query")
T = TypeVar("T")

FIRST = asyncio.FIRST_COMPLETED


@dataclass(frozen=True)
class Out:
    """Where a query's batches go: its frame header, the stream's schema, whether every
    batch is fully validated against it (arrow_validation: full), and the most bytes of
    Arrow one browser frame may carry (websocket.max_frame_bytes less the header)."""

    header: bytes
    schema: pa.Schema
    validate: bool
    frame_payload: int


# How long to wait, after a data call ends without its end marker, for the connector's
# QueryError explaining why (it is sent on the Control call just before the cancel).
ERROR_GRACE_SECONDS = 2.0


class Link(Protocol):
    """Where a tenant's queries go: a tunnel on this replica (gateway/registry.py's
    ConnectorLink) or a peer replica that holds one (gateway/peer_link.py)."""

    @property
    def tenant(self) -> str: ...

    @property
    def compression(self) -> str:
        """The codec the connector is asked to compress this link's data calls with ("": none)."""
        ...

    @property
    def codecs(self) -> tuple[str, ...]:
        """The codecs this link's batches may arrive compressed with: the asked one on a
        tunnel; any known on a peer link (its holder relays them as the connector sent)."""
        ...

    async def get_flight_info(
        self,
        request_id: str,
        dataset: str,
        columns: tuple[str, ...] | None,
        limit: int | None,
        seconds: float,
        conditions: Sequence[Condition] = (),
        follow: bool = False,
        resumable: bool = False,
        aggregate: Aggregate | None = None,
        page: Page | None = None,
        first_call: LocalCall | None = None,
    ) -> pb.FlightInfoResponse: ...

    def first_call(self, calls: DataCalls, ask: pb.DoGetRequest) -> LocalCall | None:
        """The plan's first data call, asked for with its GetFlightInfoRequest (``ask``,
        ticket left empty); None where the link cannot (a peer link)."""
        ...

    def watch_errors(self, request_id: str) -> asyncio.Future[SaetaError]: ...

    def watch_snapshot(self, request_id: str) -> asyncio.Future[int]: ...

    def unwatch(self, request_id: str) -> None: ...

    def cancel(self, request_id: str) -> None: ...

    def open_call(self, calls: DataCalls, ask: pb.DoGetRequest, follow: bool) -> DataCall: ...


@dataclass
class QueryContext:
    link: Link
    calls: DataCalls
    relay: Relay
    timeout: float
    send_text: Callable[[str], Awaitable[None]]
    send_parts: Callable[[Sequence[Buffer]], Awaitable[None]]
    partitions_in_flight: int = 1
    full_validation: bool = True  # gateway arrow_validation: full (else the relay's framing only)
    slots: CallSlots | None = None  # the tenant's data-call slots (None: unbounded, for tests)
    owner: str = ""  # whose slots: the session's id (never logged)
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES  # websocket.max_frame_bytes
    resume_keys: ResumeKeys | None = None  # what resumable queries sign tokens with
    metrics: GatewayMetrics | None = None  # where the relayed rows and the first batch are counted
    transport: str = "socket"  # the metrics' label: socket, http or flight
    started: float = field(default_factory=time.monotonic)
    _first_sent: bool = False
    rows_relayed: int = 0  # over all its partitions: the audit line's
    bytes_relayed: int = 0
    # limits.max_message_bytes: also the most a compressed data message may declare it
    # decompresses to (what an uncompressed one may be)
    max_message_bytes: int = 16 * 1024 * 1024
    # IPC body codecs the client decodes itself (the query's "compression", Flight's
    # saeta-compression header): batches compressed with one of them pass through
    client_codecs: tuple[str, ...] = ()
    # A holder relaying a partition for a peer replica (gateway/peer_server.py), which has
    # no schema to decode batches with: True, the peer decodes them (PeerFetch.
    # accepts_compressed) and they go to it as they came, their codec and declared size
    # checked; False, the connector is asked for uncompressed batches. None: not a peer's.
    peer_decodes: bool | None = None

    def batch_sent(self) -> None:
        """A record batch went to the client: the first one's delay is observed."""
        if not self._first_sent:
            self._first_sent = True
            if self.metrics is not None:
                self.metrics.first_batch.labels(self.transport).observe(time.monotonic() - self.started)

    async def send_info(self, text: str) -> None:
        """A text frame that must fit the frame limit (info: its size follows the schema)."""
        size = len(text.encode())
        if size > self.max_frame_bytes:
            raise QueryFailed(
                f"the dataset's schema makes an info frame of {size} bytes, "
                f"over the gateway's websocket.max_frame_bytes ({self.max_frame_bytes})"
            )
        await self.send_text(text)

    async def snapshot(self, query_id: str, rows: int) -> None:
        """A subscription's snapshot is relayed whole (a browser gets the snapshot frame)."""
        await self.send_text(bp.snapshot_frame(query_id, rows))


async def _within(aw: Awaitable[T], seconds: float, errors: asyncio.Future[SaetaError]) -> T:
    """``aw``, unless ``seconds`` pass first (TIMEOUT) or the connector's error arrives
    first (a tunnel dropped for silence sets CONNECTOR_OFFLINE while a stalled data call
    still waits). asyncio.timeout, not wait_for or asyncio.wait: no task per awaited piece;
    the error ends the wait by moving the deadline to now."""
    if errors.done():
        raise errors.result()
    try:
        async with asyncio.timeout(seconds) as deadline:

            def expire_now(_: asyncio.Future[SaetaError]) -> None:
                deadline.reschedule(asyncio.get_running_loop().time())

            errors.add_done_callback(expire_now)
            try:
                return await aw
            finally:
                errors.remove_done_callback(expire_now)
    except TimeoutError:
        if errors.done():
            raise errors.result() from None
        raise QueryTimeout(f"the connector sent nothing for {seconds:g}s") from None


class InvalidArrowData(QueryFailed):
    """The connector sent bytes that are not whole Arrow IPC messages of the stream."""


@dataclass(frozen=True)
class Decompression:
    """A data call's compression rules: the codecs its batches may use (none: no batch may
    be compressed), the most their bodies may declare they decompress to, the codecs the
    client decodes itself (batches with one of them are validated and relayed compressed,
    as they came), and whether they are decoded here at all (not by a holder relaying for
    a peer replica, which decodes them itself)."""

    codecs: tuple[str, ...]
    max_bytes: int
    client_codecs: tuple[str, ...] = ()
    decode: bool = True


async def _next_piece(
    stream: DataStream, errors: asyncio.Future[SaetaError], tenant: str, out: Out, rules: Decompression
) -> Chunk | Resume | End:
    """The data call's next piece, framed by the relay and then fully validated
    (arrow_check.py); compressed batches are checked against ``rules`` before anything is
    decompressed, then decompressed, fully validated and relayed uncompressed. A broken
    call raises why, bad bytes InvalidArrowData."""
    try:
        piece = await stream.next_piece()
    except MessageTooLarge as exc:
        log.warning("refused connector data code=MESSAGE_TOO_LARGE tenant=%s: %s", tenant, exc)
        raise QueryFailed("the connector sent a data message over the gateway's limits.max_message_bytes") from None
    except ClosedEarly:
        raise await _why_cut(errors, closed=True) from None
    except CallBroken:
        raise await _why_cut(errors) from None
    except RelayError as exc:
        log.warning("refused connector data code=%s tenant=%s: %s", exc.code, tenant, exc.message)
        raise InvalidArrowData(f"the connector sent invalid Arrow data ({exc.code})") from None
    if isinstance(piece, Chunk) and piece.codec:
        return _decompressed(piece, out, rules, tenant)
    if out.validate and isinstance(piece, Chunk):
        try:
            arrow_check.check_payload(piece.payload, out.schema, piece.rows)
        except arrow_check.ArrowRefused as exc:
            log.warning("refused connector data code=FULL_VALIDATION tenant=%s: %s", tenant, exc.message)
            raise InvalidArrowData(exc.message) from None
    return piece


def _decompressed(piece: Chunk, out: Out, rules: Decompression, tenant: str) -> Chunk:
    """A compressed piece, once its codec and declared size pass ``rules``: decompressed and
    fully validated (whatever arrow_validation says: decoding is the check's cost already),
    then relayed as it came to a client that decodes the codec, else re-encoded without
    compression."""
    name = next((n for n, c in CODEC_CODES.items() if c == piece.codec), "")
    declared = piece.declared
    if name not in rules.codecs:
        accepted = ", ".join(rules.codecs) or "none"
        log.warning(
            "refused connector data code=COMPRESSION_NOT_NEGOTIATED tenant=%s: %s batches, accepted %s",
            tenant,
            name,
            accepted,
        )
        raise InvalidArrowData(
            f"the connector sent {name}-compressed batches on a call that accepts {accepted}"
            " (COMPRESSION_NOT_NEGOTIATED)"
        )
    if declared > rules.max_bytes:
        log.warning(
            "refused connector data code=DECOMPRESSED_TOO_LARGE tenant=%s: %d bytes declared, at most %d",
            tenant,
            declared,
            rules.max_bytes,
        )
        raise InvalidArrowData(
            f"the connector's compressed batches declare {declared} bytes, over the gateway's"
            f" limits.max_message_bytes ({rules.max_bytes}) (DECOMPRESSED_TOO_LARGE)"
        )
    if not rules.decode:  # a holder's, for a peer that decodes and validates them
        return piece
    try:
        payload = arrow_check.decompress_payload(piece.payload, out.schema, piece.rows, name not in rules.client_codecs)
    except arrow_check.ArrowRefused as exc:
        log.warning("refused connector data code=FULL_VALIDATION tenant=%s: %s", tenant, exc.message)
        raise InvalidArrowData(exc.message) from None
    if payload is None:  # checked; the client decodes it
        return piece
    return Chunk(payload, piece.rows, len(payload))


class StartedCall(Protocol):
    """The plan's first call, asked for with the plan (gateway/first_call.py's FirstCall):
    its data call, and ``close`` to give back the call slot it holds."""

    @property
    def call(self) -> LocalCall: ...

    def close(self) -> None: ...


def data_ask(
    ctx: QueryContext, request_id: str, ticket: str, limit: int | None, conditions: Sequence[Condition], skip: int
) -> pb.DoGetRequest:
    """The DoGetRequest for one data call of ``request_id`` (``ticket``: "" for the plan's
    first call, asked for before the plan names it)."""
    return pb.DoGetRequest(
        ticket=ticket,
        request_id=request_id,
        limit=-1 if limit is None else limit,
        filter=filter_codec.to_proto(conditions),
        max_chunk_bytes=ctx.max_frame_bytes - FRAME_HEADER_BYTES,
        skip_rows=skip,
        compression="" if ctx.peer_decodes is False else ctx.link.compression,
    )


async def relay_partition(
    ctx: QueryContext,
    request_id: str,
    ticket: str,
    limit: int | None,
    conditions: Sequence[Condition],
    out: Out,
    errors: asyncio.Future[SaetaError],
    follow: Follow | None = None,
    skip_rows: int = 0,
    frames: Callable[[int, list[Any]], Awaitable[None]] | None = None,
    first: StartedCall | None = None,
) -> tuple[int, int]:
    """One data call relayed, a query's partition or a subscription's call alike, each
    payload behind the stream's frame header (``out``: the header, and the schema every
    batch is validated against); the accounting is core/partition_relay.py's. A query's
    call holds one of the tenant's call slots for the session while it is open (a
    subscription's holds none: it may stay open for hours); ``first``, the plan's first
    call, asked for with the plan, holds its own. Returns the rows and bytes relayed."""
    slot = (
        ctx.slots.hold(ctx.link.tenant, ctx.owner)
        if ctx.slots and follow is None and first is None
        else contextlib.nullcontext()
    )
    async with slot:
        call: DataCall
        if first is not None:
            ask, call = first.call.ask, first.call
        else:
            ask = data_ask(ctx, request_id, ticket, limit, conditions, skip_rows if follow is None else follow.skip)
            if follow is not None and follow.on_resume is not None:
                ask.resume_points = True
                ask.cursor = follow.cursor
            call = ctx.link.open_call(ctx.calls, ask, follow is not None)
        relay = PartitionRelay(out.schema, out.frame_payload, limit, "query" if follow is None else "subscription")
        try:
            stopped = None if follow is None else follow.stopped
            stream = await call.opened(errors, ctx.timeout, stopped)
            if stream is None:  # unsubscribed before the call opened
                relay.unsubscribed()
                return relay.rows, relay.nbytes
            codecs = () if ctx.peer_decodes is False else ctx.link.codecs
            rules = Decompression(codecs, ctx.max_message_bytes, ctx.client_codecs, ctx.peer_decodes is not True)
            pieces: _Pieces = (
                _Pieces(ctx, stream, errors, out, rules)
                if follow is None
                else _Followed(ctx, stream, errors, out, rules, follow)
            )
            try:
                while True:
                    try:
                        piece = await pieces.next()
                    except InvalidArrowData:
                        relay.invalid_data()
                        raise
                    if isinstance(piece, End):
                        relay.end(piece.records)
                        break
                    if isinstance(piece, Resume):
                        if follow is None or follow.on_resume is None:  # never asked for
                            relay.invalid_data()
                            raise InvalidArrowData("the connector sent a resume point that was not asked for")
                        await follow.on_resume(piece)
                    elif isinstance(piece, Chunk):
                        if frames is not None:  # a resumable query's: behind a checkpoint
                            await frames(piece.rows, list(relay.chunk(piece.rows, piece.payload)))
                        else:
                            for payload in relay.chunk(piece.rows, piece.payload):
                                await ctx.send_parts((out.header, payload))
                        ctx.batch_sent()
                    elif follow is not None and follow.stopped.done():
                        relay.unsubscribed()
                        break
                    if follow is not None and relay.snapshot_due(follow.snapshot_rows()):
                        await follow.announce(ctx)
            finally:
                pieces.close()
            return relay.rows, relay.nbytes
        finally:
            call.finish(relay.abort)
            if first is not None:
                first.close()
            memory_trim.transfer_ended()
            ctx.rows_relayed += relay.rows
            ctx.bytes_relayed += relay.nbytes
            if ctx.metrics is not None:
                ctx.metrics.relayed(ctx.link.tenant, relay.rows, relay.nbytes)


class _Pieces:
    """A query's data call: each piece within the query's timeout, or the connector's error."""

    def __init__(
        self,
        ctx: QueryContext,
        stream: DataStream,
        errors: asyncio.Future[SaetaError],
        out: Out,
        rules: Decompression,
    ) -> None:
        self.ctx, self.stream, self.errors, self.out, self.rules = ctx, stream, errors, out, rules

    async def next(self) -> Chunk | Resume | End | None:
        piece = _next_piece(self.stream, self.errors, self.ctx.link.tenant, self.out, self.rules)
        return await _within(piece, self.ctx.timeout, self.errors)

    def close(self) -> None:
        pass


@dataclass(eq=False)
class Follow:
    """What a subscription's data call also waits on: the unsubscribe, and the connector's
    count of the snapshot's rows (SnapshotDone).

    Resumable (docs/protocol.md, "Resuming"): ``on_resume`` takes each resume point the
    connector sends (asked for with DoGetRequest.resume_points); a resumed call starts
    from ``cursor`` less ``skip`` rows, ``base`` rows already with the client, and the
    ``snapshot`` frame not sent again once ``announced`` (its rows; -1: not yet)."""

    query_id: str
    stop: asyncio.Event
    snapshot: asyncio.Future[int]
    on_resume: Callable[[Resume], Awaitable[None]] | None = None
    cursor: bytes = b""
    skip: int = 0
    base: int = 0
    announced: int = -1
    stopped: asyncio.Future[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.stopped = asyncio.ensure_future(self.stop.wait())

    def snapshot_rows(self) -> int | None:
        return self.snapshot.result() if self.snapshot.done() else None

    async def announce(self, ctx: QueryContext) -> None:
        """The snapshot's rows are all relayed: the ``snapshot`` frame, unless a call
        before this one (the subscription resumed) sent it already."""
        if self.announced < 0:
            self.announced = self.base + self.snapshot.result()
            await ctx.snapshot(self.query_id, self.announced)

    def close(self) -> None:
        self.stopped.cancel()


class _Followed(_Pieces):
    """A subscription's data call: no timeout between pieces (a source may stay as it is
    for hours); ``next`` also returns None when woken by the unsubscribe or the snapshot's
    count. The read of a piece survives a wake-up (it is not cancelled mid-message)."""

    def __init__(
        self,
        ctx: QueryContext,
        stream: DataStream,
        errors: asyncio.Future[SaetaError],
        out: Out,
        rules: Decompression,
        follow: Follow,
    ) -> None:
        super().__init__(ctx, stream, errors, out, rules)
        self.follow = follow
        self._reading: asyncio.Future[Chunk | Resume | End] | None = None

    async def next(self) -> Chunk | Resume | End | None:
        if self._reading is None:
            self._reading = asyncio.ensure_future(
                _next_piece(self.stream, self.errors, self.ctx.link.tenant, self.out, self.rules)
            )
        waiters: set[asyncio.Future[Any]] = {self._reading, self.follow.stopped, self.errors}
        if not self.follow.snapshot.done():
            waiters.add(self.follow.snapshot)
        await asyncio.wait(waiters, return_when=FIRST)
        if self.errors.done():
            raise self.errors.result()
        if not self._reading.done():
            return None
        reading, self._reading = self._reading, None
        return reading.result()

    def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()


async def _why_cut(errors: asyncio.Future[SaetaError], closed: bool = False) -> SaetaError:
    """The reason a data call ended without its end marker: the connector's error, else
    (``closed``: the call's stream ended cleanly, the tunnel still up) a message over the
    limit, which grpcio ends that way, else the connector went away."""
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(asyncio.shield(errors), ERROR_GRACE_SECONDS)
    if errors.done():
        return errors.result()
    if closed:
        return QueryFailed(
            "the connector's data call ended without its end: a data message over the gateway's "
            "limits.max_message_bytes, or a fault of the connector"
        )
    return ConnectorOffline("the connector stopped sending mid-query")
