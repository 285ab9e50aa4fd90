"""The Flight endpoint's tickets (docs/flight.md, "Tickets"), sans I/O: what one endpoint of
a FlightInfo reads — the dataset, the filter and limit, the connector's partitions in the
order they are read, and a digest of the schema they were described with — signed with a
key derived from ``tableros_secret_key`` (every replica checks every other's) and bound to
the session that asked and to its expiry. Opaque to clients: they hand it back in DoGet.

A ticket is ``saeta-ft1.`` base64url(JSON) ``.`` base64url(HMAC-SHA256). The same seal
carries a prepared statement's handle (``saeta-ps1.``, the statement's SQL), so a handle
works on every replica and lapses with its session. Anything that does not verify
(forged, tampered, of another session, expired, malformed, of the other kind) is
TICKET_REFUSED, and nothing is read."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from saeta.core import paging
from saeta.core.aggregation import Aggregate, parse_aggregate, to_json
from saeta.core.filters import Condition, parse_filter
from saeta.core.filters import to_json as filter_json
from saeta.core.paging import Page
from saeta.core.ticket import MAX_TICKET_CHARS
from saeta.errors import BadRequest, SaetaError

MAX_TICKET_BYTES = 1024 * 1024  # a ticket handed back: also the Flight port's largest request
MAX_PARTS = 10_000  # as many partitions as a FlightInfo may name (gateway/query.py)
MAX_LIMIT = 2**62
TICKET, STATEMENT = b"saeta-ft1.", b"saeta-ps1."


class TicketRefused(SaetaError):
    """A ticket or statement handle that does not verify, or is not this session's."""

    code = "TICKET_REFUSED"


@dataclass(frozen=True, slots=True)
class FlightTicket:
    """What one endpoint reads. ``schema`` is the digest of the connector's schema message
    the endpoint was described with; ``names`` the result's column names when they differ
    from the source's (SQL aliases: the schema message is renamed, the data is not)."""

    session: str  # resume_token.session_digest of the session's id
    expires_at: int  # unix seconds: the session's expiry
    dataset: str
    columns: tuple[str, ...] | None
    conditions: tuple[Condition, ...]
    limit: int | None  # rows of all the parts together
    schema: str
    parts: tuple[str, ...]  # the connector's partition tickets, read one after the other
    aggregate: Aggregate | None = None
    page: Page | None = None
    names: tuple[str, ...] | None = None


def schema_digest(schema_ipc: bytes) -> str:
    return hashlib.sha256(schema_ipc).hexdigest()[:32]


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"saeta-flight-ticket-v1:" + secret.encode()).digest()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


def seal(secret: str, kind: bytes, fields: dict[str, Any]) -> bytes:
    body = json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode()
    return kind + _b64(body) + b"." + _b64(hmac.digest(_key(secret), kind + body, "sha256"))


def unseal(secret: str, kind: bytes, raw: object, session: str, now: float) -> dict[str, Any]:
    """The fields sealed in ``raw`` once its signature, kind, session and expiry hold."""
    what = "ticket" if kind == TICKET else "prepared statement handle"
    if not isinstance(raw, bytes) or not 0 < len(raw) <= MAX_TICKET_BYTES or not raw.startswith(kind):
        raise TicketRefused(f"not a {what} of this gateway")
    body_text, dot, mac_text = raw[len(kind) :].partition(b".")
    try:
        if not dot:
            raise ValueError
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (binascii.Error, ValueError):
        raise TicketRefused(f"the {what} is malformed") from None
    if not hmac.compare_digest(mac, hmac.digest(_key(secret), kind + body, "sha256")):
        raise TicketRefused(f"the {what}'s signature does not verify")
    try:
        fields = json.loads(body)
    except ValueError:
        raise TicketRefused(f"the {what} is malformed") from None
    if not isinstance(fields, dict):
        raise TicketRefused(f"the {what} is malformed")
    if fields.get("s") != session:
        raise TicketRefused(f"the {what} belongs to another session")
    expires_at = fields.get("e")
    if not isinstance(expires_at, int) or isinstance(expires_at, bool) or expires_at <= now:
        raise TicketRefused(f"the {what} has expired with its session")
    return fields


def sign(secret: str, t: FlightTicket) -> bytes:
    fields: dict[str, Any] = {
        "s": t.session,
        "e": t.expires_at,
        "d": t.dataset,
        "c": list(t.columns) if t.columns is not None else None,
        "f": filter_json(t.conditions),
        "l": t.limit,
        "h": t.schema,
        "p": list(t.parts),
    }
    if t.aggregate is not None:
        fields["a"] = to_json(t.aggregate)
    if t.page is not None:
        fields["pg"] = paging.to_json(t.page)
    if t.names is not None:
        fields["n"] = list(t.names)
    return seal(secret, TICKET, fields)


def _strings(value: Any, most: int) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > most or not all(isinstance(v, str) for v in value):
        raise TicketRefused("the ticket is malformed")
    return tuple(value)


def verify(secret: str, raw: object, session: str, now: float) -> FlightTicket:
    """The ticket ``raw`` stands for; TICKET_REFUSED unless it is this gateway's, for
    ``session`` (its digest), and not expired. The message never holds the ticket."""
    f = unseal(secret, TICKET, raw, session, now)
    dataset, schema, limit = f.get("d"), f.get("h"), f.get("l")
    if not isinstance(dataset, str) or not isinstance(schema, str):
        raise TicketRefused("the ticket is malformed")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= MAX_LIMIT):
        raise TicketRefused("the ticket is malformed")
    parts = _strings(f.get("p"), MAX_PARTS)
    if not parts or any(len(p) > MAX_TICKET_CHARS for p in parts):
        raise TicketRefused("the ticket is malformed")
    try:  # signed by this gateway, so well formed; parsed again all the same
        conditions = parse_filter(f.get("f"))
        aggregate = None if f.get("a") is None else parse_aggregate(f["a"])
        page = None if f.get("pg") is None else paging.from_json(f["pg"])
    except BadRequest:
        raise TicketRefused("the ticket is malformed") from None
    columns = None if f.get("c") is None else _strings(f["c"], 4096)
    names = None if f.get("n") is None else _strings(f["n"], 4096)
    return FlightTicket(session, f["e"], dataset, columns, conditions, limit, schema, parts, aggregate, page, names)


def endpoint_groups(parts: int, most: int, in_order: bool) -> list[range]:
    """The connector's ``parts`` partitions as the endpoints of a FlightInfo: one endpoint
    reading them all in order when the result has an order or a limit (a limit counts
    rows over all partitions), else at most ``most`` endpoints of contiguous runs, which a
    client may read at once."""
    if parts == 0:
        return []
    n = 1 if in_order else max(1, min(parts, most))
    size, extra = divmod(parts, n)
    groups, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        groups.append(range(start, end))
        start = end
    return groups
