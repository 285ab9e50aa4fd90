"""One browser query or subscription: FlightInfo from the tenant's connector, checked,
then its partitions' data calls relayed (gateway/call_relay.py) as one Arrow IPC stream
(the schema first, the end-of-stream marker last), then the ``end`` frame. Partitions run
several at once (their frames interleave) unless the query has a limit or asks for
order; a subscription has one call, followed until unsubscribed."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence

import pyarrow as pa

from saeta.core import browser_protocol as bp
from saeta.core.browser_protocol import FRAME_HEADER_BYTES
from saeta.core.filters import Condition
from saeta.core.query_progress import Progress
from saeta.errors import QueryFailed, RelayError, SaetaError
from saeta.gateway import arrow_check
from saeta.gateway.call_relay import Follow, Out, QueryContext, relay_partition
from saeta.gateway.checkpoints import Checkpoints, FollowCheckpoints, Resuming
from saeta.gateway.first_call import FirstCall
from saeta.relay import EOS, Relay, frame_header
from saeta.v1 import tunnel_pb2 as pb

__all__ = ["QueryContext", "checked_partitions", "checked_schema", "run_query", "run_subscription", "schema_fields"]

log = logging.getLogger("saeta.gateway.query")


# What a connector's answer may hold (docs/tunnel.md): a hostile one made one query cost the
# gateway 23.5 CPU-s with 100,000 empty partitions, and a 7.4 MB info frame with 100,000
# columns. The browser protocol asks for at most 1,024 columns by name.
MAX_PARTITIONS = 10_000
MAX_SCHEMA_FIELDS = 4096
MAX_SCHEMA_TEXT = 512 * 1024


def checked_schema(relay: Relay, schema_ipc: bytes) -> pa.Schema:
    """The connector's schema message, framing checked by the relay, then read; one
    with more columns, or longer names and types, than a browser is ever sent is refused."""
    try:
        relay.check_schema_message(schema_ipc)
    except RelayError as exc:
        raise QueryFailed(f"the connector sent an invalid schema: {exc}") from None
    schema = arrow_check.read_schema(schema_ipc)
    if len(schema) > MAX_SCHEMA_FIELDS:
        raise QueryFailed(f"the connector sent a schema of {len(schema)} columns (at most {MAX_SCHEMA_FIELDS})")
    if sum(len(f.name) + len(str(f.type)) for f in schema) > MAX_SCHEMA_TEXT:
        raise QueryFailed(f"the connector sent a schema whose names and types exceed {MAX_SCHEMA_TEXT} characters")
    return schema


def checked_partitions(info: pb.FlightInfoResponse) -> None:
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


async def run_query(q: bp.RunQuery, stream_id: int, ctx: QueryContext) -> None:
    """Streams query ``q`` as stream ``stream_id``. Raises a SaetaError on failure (the
    caller sends the error frame); on cancellation tells the connector to stop."""
    await _run(q, stream_id, ctx, None)


async def run_subscription(q: bp.Subscribe, stream_id: int, ctx: QueryContext, stop: asyncio.Event) -> None:
    """Streams subscription ``q`` as stream ``stream_id``: the snapshot, a ``snapshot``
    frame once its rows are relayed, then new rows as they come, until ``stop`` is set
    (unsubscribe: the stream is closed with its end-of-stream marker and an ``end``
    frame). Raises a SaetaError when the source fails or vanishes; on cancellation tells
    the connector to stop."""
    await _run(q, stream_id, ctx, stop)


async def _run(q: bp.RunQuery | bp.Subscribe, stream_id: int, ctx: QueryContext, stop: asyncio.Event | None) -> None:
    """A query or a subscription: the connector's FlightInfo, checked; the ``info`` frame
    and the schema message; the partitions' data relayed (a subscription: its one call,
    followed); the end-of-stream marker and the ``end`` frame. A resumable query's
    frames come in checkpointed groups (gateway/checkpoints.py)."""
    # First: a forged token goes no further, and leaves nothing behind.
    resuming = Resuming.asked(q, ctx.resume_keys, time.time())
    request_id = secrets.token_hex(8)
    link = ctx.link
    errors = link.watch_errors(request_id)
    follow = None if stop is None else Follow(q.id, stop, link.watch_snapshot(request_id))
    limit = q.limit if isinstance(q, bp.RunQuery) else None
    first = None
    if follow is None and (resuming is None or resuming.token is None):  # a fresh query
        first = FirstCall.asked(ctx, request_id, limit, q.filter)
    try:
        info = await link.get_flight_info(
            request_id,
            q.dataset,
            q.columns,
            limit,
            ctx.timeout,
            q.filter,
            follow=follow is not None,
            resumable=resuming is not None,
            aggregate=q.aggregate,
            page=q.page if isinstance(q, bp.RunQuery) else None,
            first_call=None if first is None else first.call,
        )
        if first is not None:
            first.answered(info)
        tickets = [part.ticket for part in info.partitions]
        checked_partitions(info)
        if (q.aggregate or (isinstance(q, bp.RunQuery) and q.page)) and not info.aggregated:
            raise QueryFailed(
                "the dataset's connector is of a version that does not run aggregates or pages; upgrade it"
            )
        if follow is not None:
            progress = _follow_from(resuming, info, follow)
        else:
            progress = resuming.progress(info, tickets) if resuming is not None else None
        if progress is not None:
            what = "query" if follow is None else "subscription"
            log.info("%s resumed tenant=%s dataset=%s rows=%d", what, link.tenant, q.dataset, progress.rows)
        out = await _begin(ctx, q, stream_id, info, follow is not None, progress, resuming)
        if follow is not None:
            frames = None
            if resuming is not None and resuming.able:
                marks = FollowCheckpoints(ctx, out, resuming, follow)
                follow.on_resume, frames = marks.resume_at, marks.send
            rows, nbytes = await relay_partition(
                ctx, request_id, tickets[0], None, q.filter, out, errors, follow, frames=frames
            )
            rows += follow.base
        else:
            progress = progress or Progress(len(tickets))
            checkpoints = resuming.checkpoints(ctx, q.id, out, progress) if resuming and resuming.able else None
            if limit is None and not (isinstance(q, bp.RunQuery) and q.ordered):
                nbytes = await _fetch_concurrently(
                    ctx, request_id, tickets, q.filter, out, errors, progress, checkpoints, first
                )
            else:
                nbytes = await _fetch_in_order(
                    ctx, request_id, tickets, limit, q.filter, out, errors, progress, checkpoints, first
                )
            rows = progress.rows
        await ctx.send_parts((out.header, EOS))
        nbytes += len(info.schema) + len(EOS)
        await ctx.send_text(bp.end_frame(q.id, rows, nbytes))
        what = "query done" if follow is None else "subscription ended"
        log.info("%s tenant=%s dataset=%s rows=%d bytes=%d", what, link.tenant, q.dataset, rows, nbytes)
    except asyncio.CancelledError:
        link.cancel(request_id)
        raise
    finally:
        if first is not None:
            first.close()
        if follow is not None:
            follow.close()
        link.unwatch(request_id)


def _follow_from(resuming: Resuming | None, info: pb.FlightInfoResponse, follow: Follow) -> Progress | None:
    """A subscription resumed from its token: the connector's cursor and the rows the
    client has (as a Progress, for the info frame); None from its snapshot."""
    at = resuming.follow_from(info) if resuming is not None else None
    if resuming is None or resuming.token is None or at is None:
        return None
    follow.cursor, follow.skip, follow.announced = at.cursor, at.skip, at.snapshot
    follow.base = resuming.token.position.rows
    return Progress(1, resuming.token.position)


async def _begin(
    ctx: QueryContext,
    q: bp.RunQuery | bp.Subscribe,
    stream_id: int,
    info: pb.FlightInfoResponse,
    follow: bool,
    progress: Progress | None,
    resuming: Resuming | None,
) -> Out:
    """Checks the connector's FlightInfo, sends the ``info`` frame and the schema message;
    the stream's Out."""
    if follow and len(info.partitions) != 1:
        raise QueryFailed("the connector answered a subscription with several partitions")
    schema = checked_schema(ctx.relay, info.schema)
    out = _out(ctx, stream_id, schema, info.schema)
    total = None if follow or info.total_records < 0 else info.total_records
    able = None if resuming is None else resuming.able
    resumed = progress.rows if progress is not None and resuming is not None and resuming.token else None
    await ctx.send_info(
        bp.info_frame(q.id, stream_id, schema_fields(schema), len(info.partitions), total, able, resumed)
    )
    await ctx.send_parts((out.header, info.schema))
    return out


