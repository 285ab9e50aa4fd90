"""One browser query: FlightInfo from the tenant's connector, then its partitions' DoGet
calls relayed frame by frame to the socket as one Arrow IPC stream (the schema first,
the end-of-stream marker last), then the ``end`` frame. Partitions run several at once
(their frames interleave) unless the query has a limit or asks for order. A relayed
payload is sent as a view of the tunnel message it arrived in, never copied."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa

from saeta import memory_trim
from saeta.core import browser_protocol as bp
from saeta.core import filter_codec
from saeta.core.browser_protocol import DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES
from saeta.core.filters import Condition
from saeta.core.partition_relay import PartitionRelay
from saeta.core.tunnel_codec import Abort
from saeta.errors import ConnectorOffline, QueryFailed, QueryTimeout, RelayError, SaetaError
from saeta.gateway import arrow_check
from saeta.gateway.call_slots import CallSlots
from saeta.gateway.data_calls import (
    CallBroken,
    Chunk,
    ClosedEarly,
    DataCalls,
    DataStream,
    End,
    MessageTooLarge,
    PendingCall,
)
from saeta.gateway.registry import ConnectorLink
from saeta.gateway.ws_protocol import Buffer
from saeta.relay import EOS, Relay, frame_header
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
# What a connector's answer may hold (docs/tunnel.md): a hostile one made one query cost the
# gateway 23.5 CPU-s with 100,000 empty partitions, and a 7.4 MB info frame with 100,000
# columns. The browser protocol asks for at most 1,024 columns by name.
MAX_PARTITIONS = 10_000
MAX_SCHEMA_FIELDS = 4096
MAX_SCHEMA_TEXT = 512 * 1024


@dataclass
class QueryContext:
    link: ConnectorLink
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

    async def send_info(self, text: str) -> None:
        """A text frame that must fit the frame limit (info: its size follows the schema)."""
        size = len(text.encode())
        if size > self.max_frame_bytes:
            raise QueryFailed(
                f"the dataset's schema makes an info frame of {size} bytes, "
                f"over the gateway's websocket.max_frame_bytes ({self.max_frame_bytes})"
            )
        await self.send_text(text)


def _checked_schema(ctx: QueryContext, schema_ipc: bytes) -> pa.Schema:
    """The connector's schema message, framing checked by the relay, then read; one
    with more columns, or longer names and types, than a browser is ever sent is refused."""
    try:
        ctx.relay.check_schema_message(schema_ipc)
    except RelayError as exc:
        raise QueryFailed(f"the connector sent an invalid schema: {exc}") from None
    schema = arrow_check.read_schema(schema_ipc)
    if len(schema) > MAX_SCHEMA_FIELDS:
        raise QueryFailed(f"the connector sent a schema of {len(schema)} columns (at most {MAX_SCHEMA_FIELDS})")
    if sum(len(f.name) + len(str(f.type)) for f in schema) > MAX_SCHEMA_TEXT:
        raise QueryFailed(f"the connector sent a schema whose names and types exceed {MAX_SCHEMA_TEXT} characters")
    return schema


def _checked_partitions(info: pb.FlightInfoResponse) -> None:
    if len(info.partitions) > MAX_PARTITIONS:
        raise QueryFailed(f"the connector answered with {len(info.partitions)} partitions (at most {MAX_PARTITIONS})")


def _out(ctx: QueryContext, stream_id: int, schema: pa.Schema, schema_ipc: bytes) -> Out:
    out = Out(frame_header(stream_id), schema, ctx.full_validation, ctx.max_frame_bytes - FRAME_HEADER_BYTES)
    if len(schema_ipc) > out.frame_payload:
        raise QueryFailed(
            f"the dataset's schema message is {len(schema_ipc)} bytes, over the gateway's websocket.max_frame_bytes"
        )
    return out


def schema_fields(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in schema]


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


async def run_query(q: bp.RunQuery, stream_id: int, ctx: QueryContext) -> None:
    """Streams query ``q`` as stream ``stream_id``. Raises a SaetaError on failure (the
    caller sends the error frame); on cancellation tells the connector to stop."""
    request_id = secrets.token_hex(8)
    link = ctx.link
    errors = link.watch_errors(request_id)
    try:
        info = await link.get_flight_info(request_id, q.dataset, q.columns, q.limit, ctx.timeout, q.filter)
        _checked_partitions(info)
        schema = _checked_schema(ctx, info.schema)
        fields = schema_fields(schema)
        total = info.total_records if info.total_records >= 0 else None
        out = _out(ctx, stream_id, schema, info.schema)
        await ctx.send_info(bp.info_frame(q.id, stream_id, fields, len(info.partitions), total))
        header = out.header
        await ctx.send_parts((header, info.schema))
        tickets = [part.ticket for part in info.partitions]
        if q.limit is None and not q.ordered:
            rows, nbytes = await _fetch_concurrently(ctx, request_id, tickets, q.filter, out, errors)
        else:
            rows, nbytes = await _fetch_in_order(ctx, request_id, tickets, q.limit, q.filter, out, errors)
        nbytes += len(info.schema)
        await ctx.send_parts((header, EOS))
        nbytes += len(EOS)
        await ctx.send_text(bp.end_frame(q.id, rows, nbytes))
        log.info("query done tenant=%s dataset=%s rows=%d bytes=%d", link.tenant, q.dataset, rows, nbytes)
    except asyncio.CancelledError:
        link.cancel(request_id)
        raise
    finally:
        link.unwatch(request_id)


async def _fetch_in_order(
    ctx: QueryContext,
    request_id: str,
    tickets: Sequence[str],
    limit: int | None,
    conditions: Sequence[Condition],
    out: Out,
    errors: asyncio.Future[SaetaError],
) -> tuple[int, int]:
    """An ordered query, or one with a limit: one partition after the other, each asked
    for the rows still wanted, so the sources stop as soon as the limit is reached."""
    rows = nbytes = 0
    for ticket in tickets:
        if rows == limit:
            break
        remaining = None if limit is None else limit - rows
        got_rows, got_bytes = await _fetch_partition(ctx, request_id, ticket, remaining, conditions, out, errors)
        rows += got_rows
        nbytes += got_bytes
    return rows, nbytes


async def _fetch_concurrently(
    ctx: QueryContext,
    request_id: str,
    tickets: Sequence[str],
    conditions: Sequence[Condition],
    out: Out,
    errors: asyncio.Future[SaetaError],
) -> tuple[int, int]:
    """A query without a limit: up to ``ctx.partitions_in_flight`` partitions at once,
    their frames interleaved on the socket (each frame holds whole IPC messages of one
    schema, so the stream stays valid). The first failure stops the others."""
    queue = iter(tickets)  # shared: each worker takes the next partition not yet taken

    async def worker() -> tuple[int, int]:
        rows = nbytes = 0
        for ticket in queue:
            got_rows, got_bytes = await _fetch_partition(ctx, request_id, ticket, None, conditions, out, errors)
            rows += got_rows
            nbytes += got_bytes
        return rows, nbytes

    workers = [asyncio.ensure_future(worker()) for _ in range(min(ctx.partitions_in_flight, len(tickets)))]
    try:
        totals = [await done for done in asyncio.as_completed(workers)]
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return sum(r for r, _ in totals), sum(b for _, b in totals)


class InvalidArrowData(QueryFailed):
    """The connector sent bytes that are not whole Arrow IPC messages of the stream."""


async def _open_data_call(
    ctx: QueryContext,
    pending: PendingCall,
    request_id: str,
    ticket: str,
    limit: int | None,
    conditions: Sequence[Condition],
    errors: asyncio.Future[SaetaError],
    stop: asyncio.Future[Any] | None = None,
) -> DataStream | None:
    """Asks the connector for a partition's data call and waits for it to open. None when
    ``stop`` completes first; raises the connector's error, or TIMEOUT."""
    ctx.link.send(
        pb.GatewayMessage(
            do_get=pb.DoGetRequest(
                ticket=ticket,
                request_id=request_id,
                call_id=pending.call_id,
                limit=-1 if limit is None else limit,
                filter=filter_codec.to_proto(conditions),
                max_chunk_bytes=ctx.max_frame_bytes - FRAME_HEADER_BYTES,
            )
        )
    )
    arrived = asyncio.ensure_future(pending.arrived)
    waiters: set[asyncio.Future[Any]] = {arrived, errors}
    if stop is not None:
        waiters.add(stop)
    done, _ = await asyncio.wait(waiters, timeout=ctx.timeout, return_when=FIRST)
    if arrived in done:
        return arrived.result()
    arrived.cancel()
    if errors in done:
        raise errors.result()
    if not done:
        raise QueryTimeout(f"the connector did not open the data call within {ctx.timeout:g}s")
    return None


