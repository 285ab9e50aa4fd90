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


@pytest.mark.parametrize(
    "token",
    [
        issue_session("another-secret-of-at-least-thirty-two-chars", "s", "u", NOW, 60),  # other key
        jwt.encode(
            {"sid": "s", "sub": "u", "iat": NOW, "nbf": NOW, "exp": NOW + 60, "aud": SESSION_AUDIENCE},
            SECRET,
            algorithm="HS256",
        ),  # no kid
        jwt.encode(
            {"sid": "s", "sub": "u", "iat": NOW, "nbf": NOW, "exp": NOW + 60, "aud": "other"},
            SECRET,
            algorithm="HS256",
            headers={"kid": key_id(SECRET)},
        ),  # audience
        jwt.encode(
            {"sid": "s", "sub": "u", "iat": NOW, "nbf": NOW, "exp": NOW + 60, "aud": SESSION_AUDIENCE},
            None,
            algorithm="none",
            headers={"kid": key_id(SECRET)},
        ),  # alg none
        issue_service_token(SECRET, NOW),  # a service token is not a session
        "not.a.token",
        "",
    ],
)
def test_refusals(token: str) -> None:
    with pytest.raises(Unauthorized):
        verify_session(SECRET, token, NOW + 1)


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
