"""Resume tokens (docs/protocol.md, "Resuming"), sans I/O: where a resumable query's stream
stands after a given frame (the partitions begun, the rows each has sent, the rows in
all), signed with a key derived from ``tableros_secret_key`` (so every replica can check
every other's) and bound to the session and to the query: its id, its parameters and the
tickets of its partitions. Opaque to clients; they hand the last one they committed back.

A token is ``base64url(JSON) "." base64url(HMAC-SHA256)``. Anything that does not verify
(forged, tampered, of another session or query, expired, malformed) is RESUME_REFUSED."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from saeta.core import paging
from saeta.core.aggregation import Aggregate, to_json
from saeta.core.filters import Condition
from saeta.core.paging import Page
from saeta.core.tunnel_codec import MAX_CURSOR_BYTES
from saeta.errors import SaetaError

VERSION = 1
MAX_TOKEN_CHARS = 4096
MAX_PARTITIONS = 10_000  # as many as a FlightInfo may name (gateway/query.py)
MAX_RUNNING = 64  # limits.max_partitions_in_flight is at most 64
MAX_ROWS = 2**62


class ResumeRefused(SaetaError):
    """A resume token that does not verify, or does not fit this session or query."""

    code = "RESUME_REFUSED"


class ResumeUnavailable(SaetaError):
    """The query cannot be resumed (the source cannot read from an offset, or its data
    changed since the token was issued): the client runs it again from the start."""

    code = "RESUME_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a stream stands: partitions 0..taken-1 have begun, each done unless listed
    in ``running`` with the rows it has sent; ``rows`` in all."""

    taken: int
    running: tuple[tuple[int, int], ...]
    rows: int


@dataclass(frozen=True, slots=True)
class Follow:
    """Where a subscription's stream stands, beyond its rows: its follower's cursor (the
    connector's, opaque here) and the rows of that range already sent; and the rows the
    ``snapshot`` frame announced (-1: not sent yet)."""

    cursor: bytes
    skip: int
    snapshot: int


@dataclass(frozen=True, slots=True)
class Token:
    session: str
    query: str
    partitions: str  # partitions_digest of the tickets the query read
    position: Position
    expires_at: int
    follow: Follow | None = None  # a subscription's


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"saeta-resume-v1:" + secret.encode()).digest()


def session_digest(sid: str) -> str:
    return hashlib.sha256(b"saeta-resume-session:" + sid.encode()).hexdigest()[:32]


def query_digest(
    query_id: str,
    dataset: str,
    columns: tuple[str, ...] | None,
    limit: int | None,
    ordered: bool,
    conditions: Sequence[Condition],
    subscription: bool = False,
    aggregate: Aggregate | None = None,
    page: Page | None = None,
) -> str:
    """A digest of the query as the client asked it: the same query asked again has the
    same digest, any other parameter another (a subscription's, another than a query's)."""
    fields: list[Any] = [
        query_id,
        dataset,
        list(columns) if columns is not None else None,
        limit,
        ordered,
        [[c.column, c.op, list(c.values)] for c in conditions],
    ]
    if subscription:
        fields.append("subscribe")
    if aggregate is not None:
        fields.append({"aggregate": to_json(aggregate)})
    if page is not None:
        fields.append({"page": paging.to_json(page)})
    canonical = json.dumps(fields, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def partitions_digest(tickets: Sequence[str]) -> str:
    """A digest of the partitions the connector named, in order."""
    return hashlib.sha256("\n".join(tickets).encode()).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, token: Token) -> str:
    p = token.position
    fields: dict[str, Any] = {
        "v": VERSION,
        "s": token.session,
        "q": token.query,
        "p": token.partitions,
        "t": p.taken,
        "r": [list(pair) for pair in p.running],
        "n": p.rows,
        "e": token.expires_at,
    }
    if token.follow is not None:
        f = token.follow
        fields["f"] = [_b64(f.cursor), f.skip, f.snapshot]
    body = json.dumps(fields, separators=(",", ":")).encode()
    return f"{_b64(body)}.{_b64(hmac.digest(_key(secret), body, 'sha256'))}"


def _int(value: Any, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= hi:
        raise ResumeRefused("the resume token is malformed")
    return value


def verify(secret: str, text: object, session: str, query: str, now: float) -> Token:
    """The token ``text`` stands for, once its signature, session, query and expiry
    hold; else ResumeRefused (the message says which, never the token)."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TOKEN_CHARS or text.count(".") != 1:
        raise ResumeRefused("the resume token is malformed")
    body_text, mac_text = text.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (binascii.Error, ValueError):
        raise ResumeRefused("the resume token is malformed") from None
    if not hmac.compare_digest(mac, hmac.digest(_key(secret), body, "sha256")):
        raise ResumeRefused("the resume token's signature does not verify")
    try:
        fields = json.loads(body)
    except ValueError:
        raise ResumeRefused("the resume token is malformed") from None
    if not isinstance(fields, dict) or fields.get("v") != VERSION:
        raise ResumeRefused("the resume token is of another version")
    if fields.get("s") != session:
        raise ResumeRefused("the resume token belongs to another session")
    if fields.get("q") != query:
        raise ResumeRefused("the resume token belongs to another query (its id or parameters differ)")
    expires_at = _int(fields.get("e"), 2**40)
    if expires_at <= now:
        raise ResumeRefused("the resume token has expired")
    taken = _int(fields.get("t"), MAX_PARTITIONS)
    running_raw = fields.get("r")
    if not isinstance(running_raw, list) or len(running_raw) > MAX_RUNNING:
        raise ResumeRefused("the resume token is malformed")
    running: list[tuple[int, int]] = []
    for pair in running_raw:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ResumeRefused("the resume token is malformed")
        index, rows = _int(pair[0], MAX_PARTITIONS - 1), _int(pair[1], MAX_ROWS)
        if index >= taken or any(index == i for i, _ in running):
            raise ResumeRefused("the resume token is malformed")
        running.append((index, rows))
    partitions = fields.get("p")
    if not isinstance(partitions, str):
        raise ResumeRefused("the resume token is malformed")
    position = Position(taken, tuple(running), _int(fields.get("n"), MAX_ROWS))
    return Token(session, query, partitions, position, expires_at, _follow(fields.get("f")))


def _follow(value: Any) -> Follow | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 3 or not isinstance(value[0], str):
        raise ResumeRefused("the resume token is malformed")
    try:
        cursor = _unb64(value[0])
    except (binascii.Error, ValueError):
        raise ResumeRefused("the resume token is malformed") from None
    if not 0 < len(cursor) <= MAX_CURSOR_BYTES:
        raise ResumeRefused("the resume token is malformed")
    snapshot = value[2]
    if snapshot != -1:
        snapshot = _int(snapshot, MAX_ROWS)
    return Follow(cursor, _int(value[1], MAX_ROWS), snapshot)


@dataclass(frozen=True, slots=True)
class ResumeKeys:
    """What a socket's resumable queries sign their tokens with: the secret, the
    session's digest, and the session's expiry (a token lapses with its session)."""

    secret: str
    session: str
    expires_at: int