async def _next_piece(stream: DataStream, errors: asyncio.Future[SaetaError], tenant: str, out: Out) -> Chunk | End:
    """The data call's next piece, framed by the relay and then fully validated
    (arrow_check.py); a broken call raises why, bad bytes InvalidArrowData."""
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
    if out.validate and isinstance(piece, Chunk):
        try:
            arrow_check.check_payload(piece.payload, out.schema, piece.rows)
        except arrow_check.ArrowRefused as exc:
            log.warning("refused connector data code=FULL_VALIDATION tenant=%s: %s", tenant, exc.message)
            raise InvalidArrowData(exc.message) from None
    return piece


async def _fetch_partition(
    ctx: QueryContext,
    request_id: str,
    ticket: str,
    limit: int | None,
    conditions: Sequence[Condition],
    out: Out,
    errors: asyncio.Future[SaetaError],
) -> tuple[int, int]:
    """Relays one partition's data call, each payload behind the stream's frame header
    (``out``: the header, and the schema every batch is validated against), holding one
    of the tenant's call slots for the session while the call is open."""
    slot = ctx.slots.hold(ctx.link.tenant, ctx.owner) if ctx.slots is not None else contextlib.nullcontext()
    async with slot:
        return await _relay_partition(ctx, request_id, ticket, limit, conditions, out, errors)


