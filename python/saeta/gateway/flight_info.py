"""GetFlightInfo on the Flight endpoint (docs/flight.md): a query (a dataset's path, saeta's
query JSON, or a Flight SQL statement turned into one) described by the tenant's
connector, checked as a socket's query is (gateway/query.py), and answered as a
FlightInfo whose endpoints carry tickets signed for the session (core/flight_ticket.py).

Also what DoGet shares with it: the admission of one call against the session's and the
tenant's caps and quotas, and the schemas described here, kept by their digest so a
DoGet on this replica need not ask the connector again (on another replica, or once
evicted, it asks, and refuses SCHEMA_CHANGED if the answer differs)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import timestamp_pb2

from saeta.config import GatewayConfig
from saeta.core import browser_protocol as bp
from saeta.core import flight_data, flight_ticket
from saeta.core.quotas import QuotaExceeded
from saeta.core.resume_token import session_digest
from saeta.core.session_info import SessionInfo
from saeta.core.session_token import fingerprint
from saeta.errors import ClientTooSlow, DatasetNotFound, QueryFailed, TooManyQueries
from saeta.flight import flight_pb2 as fpb
from saeta.gateway.call_relay import Link
from saeta.gateway.query import checked_partitions, checked_schema
from saeta.gateway.query_parts import QueryParts
from saeta.v1 import tunnel_pb2 as pb

log = logging.getLogger("saeta.gateway.flight")

SCHEMAS_KEPT = 1024


FlightGateway = QueryParts  # what of gateway/app.py's Gateway the Flight endpoint uses


@dataclass(frozen=True)
class Caller:
    """A Flight call's session, validated, with its token's fingerprint for log lines."""

    session: SessionInfo
    token: str

    @property
    def fp(self) -> str:
        return fingerprint(self.token)


class SchemaCache:
    """Schema messages described on this replica, by digest (at most SCHEMAS_KEPT)."""

    def __init__(self) -> None:
        self._kept: OrderedDict[str, bytes] = OrderedDict()

    def put(self, schema_ipc: bytes) -> str:
        digest = flight_ticket.schema_digest(schema_ipc)
        self._kept[digest] = schema_ipc
        self._kept.move_to_end(digest)
        while len(self._kept) > SCHEMAS_KEPT:
            self._kept.popitem(last=False)
        return digest

    def get(self, digest: str) -> bytes | None:
        return self._kept.get(digest)


async def write_within(context: Any, message: bytes, seconds: float) -> None:
    """One message of a streamed answer, given up (CLIENT_TOO_SLOW) when the client takes
    nothing for ``seconds`` (websocket.stalled_seconds): gRPC's flow control holds the
    writer meanwhile, so nothing piles up here."""
    try:
        async with asyncio.timeout(seconds):
            await context.write(message)
    except TimeoutError:
        raise ClientTooSlow(f"the client took nothing for {seconds:g}s") from None


@contextlib.contextmanager
def admitted(gateway: FlightGateway, session: SessionInfo) -> Iterator[None]:
    """One Flight call that asks a connector, counted as one query of the session
    (limits.max_queries_per_session) and against the user's and tenant's quotas."""
    if refusal := gateway.session_limits.start(session.sid, False):
        raise TooManyQueries(refusal)
    quotas = gateway.socket_limits.quotas
    try:
        quotas.admit(session.tenant, session.user_id, time.monotonic())
    except QuotaExceeded:
        gateway.session_limits.end(session.sid, False)
        raise
    try:
        yield
    finally:
        gateway.session_limits.end(session.sid, False)
        quotas.done(session.tenant, session.user_id)


async def ask_connector(gateway: FlightGateway, caller: Caller, q: bp.RunQuery) -> pb.FlightInfoResponse:
    """The connector's FlightInfo for ``q``, its partitions and schema checked."""
    session = caller.session
    if not session.allows(q.dataset):
        raise DatasetNotFound(f"no dataset {q.dataset!r}")  # exactly the answer for one that does not exist
    link = await gateway.router.route(session.tenant, q.dataset, caller.fp)
    return await describe(gateway, link, q)


async def describe(gateway: FlightGateway, link: Link, q: bp.RunQuery) -> pb.FlightInfoResponse:
    """``q`` described down ``link`` (which, to another replica, also picks the replica
    whose tunnel its data calls go to)."""
    request_id = secrets.token_hex(8)
    try:
        info = await link.get_flight_info(
            request_id,
            q.dataset,
            q.columns,
            q.limit,
            gateway.cfg.query_seconds,
            q.filter,
            aggregate=q.aggregate,
            page=q.page,
        )
    finally:
        link.unwatch(request_id)
    checked_partitions(info)
    if (q.aggregate or q.page) and not info.aggregated:
        raise QueryFailed("the dataset's connector is of a version that does not run aggregates or pages; upgrade it")
    checked_schema(gateway.relay, info.schema)
    return info


def in_order(q: bp.RunQuery) -> bool:
    """Whether the query's rows are read one partition after the other: it has a limit
    (over all partitions) or an order (a page's sort, an aggregate's, or ``ordered``)."""
    return q.limit is not None or q.ordered or q.page is not None or q.aggregate is not None


def flight_info(
    cfg: GatewayConfig,
    caller: Caller,
    q: bp.RunQuery,
    info: pb.FlightInfoResponse,
    schemas: SchemaCache,
    descriptor: fpb.FlightDescriptor,
    names: tuple[str, ...] | None = None,
) -> fpb.FlightInfo:
    """The FlightInfo for the connector's ``info``: the schema (renamed to ``names``, SQL
    aliases), an endpoint per group of partitions with its signed ticket, the rows the
    connector counted (-1: not known)."""
    session = caller.session
    digest = schemas.put(info.schema)
    tickets = [part.ticket for part in info.partitions]
    ordered = in_order(q)
    expires = timestamp_pb2.Timestamp(seconds=session.expires_at)
    endpoints = []
    for group in flight_ticket.endpoint_groups(len(tickets), cfg.flight.max_endpoints, ordered):
        ticket = flight_ticket.FlightTicket(
            session=session_digest(session.sid),
            expires_at=session.expires_at,
            dataset=q.dataset,
            columns=q.columns,
            conditions=q.filter,
            limit=q.limit,
            schema=digest,
            parts=tuple(tickets[i] for i in group),
            aggregate=q.aggregate,
            page=q.page,
            names=names,
        )
        signed = flight_ticket.sign(cfg.secret_key, ticket)
        if len(signed) > flight_ticket.MAX_TICKET_BYTES:
            raise QueryFailed(
                f"the connector's {len(group)} partitions make a ticket over {flight_ticket.MAX_TICKET_BYTES} bytes"
            )
        endpoints.append(fpb.FlightEndpoint(ticket=fpb.Ticket(ticket=signed), expiration_time=expires))
    counted = info.total_records >= 0 and not q.filter and q.aggregate is None and q.page is None
    total = info.total_records if counted else -1
    if total >= 0 and q.limit is not None:
        total = min(total, q.limit)
    return fpb.FlightInfo(
        schema=flight_data.schema_message(info.schema, names),
        flight_descriptor=descriptor,
        endpoint=endpoints,
        total_records=total,
        total_bytes=-1,
        ordered=q.ordered or q.page is not None or (q.aggregate is not None and bool(q.aggregate.sort)),
    )
