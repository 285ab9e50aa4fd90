from __future__ import annotations

import jwt
import pytest
from saeta.core.session_token import (
    SESSION_AUDIENCE,
    issue_service_token,
    issue_session,
    key_id,
    verify_service_token,
    verify_session,
)
from saeta.errors import Unauthorized

SECRET = "a-secret-of-at-least-thirty-two-characters"
NOW = 1_800_000_000


def test_round_trip() -> None:
    claims = verify_session(SECRET, issue_session(SECRET, "sid1", "ana", NOW, 60), NOW + 10)
    assert (claims.sid, claims.user_id, claims.expires_at) == ("sid1", "ana", NOW + 60)


CLAIMS = {"sid": "s", "sub": "u", "iat": NOW, "nbf": NOW, "exp": NOW + 60, "aud": SESSION_AUDIENCE}
OTHER = "another-secret-of-at-least-thirty-two-chars"
GOOD = issue_session(SECRET, "s", "u", NOW, 60)


def _tampered(token: str) -> str:
    """``token`` with its payload swapped for another user's, its signature kept."""
    header, _, signature = token.split(".")
    payload = issue_session(SECRET, "s", "admin", NOW, 60).split(".")[1]
    return f"{header}.{payload}.{signature}"


def _stray_bits(token: str) -> str:
    """``token`` with its signature's last character changed in bits no decoder reads."""
    last = token[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(last) ^ 1]  # 43 characters: the last one carries 2 stray bits
    return token[:-1] + twin


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (issue_session(OTHER, "s", "u", NOW, 60), "unknown key"),  # other key, its own kid
        (jwt.encode(CLAIMS, OTHER, algorithm="HS256", headers={"kid": key_id(SECRET)}), "signature"),  # right kid
        (_tampered(GOOD), "signature"),
        (jwt.encode(CLAIMS, SECRET, algorithm="HS256"), "unknown key"),  # no kid
        (
            jwt.encode({**CLAIMS, "aud": "other"}, SECRET, algorithm="HS256", headers={"kid": key_id(SECRET)}),
            "audience",
        ),
        (jwt.encode(CLAIMS, None, algorithm="none", headers={"kid": key_id(SECRET)}), "algorithm"),
        (issue_service_token(SECRET, NOW), "audience"),  # a service token is not a session
        (GOOD + "=", "malformed"),
        (GOOD.replace(".", "=.", 1), "malformed"),
        (_stray_bits(GOOD), "malformed"),
        (GOOD + " ", "malformed"),
        ("not.a.token", "malformed"),
        ("", "malformed"),
    ],
)
def test_refusals(token: str, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verify_session(SECRET, token, NOW + 1)


def test_decoders_forgive_the_non_canonical_spellings_this_refuses() -> None:
    """The premise of the canonical check: the JWT library accepts a token with ``=``
    appended (the attack's finding); it happens to refuse stray bits, which the check
    refuses whatever the library does."""
    valid_now = issue_session(SECRET, "s", "u", 1_000_000_000, 4_000_000_000)
    assert jwt.decode(valid_now + "=", SECRET, algorithms=["HS256"], audience=SESSION_AUDIENCE)["sub"] == "u"


def test_expired_and_not_yet_valid() -> None:
    with pytest.raises(Unauthorized, match="expired"):
        verify_session(SECRET, issue_session(SECRET, "s", "u", NOW - 1000, 60), NOW)
    # A session ends at its exp exactly; a second earlier it is valid.
    assert verify_session(SECRET, issue_session(SECRET, "s", "u", NOW - 60, 61), NOW).expires_at == NOW + 1
    with pytest.raises(Unauthorized, match="expired"):
        verify_session(SECRET, issue_session(SECRET, "s", "u", NOW - 60, 60), NOW)
    with pytest.raises(Unauthorized, match="not yet valid"):
        verify_session(SECRET, issue_session(SECRET, "s", "u", 4_000_000_000, 60), NOW)


def test_service_token() -> None:
    verify_service_token(SECRET, issue_service_token(SECRET, NOW), NOW)
    with pytest.raises(Unauthorized):
        verify_service_token(SECRET, issue_session(SECRET, "s", "gateway", NOW, 60), NOW)