async def _fetch_in_order(
    ctx: QueryContext,
    request_id: str,
    tickets: Sequence[str],
    limit: int | None,
    conditions: Sequence[Condition],
    out: Out,
    errors: asyncio.Future[SaetaError],
    progress: Progress,
    checkpoints: Checkpoints | None,
    first: FirstCall | None,
) -> int:
    """An ordered query, or one with a limit: one partition after the other, each asked
    for the rows still wanted, so the sources stop as soon as the limit is reached.
    Returns the bytes relayed."""
    nbytes = 0
    while progress.rows != limit and (begun := progress.begin()) is not None:
        index, skip = begun
        remaining = None if limit is None else limit - progress.rows
        nbytes += await _partition(
            ctx, request_id, tickets, index, skip, remaining, conditions, out, errors, progress, checkpoints, first
        )
    return nbytes


async def _partition(
    ctx: QueryContext,
    request_id: str,
    tickets: Sequence[str],
    index: int,
    skip: int,
    limit: int | None,
    conditions: Sequence[Condition],
    out: Out,
    errors: asyncio.Future[SaetaError],
    progress: Progress,
    checkpoints: Checkpoints | None,
    first: FirstCall | None,
) -> int:
    """Partition ``index`` relayed from row ``skip``; its rows counted in ``progress``.
    The plan's ``first`` call, if the connector started it, serves partition 0."""
    frames = None if checkpoints is None else checkpoints.sender(index)
    started = None if first is None else first.take(index, skip)
    rows, nbytes = await relay_partition(
        ctx, request_id, tickets[index], limit, conditions, out, errors, skip_rows=skip, frames=frames, first=started
    )
    if checkpoints is None:
        progress.sent(index, rows)
    progress.finished(index)
    return nbytes


async def _fetch_concurrently(
    ctx: QueryContext,
    request_id: str,
    tickets: Sequence[str],
    conditions: Sequence[Condition],
    out: Out,
    errors: asyncio.Future[SaetaError],
    progress: Progress,
    checkpoints: Checkpoints | None,
    first: FirstCall | None,
) -> int:
    """A query without a limit: up to ``ctx.partitions_in_flight`` partitions at once,
    their frames interleaved on the socket (each frame holds whole IPC messages of one
    schema, so the stream stays valid). The first failure stops the others. Returns the
    bytes relayed."""

    async def worker() -> int:
        nbytes = 0
        while (begun := progress.begin()) is not None:  # shared: the next partition not yet begun
            index, skip = begun
            nbytes += await _partition(
                ctx, request_id, tickets, index, skip, None, conditions, out, errors, progress, checkpoints, first
            )
        return nbytes

    workers = [asyncio.ensure_future(worker()) for _ in range(min(ctx.partitions_in_flight, len(tickets)))]
    try:
        totals = [await done for done in asyncio.as_completed(workers)]
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return sum(totals)
