"""Signed session ids (JWT, HS256 with ``tableros_secret_key``) and the gateway's service
token for the control plane. Pure functions: the caller passes the time.

A session id is the whole JWT; its claims: ``sid`` (the control plane's row id), ``sub``
(user id), ``iat``, ``nbf``, ``exp`` and ``aud`` = "saeta-gateway". The header carries
``kid``, derived from the secret, so a token signed under another key is refused by id
before its signature is even tried.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

import jwt

from saeta.errors import Unauthorized

ALGORITHM = "HS256"
SESSION_AUDIENCE = "saeta-gateway"
SERVICE_AUDIENCE = "saeta-control-plane"
MAX_TOKEN_CHARS = 4096
MIN_SECRET_CHARS = 32
LEEWAY_SECONDS = 5
# The signature may be empty, so that an `alg: none` token reaches the algorithm check.
_SEGMENTS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class SessionClaims:
    sid: str
    user_id: str
    expires_at: int


def key_id(secret: str) -> str:
    """A public identifier of the signing key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def fingerprint(token: str) -> str:
    """What logs may show of a session id: a short hash, never the id itself."""
    return "s-" + hashlib.sha256(token.encode()).hexdigest()[:12]


def issue_session(secret: str, sid: str, user_id: str, now: int, ttl: int) -> str:
    claims = {
        "sid": sid,
        "sub": user_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "aud": SESSION_AUDIENCE,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": key_id(secret)})


def _canonical(token: str) -> bool:
    """Whether ``token`` is three base64url segments in their one canonical spelling: no
    padding, no other characters, no stray bits in a segment's last character. Decoders
    forgive all three, so without this check one token has many spellings (each with a
    fingerprint of its own in the logs)."""
    if not _SEGMENTS.fullmatch(token):
        return False
    for segment in token.split("."):
        try:
            raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        except (binascii.Error, ValueError):
            return False
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != segment:
            return False
    return True


def _decode(secret: str, token: str, audience: str, now: int, exp_leeway: int) -> dict[str, object]:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS or not _canonical(token):
        raise Unauthorized("malformed token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("malformed token") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthorized("token algorithm not accepted")
    if header.get("kid") != key_id(secret):
        raise Unauthorized("token signed with an unknown key")
    try:
        # Times are checked below against the caller's clock, not PyJWT's wall clock.
        claims: dict[str, object] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            options={
                "require": ["exp", "iat", "nbf", "aud", "sub"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidAudienceError:
        raise Unauthorized("token for another audience") from None
    except jwt.PyJWTError:
        raise Unauthorized("token signature or claims invalid") from None
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int) or not isinstance(nbf, int):
        raise Unauthorized("token claims invalid")
    if exp + exp_leeway <= now:
        raise Unauthorized("token expired")
    if nbf - LEEWAY_SECONDS > now:
        raise Unauthorized("token not yet valid")
    return claims


def verify_session(secret: str, token: str, now: int) -> SessionClaims:
    """Checks signature, key id, algorithm, audience, nbf and exp. Raises Unauthorized.
    A session ends at its ``exp`` exactly (no leeway: the gateway's cache and its watch of
    open sockets end it there too, whether or not the control plane answers)."""
    claims = _decode(secret, token, SESSION_AUDIENCE, now, exp_leeway=0)
    sid, sub, exp = claims.get("sid"), claims.get("sub"), claims.get("exp")
    if not isinstance(sid, str) or not sid or not isinstance(sub, str):
        raise Unauthorized("token claims invalid")
    assert isinstance(exp, int)
    return SessionClaims(sid=sid, user_id=sub, expires_at=exp)


def issue_service_token(secret: str, now: int, ttl: int = 60) -> str:
    """The gateway's bearer token for the control plane's session lookups."""
    claims = {"sub": "gateway", "iat": now, "nbf": now, "exp": now + ttl, "aud": SERVICE_AUDIENCE}
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": key_id(secret)})


def verify_service_token(secret: str, token: str, now: int) -> None:
    """Raises Unauthorized unless ``token`` is a valid gateway service token."""
    claims = _decode(secret, token, SERVICE_AUDIENCE, now, exp_leeway=LEEWAY_SECONDS)
    if claims.get("sub") != "gateway":
        raise Unauthorized("not a gateway token")
