"""The revocation seam. The gateway asks ``check`` before accepting a session and
subscribes to learn of revocations while sockets are open.

- ``InProcessRevocations``: one node, no Redis (the default).
- ``RedisRevocations``: several nodes. Keys with a TTL hold the state, pub/sub pushes the
  news; after any reconnect the keys are read again, so a revocation missed while Redis was
  away is still applied. Once the state is older than its bound, new sessions are refused.
Both also carry "the certificate revocation list changed" to the tunnel server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from saeta import redis_bus
from saeta.core import revocation_state as rs
from saeta.core.backoff import Backoff
from saeta.core.session_token import fingerprint
from saeta.errors import RevocationStale
from saeta.redis_bus import RedisError

log = logging.getLogger("saeta.gateway.revocation")

Listener = Callable[[str], None]
CrlListener = Callable[[bytes | None], None]

PING_SECONDS = 0.5
SCAN_COUNT = 1000


class Revocations(Protocol):
    async def start(self) -> None: ...

    async def revoke(self, sid: str, expires_at: int) -> None:
        """Marks session ``sid`` revoked until ``expires_at`` and tells every listener."""

    async def is_revoked(self, sid: str) -> bool:
        """Raises RevocationStale when the state is too old to trust (fail closed)."""

    def subscribe(self, listener: Listener) -> None:
        """``listener(sid)`` runs for every revocation from now on."""

    def subscribe_crl(self, listener: CrlListener) -> None:
        """``listener(pem_or_none)`` runs when another process says the CRL changed."""

    def status(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class InProcessRevocations:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._state = rs.RevocationState(stale_seconds=None)
        self._listeners: list[Listener] = []
        self._clock = clock

    async def start(self) -> None:
        return None

    async def revoke(self, sid: str, expires_at: int) -> None:
        if self._state.revoke(sid, expires_at, self._clock()):
            for listener in self._listeners:
                listener(sid)

    async def is_revoked(self, sid: str) -> bool:
        return self._state.is_revoked(sid, self._clock())

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def subscribe_crl(self, listener: CrlListener) -> None:
        return None  # one node: the CRL file watch is the only source

    def status(self) -> dict[str, Any]:
        return {"backend": "in-process", "fresh": True, "revoked": len(self._state.until)}

    async def close(self) -> None:
        self._listeners.clear()


class RedisRevocations:
    """Redis-backed revocations (docs/revocation.md)."""

    def __init__(
        self,
        url: str,
        stale_seconds: float,
        connect_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis_bus.connect(url, connect_seconds)
        self._state = rs.RevocationState(stale_seconds)
        self._listeners: list[Listener] = []
        self._crl_listeners: list[CrlListener] = []
        self._clock, self._monotonic = clock, monotonic
        self.on_delay: Callable[[float], None] | None = None  # a pushed revocation's delay, in seconds
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._connected = False
        self._warned = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-revocations")

    # --- the seam

    async def revoke(self, sid: str, expires_at: int) -> None:
        """Applies here at once; tells the other gateways in the background (a Redis that
        is slow or down never delays refusing the socket in hand)."""
        self._apply(rs.SessionRevokedMessage(sid, expires_at))
        self._spawn(self._push(sid, expires_at))

    async def _push(self, sid: str, expires_at: int) -> None:
        try:
            await redis_bus.publish_session_revoked(self._redis, sid, expires_at, self._clock())
        except (RedisError, OSError) as exc:
            log.warning("code=REDIS_UNAVAILABLE revocation not pushed sid=%s: %s", fingerprint(sid), exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def is_revoked(self, sid: str) -> bool:
        if self._state.is_stale(self._monotonic()):
            raise RevocationStale("revocation state is stale (Redis unreachable); try again later")
        return self._state.is_revoked(sid, self._clock())

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def subscribe_crl(self, listener: CrlListener) -> None:
        self._crl_listeners.append(listener)

    def status(self) -> dict[str, Any]:
        now = self._monotonic()
        age = self._state.age(now)
        return {
            "backend": "redis",
            "connected": self._connected,
            "fresh": not self._state.is_stale(now),
            "age_seconds": None if age is None else round(age, 3),
            "revoked": len(self._state.until),
        }

    async def close(self) -> None:
        for task in [t for t in (self._task, *self._background) if t is not None]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._listeners.clear()
        self._crl_listeners.clear()
        await self._redis.aclose()

    # --- the loop

    def _apply(self, message: rs.RevocationMessage) -> None:
        if isinstance(message, rs.CrlChangedMessage):
            self._spawn(self._fetch_crl())
            return
        now = self._clock()
        if message.revoked_at is not None and self.on_delay is not None:
            self.on_delay(max(0.0, now - message.revoked_at))  # clocks of two hosts: never below 0
        if self._state.revoke(message.sid, message.expires_at, now):
            for listener in self._listeners:
                listener(message.sid)

    async def _run(self) -> None:
        backoff = Backoff(base=0.2, cap=5.0)
        while True:
            try:
                await self._follow()
            except (RedisError, OSError) as exc:
                if self._connected or not self._warned:  # once per outage, not once per retry
                    what = "lost" if self._connected else "cannot reach"
                    log.warning("code=REDIS_UNAVAILABLE %s Redis: %s", what, exc)
                    self._warned = True
            if self._connected:
                backoff.reset()
            self._connected = False
            await asyncio.sleep(backoff.next_delay())

    async def _follow(self) -> None:
        """Subscribes, then reads the keys (nothing published in between is lost), then
        follows the channel, pinging to prove the link is alive."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(rs.CHANNEL)
            await self._resync()
            self._connected = True
            self._warned = False
            self._state.mark_fresh(self._monotonic())
            log.info("revocations synced from Redis: %d revoked sessions", len(self._state.until))
            last_ping = self._monotonic()
            await pubsub.ping()
            while True:
                message = await pubsub.get_message(timeout=PING_SECONDS)
                now = self._monotonic()
                if message is not None:
                    if message["type"] == "pong":
                        self._state.mark_fresh(now)
                    elif message["type"] == "message":
                        decoded = rs.decode(message["data"])
                        if decoded is None:
                            log.warning("code=REVOCATION_MESSAGE_INVALID ignored a malformed revocation message")
                        else:
                            self._apply(decoded)
                if now - last_ping >= PING_SECONDS:
                    await pubsub.ping()
                    last_ping = now
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _resync(self) -> None:
        keys = [key async for key in self._redis.scan_iter(match=f"{rs.SESSION_KEY_PREFIX}*", count=SCAN_COUNT)]
        entries: list[rs.SessionRevokedMessage] = []
        for start in range(0, len(keys), SCAN_COUNT):
            chunk = keys[start : start + SCAN_COUNT]
            for key, value in zip(chunk, await self._redis.mget(chunk), strict=True):
                entry = rs.decode_key_entry(key, value)
                if entry is not None:
                    entries.append(entry)
        for sid in self._state.replace(entries, self._clock()):
            log.info("revocation applied on resync session=%s", fingerprint(sid))
            for listener in self._listeners:
                listener(sid)
        await self._fetch_crl()

    async def _fetch_crl(self) -> None:
        try:
            pem = await self._redis.get(rs.CRL_KEY)
        except (RedisError, OSError) as exc:
            log.warning("code=REDIS_UNAVAILABLE cannot read the CRL: %s", exc)
            return
        for listener in self._crl_listeners:
            listener(pem.encode() if isinstance(pem, str) else pem)
