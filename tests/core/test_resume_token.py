"""core/resume_token.py: a token verifies for its session and query only (a
subscription's, for that subscription only), and anything forged, tampered, expired or
malformed is RESUME_REFUSED."""

from __future__ import annotations

import base64
import json

import pytest
from saeta.core.filters import Condition
from saeta.core.resume_token import (
    MAX_ROWS,
    MAX_TOKEN_CHARS,
    Follow,
    Position,
    ResumeRefused,
    Token,
    partitions_digest,
    query_digest,
    session_digest,
    sign,
    verify,
)
from saeta.core.tunnel_codec import MAX_CURSOR_BYTES

SECRET = "resume-test-secret-0123456789abcdefghij"
SESSION = session_digest("sid-1")
QUERY = query_digest("q1", "ventas", ("id", "total"), None, False, (Condition("total", ">", (100,)),))
TOKEN = Token(SESSION, QUERY, partitions_digest(["t0", "t1", "t2"]), Position(3, ((1, 4096), (2, 0)), 90_000), 2_000)


def test_a_token_verifies_for_its_session_and_query() -> None:
    assert verify(SECRET, sign(SECRET, TOKEN), SESSION, QUERY, 1_000) == TOKEN


@pytest.mark.parametrize(
    ("session", "query", "now", "why"),
    [
        (session_digest("sid-2"), QUERY, 1_000, "another session"),
        (SESSION, query_digest("q1", "ventas", ("id",), None, False, ()), 1_000, "another query"),
        (SESSION, query_digest("q2", "ventas", ("id", "total"), None, False, ()), 1_000, "another query"),
        (SESSION, QUERY, 2_000, "expired"),
    ],
)
def test_another_session_or_query_or_an_expired_token_is_refused(session: str, query: str, now: int, why: str) -> None:
    with pytest.raises(ResumeRefused, match=why) as refused:
        verify(SECRET, sign(SECRET, TOKEN), session, query, now)
    assert refused.value.code == "RESUME_REFUSED"


def _tampered(text: str, **change: object) -> str:
    body, mac = text.split(".")
    fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    fields.update(change)
    raw = json.dumps(fields, separators=(",", ":")).encode()
    return f"{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}.{mac}"


@pytest.mark.parametrize(
    "text",
    [
        sign("another-secret-0123456789abcdefghijklmn", TOKEN),  # forged: another key
        _tampered(sign(SECRET, TOKEN), n=10),  # fewer rows claimed
        _tampered(sign(SECRET, TOKEN), t=1, r=[]),  # partitions claimed done
        sign(SECRET, TOKEN)[:-2],  # a cut signature
        "x" * 5000,
        "",
        "no-dot",
        "a.b.c",
        "!!!.???",
    ],
)
def test_forged_tampered_or_malformed_tokens_are_refused(text: str) -> None:
    with pytest.raises(ResumeRefused):
        verify(SECRET, text, SESSION, QUERY, 1_000)


def test_a_signed_token_whose_position_is_impossible_is_refused() -> None:
    for position in (Position(2, ((2, 0),), 0), Position(3, ((1, 0), (1, 5)), 0), Position(20_000, (), 0)):
        bad = Token(SESSION, QUERY, TOKEN.partitions, position, 2_000)
        with pytest.raises(ResumeRefused, match="malformed"):
            verify(SECRET, sign(SECRET, bad), SESSION, QUERY, 1_000)


def test_a_non_string_token_is_refused() -> None:
    with pytest.raises(ResumeRefused):
        verify(SECRET, 12, SESSION, QUERY, 1_000)


SUBSCRIPTION = query_digest("s1", "log", None, None, False, (), subscription=True)
FOLLOWED = Token(SESSION, SUBSCRIPTION, "", Position(0, (), 5_000), 2_000, Follow(b'{"cursor":1}', 17, 4_000))


def test_a_subscriptions_token_carries_its_cursor_and_is_of_its_own_kind() -> None:
    assert verify(SECRET, sign(SECRET, FOLLOWED), SESSION, SUBSCRIPTION, 1_000) == FOLLOWED
    assert query_digest("s1", "log", None, None, False, ()) != SUBSCRIPTION
    with pytest.raises(ResumeRefused, match="another query"):
        verify(SECRET, sign(SECRET, FOLLOWED), SESSION, query_digest("s1", "log", None, None, False, ()), 1_000)


@pytest.mark.parametrize(
    "follow",
    [
        ["e30", 18, 4_000],  # another cursor, rows of the range, snapshot: all signed
        ["eyJjdXJzb3IiOjF9", 18, 4_000],
        ["eyJjdXJzb3IiOjF9", 17, -1],
        None,
    ],
)
def test_a_subscriptions_tampered_position_is_refused(follow: object) -> None:
    with pytest.raises(ResumeRefused, match="signature"):
        verify(SECRET, _tampered(sign(SECRET, FOLLOWED), f=follow), SESSION, SUBSCRIPTION, 1_000)


@pytest.mark.parametrize(
    "follow",
    [Follow(b"", 0, -1), Follow(b"x" * (MAX_CURSOR_BYTES + 1), 0, -1), Follow(b"c", -1, -1), Follow(b"c", 0, -2)],
)
def test_a_signed_subscription_token_with_an_impossible_position_is_refused(follow: Follow) -> None:
    bad = Token(SESSION, SUBSCRIPTION, "", Position(0, (), 5), 2_000, follow)
    with pytest.raises(ResumeRefused, match="malformed"):
        verify(SECRET, sign(SECRET, bad), SESSION, SUBSCRIPTION, 1_000)


def test_a_subscriptions_largest_token_fits_the_protocols_limit() -> None:
    big = Token(
        SESSION,
        SUBSCRIPTION,
        "",
        Position(0, (), MAX_ROWS),
        2**40 - 1,
        Follow(b"\xff" * MAX_CURSOR_BYTES, MAX_ROWS, MAX_ROWS),
    )
    assert len(sign(SECRET, big)) <= MAX_TOKEN_CHARS