async def _relay_partition(
    ctx: QueryContext,
    request_id: str,
    ticket: str,
    limit: int | None,
    conditions: Sequence[Condition],
    out: Out,
    errors: asyncio.Future[SaetaError],
) -> tuple[int, int]:
    link = ctx.link
    pending = ctx.calls.expect(link.tenant)
    relay = PartitionRelay(out.schema, out.frame_payload, limit)
    try:
        stream = await _open_data_call(ctx, pending, request_id, ticket, limit, conditions, errors)
        assert stream is not None
        while True:
            try:
                piece = await _within(_next_piece(stream, errors, link.tenant, out), ctx.timeout, errors)
            except InvalidArrowData:
                relay.invalid_data()
                raise
            if isinstance(piece, End):
                relay.end(piece.records)
                return relay.rows, relay.nbytes
            for payload in relay.chunk(piece.rows, piece.payload):
                await ctx.send_parts((out.header, payload))
    finally:
        ctx.calls.drop(pending)
        pending.finish(relay.abort)
        memory_trim.transfer_ended()


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


async def run_subscription(q: bp.Subscribe, stream_id: int, ctx: QueryContext, stop: asyncio.Event) -> None:
    """Streams subscription ``q`` as stream ``stream_id``: the snapshot, a ``snapshot``
    frame once its rows are relayed, then new rows as they come, until ``stop`` is set
    (unsubscribe: the stream is closed with its end-of-stream marker and an ``end``
    frame). Raises a SaetaError when the source fails or vanishes; on cancellation tells
    the connector to stop."""
    request_id = secrets.token_hex(8)
    link = ctx.link
    errors = link.watch_errors(request_id)
    snapshot = link.watch_snapshot(request_id)
    pending = None
    relay: PartitionRelay | None = None
    stopped = asyncio.ensure_future(stop.wait())
    try:
        info = await link.get_flight_info(request_id, q.dataset, q.columns, None, ctx.timeout, q.filter, follow=True)
        schema = _checked_schema(ctx, info.schema)
        fields = schema_fields(schema)
        if len(info.partitions) != 1:
            raise QueryFailed("the connector answered a subscription with several partitions")
        out = _out(ctx, stream_id, schema, info.schema)
        await ctx.send_info(bp.info_frame(q.id, stream_id, fields, 1, None))
        header = out.header
        await ctx.send_parts((header, info.schema))
        relay = PartitionRelay(out.schema, out.frame_payload, None, "subscription")
        pending = ctx.calls.expect(link.tenant)
        ticket = info.partitions[0].ticket
        stream = await _open_data_call(ctx, pending, request_id, ticket, None, q.filter, errors, stopped)
        piece_task: asyncio.Future[Chunk | End] | None = None
        while stream is not None and not stop.is_set():
            if relay.snapshot_due(snapshot.result() if snapshot.done() else None):
                await ctx.send_text(bp.snapshot_frame(q.id, snapshot.result()))
            if piece_task is None:
                piece_task = asyncio.ensure_future(_next_piece(stream, errors, link.tenant, out))
            waiters: set[asyncio.Future[Any]] = {piece_task, stopped, errors}
            if not relay.snapshot_told:
                waiters.add(snapshot)
            await asyncio.wait(waiters, return_when=FIRST)
            if errors.done():
                raise errors.result()
            if not piece_task.done():
                continue
            try:
                piece = piece_task.result()
            except InvalidArrowData:
                relay.invalid_data()
                raise
            piece_task = None
            if isinstance(piece, End):
                break  # the connector ended it (it does not today): end the stream cleanly
            for payload in relay.chunk(piece.rows, piece.payload):
                await ctx.send_parts((header, payload))
        if piece_task is not None:
            piece_task.cancel()
        await ctx.send_parts((header, EOS))
        rows, nbytes = relay.rows, len(info.schema) + relay.nbytes + len(EOS)
        await ctx.send_text(bp.end_frame(q.id, rows, nbytes))
        relay.unsubscribed()
        log.info("subscription ended tenant=%s dataset=%s rows=%d bytes=%d", link.tenant, q.dataset, rows, nbytes)
    except asyncio.CancelledError:
        link.cancel(request_id)
        raise
    finally:
        stopped.cancel()
        if pending is not None:
            ctx.calls.drop(pending)
            pending.finish(relay.abort if relay is not None else Abort("subscription stopped"))
            memory_trim.transfer_ended()
        link.unwatch(request_id)
