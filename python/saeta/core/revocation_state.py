"""Revocation state, sans I/O: which sessions are revoked until when, how fresh that
knowledge is, and the messages that carry it between processes (docs/revocation.md).

The Redis shell (saeta.gateway.revocation) feeds it; tests drive it with plain values."""

from __future__ import annotations

import json
from dataclasses import dataclass

CHANNEL = "saeta:revocations"
SESSION_KEY_PREFIX = "saeta:revoked:"
CRL_KEY = "saeta:crl"
MAX_MESSAGE_BYTES = 64 * 1024
MAX_SID_CHARS = 128
MAX_REVOKED = 1_000_000


@dataclass(frozen=True, slots=True)
class SessionRevokedMessage:
    sid: str
    expires_at: int
    revoked_at: float | None = None  # Unix time of the revocation at the control plane (the delay metric)


@dataclass(frozen=True, slots=True)
class CrlChangedMessage:
    pass


RevocationMessage = SessionRevokedMessage | CrlChangedMessage


def session_key(sid: str) -> str:
    return f"{SESSION_KEY_PREFIX}{sid}"


def encode(message: RevocationMessage) -> str:
    if isinstance(message, SessionRevokedMessage):
        body: dict[str, object] = {"kind": "session", "sid": message.sid, "expires_at": message.expires_at}
        if message.revoked_at is not None:
            body["revoked_at"] = message.revoked_at
        return json.dumps(body)
    return json.dumps({"kind": "crl"})


def _valid_sid(sid: object) -> bool:
    return isinstance(sid, str) and 0 < len(sid) <= MAX_SID_CHARS and sid.isprintable()


def _valid_expiry(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**42


def decode(data: bytes | str) -> RevocationMessage | None:
    """The message in ``data``, or None for anything malformed (logged by the caller)."""
    if len(data) > MAX_MESSAGE_BYTES:
        return None
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    kind = obj.get("kind")
    if kind == "crl":
        return CrlChangedMessage()
    if kind == "session" and _valid_sid(obj.get("sid")) and _valid_expiry(obj.get("expires_at")):
        at = obj.get("revoked_at")
        valid_at = isinstance(at, int | float) and not isinstance(at, bool) and 0 < at < 2**42
        return SessionRevokedMessage(obj["sid"], obj["expires_at"], float(at) if valid_at and at is not None else None)
    return None


def decode_key_entry(key: bytes | str, value: bytes | str | None) -> SessionRevokedMessage | None:
    """A revoked-session key and its value (the expiry), as read back from Redis."""
    key_text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    value_text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if not key_text.startswith(SESSION_KEY_PREFIX) or value_text is None:
        return None
    sid = key_text[len(SESSION_KEY_PREFIX) :]
    try:
        expires_at = int(value_text)
    except ValueError:
        return None
    if not (_valid_sid(sid) and _valid_expiry(expires_at)):
        return None
    return SessionRevokedMessage(sid, expires_at)


class RevocationState:
    """Revoked sessions until their expiry, plus the time the state was last known to be
    complete (``fresh_at``, on a monotonic clock). Stale state refuses new sessions."""

    def __init__(self, stale_seconds: float | None) -> None:
        self.stale_seconds = stale_seconds
        self.until: dict[str, int] = {}
        self.fresh_at: float | None = None

    def revoke(self, sid: str, expires_at: int, now: float) -> bool:
        """Records a revocation; True when it is news (listeners should hear of it)."""
        known = self.until.get(sid)
        if known is not None and known >= expires_at:
            return False
        if len(self.until) >= MAX_REVOKED:
            self.prune(now)
        self.until[sid] = expires_at
        return known is None

    def is_revoked(self, sid: str, now: float) -> bool:
        until = self.until.get(sid)
        return until is not None and until >= now

    def replace(self, entries: list[SessionRevokedMessage], now: float) -> list[str]:
        """Takes a full snapshot (a resync); returns the sids that are news."""
        fresh = {e.sid: e.expires_at for e in entries if e.expires_at >= now}
        news = [sid for sid in fresh if sid not in self.until]
        # Keep what we learnt by message meanwhile: a snapshot never un-revokes.
        for sid, until in self.until.items():
            if until >= now and fresh.get(sid, -1) < until:
                fresh[sid] = until
        self.until = fresh
        return news

    def prune(self, now: float) -> None:
        self.until = {sid: until for sid, until in self.until.items() if until >= now}

    def mark_fresh(self, monotonic_now: float) -> None:
        self.fresh_at = monotonic_now

    def age(self, monotonic_now: float) -> float | None:
        return None if self.fresh_at is None else monotonic_now - self.fresh_at

    def is_stale(self, monotonic_now: float) -> bool:
        if self.stale_seconds is None:
            return False
        age = self.age(monotonic_now)
        return age is None or age > self.stale_seconds
