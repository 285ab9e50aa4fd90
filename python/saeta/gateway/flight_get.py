"""DoGet on the Flight endpoint (docs/flight.md, "DoGet"): one endpoint's ticket, verified
for the caller's session, read from the tenant's connector partition after partition
(the limit counted over all of them) by the socket's relay loop (gateway/call_relay.py),
each IPC message written as a FlightData.

The socket's bounds hold: a write the client does not take within
``websocket.stalled_seconds`` ends the call (CLIENT_TOO_SLOW), gRPC's flow control
holds the connector back meanwhile (the relay awaits each write, so at most one
message and the transport's window wait in the gateway); a revoked or expired session
ends it (SESSION_REVOKED, UNAUTHORIZED); a client that cancels stops the connector's
read."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

import grpc.aio

from saeta.core import browser_protocol as bp
from saeta.core import flight_data
from saeta.core.browser_protocol import FRAME_HEADER_BYTES
from saeta.core.flight_ticket import FlightTicket
from saeta.errors import ClientTooSlow, QueryFailed, SaetaError
from saeta.gateway.call_relay import Link, Out, QueryContext, relay_partition
from saeta.gateway.flight_info import Caller, FlightGateway, SchemaCache, admitted, describe, write_within
from saeta.gateway.peer_link import RemoteLink
from saeta.gateway.query import checked_schema
from saeta.gateway.session_watch import SessionWatch

log = logging.getLogger("saeta.gateway.flight")

# A DoGet's call header naming the IPC body codecs its client decodes, comma-separated
# (docs/flight.md, "Compression"): batches the connector compressed with one of them are
# relayed compressed. Without it every batch comes uncompressed, as any Flight client reads.
COMPRESSION_HEADER = "saeta-compression"


def client_codecs(metadata: Sequence[tuple[str, Any]] | None) -> tuple[str, ...]:
    """The codecs a DoGet's ``saeta-compression`` header names: at most bp.MAX_CODECS
    names of at most bp.MAX_CODEC_CHARS characters each; anything else in it is ignored."""
    for key, value in metadata or ():
        if key == COMPRESSION_HEADER and isinstance(value, str):
            names = (n.strip() for n in value.split(",", bp.MAX_CODECS)[: bp.MAX_CODECS])
            return tuple(n for n in names if 0 < len(n) <= bp.MAX_CODEC_CHARS)
    return ()


class SchemaChanged(QueryFailed):
    """The dataset's schema is not the one the ticket was described with."""

    code = "SCHEMA_CHANGED"


class FlightStream:
    """One DoGet's stream."""

    def __init__(
        self,
        gateway: FlightGateway,
        caller: Caller,
        ticket: FlightTicket,
        context: grpc.aio.ServicerContext[Any, Any],
        schemas: SchemaCache,
    ) -> None:
        self.gateway, self.caller, self.ticket, self.context, self.schemas = gateway, caller, ticket, context, schemas
        self.ended: SaetaError | None = None  # why the stream was ended from outside
        self.task: asyncio.Task[int] | None = None
        self.ctx: QueryContext | None = None  # once the relay starts: its rows and bytes, for the audit line
        cfg = gateway.cfg
        self.watch = SessionWatch(gateway.sessions, caller.token, caller.session, cfg.session_cache_seconds, self.end)

    def end(self, why: SaetaError) -> None:
        if self.task is not None and not self.task.done() and self.ended is None:
            self.ended = why
            self.task.cancel()

    def on_revoked(self, sid: str) -> None:
        self.watch.on_revoked(sid)

    async def serve(self, streams: set[FlightStream]) -> int:
        """Streams the ticket's rows; returns how many. Raises the SaetaError that ended it."""
        with admitted(self.gateway, self.caller.session):
            self.task = asyncio.ensure_future(self._run())
            streams.add(self)
            self.watch.start()
            try:
                return await self.task
            except asyncio.CancelledError:
                if self.ended is None:
                    raise  # the client went away: nobody to tell
                raise self.ended from None
            finally:
                self.watch.stop()
                streams.discard(self)
                if not self.task.done():
                    self.task.cancel()

    async def _write(self, message: bytes) -> None:
        seconds = self.gateway.cfg.stalled_seconds
        try:
            await write_within(self.context, message, seconds)
        except ClientTooSlow:
            s = self.caller.session
            log.info(
                "flight stalled code=CLIENT_TOO_SLOW tenant=%s session=%s: nothing taken for %gs",
                s.tenant,
                self.caller.fp,
                seconds,
            )
            raise

    async def _send_parts(self, parts: Sequence[Any]) -> None:
        payload = parts[-1]
        s = self.caller.session
        wait = self.gateway.socket_limits.quotas.pace(s.tenant, s.user_id, len(payload), time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)
        for message in flight_data.of_payload(payload):
            await self._write(message)

    async def _no_text(self, text: str) -> None:
        """A partition's relay sends no text frame (those are a query's and a subscription's)."""

    async def _schema(self, link: Link) -> bytes:
        """The schema the ticket was described with: kept here, else described again (and
        always down a link to another replica: describing picks the replica to read from)."""
        t = self.ticket
        kept = self.schemas.get(t.schema)
        if kept is not None and not (isinstance(link, RemoteLink) and link.holder is None):
            return kept
        q = bp.RunQuery("flight", t.dataset, t.columns, t.limit, t.conditions, aggregate=t.aggregate, page=t.page)
        info = await describe(self.gateway, link, q)
        if self.schemas.put(info.schema) != t.schema:
            raise SchemaChanged("the dataset's columns changed since GetFlightInfo: ask for the FlightInfo again")
        return info.schema

    async def _run(self) -> int:
        gw, t, s = self.gateway, self.ticket, self.caller.session
        cfg = gw.cfg
        link = await gw.router.route(s.tenant, t.dataset, self.caller.fp)
        schema_ipc = await self._schema(link)
        schema = checked_schema(gw.relay, schema_ipc)
        payload = cfg.flight.max_message_bytes - FRAME_HEADER_BYTES
        out = Out(b"", schema, cfg.arrow_validation == "full", payload)
        await self._write(flight_data.of_schema(schema_ipc, t.names))
        ctx = QueryContext(
            link,
            gw.calls,
            gw.relay,
            cfg.query_seconds,
            self._no_text,
            self._send_parts,
            1,
            cfg.arrow_validation == "full",
            gw.socket_limits.slots,
            s.sid,
            cfg.flight.max_message_bytes,
            metrics=gw.metrics,
            transport="flight",
            max_message_bytes=cfg.max_message_bytes,
            client_codecs=client_codecs(self.context.invocation_metadata()),
        )
        self.ctx = ctx
        request_id = secrets.token_hex(8)
        errors = link.watch_errors(request_id)
        rows = 0
        try:
            for part in t.parts:
                remaining = None if t.limit is None else t.limit - rows
                if remaining == 0:
                    break
                got, _ = await relay_partition(ctx, request_id, part, remaining, t.conditions, out, errors)
                rows += got
        except asyncio.CancelledError:
            link.cancel(request_id)
            raise
        finally:
            link.unwatch(request_id)
        return rows
