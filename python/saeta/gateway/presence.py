"""This replica's presence in Redis (core/presence.py has the keys and the rules): its
own key and the tenants it holds tunnels for, refreshed every third of their TTL and at
once when a tenant is new here; and the lookup of another tenant's holders, for a query
this replica has no tunnel for. Redis away: local tunnels keep serving; a lookup fails
fast with CONNECTOR_OFFLINE, saying why; the entries are written again once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from saeta import redis_bus
from saeta.core import presence as ps
from saeta.core.throttle import LogThrottle
from saeta.errors import ConnectorOffline
from saeta.redis_bus import RedisError

log = logging.getLogger("saeta.gateway.presence")

# A lookup is on a query's path: bounded well below any query timeout.
LOOKUP_SECONDS = 2.0
# Lines failed lookups may write while Redis is away (every forwarded query fails one).
LOOKUP_LOG = LogThrottle(burst=10, window=10.0)


class Presence:
    def __init__(self, url: str, replica_id: str, address: str, ttl_seconds: float, connect_seconds: float) -> None:
        self._redis = redis_bus.connect(url, min(connect_seconds, LOOKUP_SECONDS))
        self.state = ps.PresenceState(replica_id, address, ttl_seconds)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ok: bool | None = None  # the last write's outcome; None before the first
        self._closed = False
        # Told how many replicas are live after each refresh (the per-tenant quota share).
        self.on_replicas: Callable[[int], None] | None = None
        self.replicas = 1
        # A lookup is kept as long as the entries it read may go unrefreshed.
        self._holders = ps.HoldersCache(seconds=ttl_seconds / 3)

    @property
    def replica_id(self) -> str:
        return self.state.replica_id

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="presence")

    def on_tunnel(self, tenant: str, added: bool) -> None:
        """The registry's listener: a tenant new here, or gone from here, is written at once."""
        if self._closed:
            return
        changed = self.state.tunnel_added(tenant) if added else self.state.tunnel_removed(tenant)
        if changed:
            self._wake.set()

    def status(self) -> dict[str, object]:
        return {
            "replica_id": self.replica_id,
            "tenants": len(self.state.held()),
            "replicas_live": self.replicas,
            "redis_ok": self._ok,
        }

    async def holders(self, tenant: str) -> list[ps.Holder]:
        """The other replicas holding a tunnel for ``tenant``, freshest first, as Redis
        said at most presence_seconds / 3 ago (core/presence.py's HoldersCache). Raises
        ConnectorOffline when Redis does not answer within LOOKUP_SECONDS."""
        cached = self._holders.holders(tenant, time.monotonic())
        if cached is not None:
            return cached
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                try:
                    members, addresses = await self._lookup(tenant)
                except (RedisError, OSError):
                    # Once more on a new connection: after a Sentinel failover the first
                    # command on a pooled connection meets the old master, gone.
                    members, addresses = await self._lookup(tenant)
        except (TimeoutError, RedisError, OSError) as exc:
            if LOOKUP_LOG.allow(time.monotonic()):
                log.warning(
                    "code=REDIS_UNAVAILABLE presence lookup failed tenant=%s: %s%s",
                    tenant,
                    exc or "timeout",
                    LOOKUP_LOG.note(),
                )
            raise ConnectorOffline(
                "the connector is not on this gateway replica, and Redis, which says where it is, is unreachable"
            ) from None
        found = ps.live_holders(members, addresses, time.time(), self.replica_id)
        self._holders.keep(tenant, found, time.monotonic())
        return found

    def forget_holders(self, tenant: str) -> None:
        """Every holder found for ``tenant`` failed a query: the next one asks Redis."""
        self._holders.forget(tenant)

    async def _lookup(self, tenant: str) -> tuple[list[tuple[str, float]], list[bytes | str | None]]:
        answer = await self._redis.zrangebyscore(
            ps.holders_key(tenant), time.time(), "+inf", start=0, num=ps.MAX_HOLDERS, withscores=True
        )
        members = [(_text(pair[0]), float(pair[1])) for pair in answer if isinstance(pair, tuple | list)]
        if not members:
            return [], []
        addresses: list[bytes | str | None] = await self._redis.mget([ps.replica_key(m) for m, _ in members])
        return members, addresses

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before the write: a change during it wakes the next one
            await self._write_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.state.ttl / 3)

    async def _write_once(self) -> None:
        refresh = self.state.refresh(time.time())
        try:
            async with asyncio.timeout(LOOKUP_SECONDS * 2):
                pipe = self._redis.pipeline(transaction=False)
                pipe.set(ps.replica_key(refresh.replica_id), refresh.address, ex=refresh.ttl_seconds)
                for tenant in refresh.held:
                    key = ps.holders_key(tenant)
                    pipe.zadd(key, {refresh.replica_id: refresh.lapses})
                    pipe.zremrangebyscore(key, "-inf", time.time())
                    pipe.expire(key, refresh.ttl_seconds)
                for tenant in refresh.released:
                    pipe.zrem(ps.holders_key(tenant), refresh.replica_id)
                pipe.zadd(ps.REPLICAS_KEY, {refresh.replica_id: refresh.lapses})
                pipe.zremrangebyscore(ps.REPLICAS_KEY, "-inf", time.time())
                pipe.zcard(ps.REPLICAS_KEY)
                answers = await pipe.execute()
        except (TimeoutError, RedisError, OSError) as exc:
            self.state.unwritten(refresh)
            if self._ok is not False:  # once per outage
                log.warning("code=REDIS_UNAVAILABLE presence not written (local tunnels keep serving): %s", exc)
            self._ok = False
            return
        if self._ok is False:
            log.info("presence written again: %d tenants", len(refresh.held))
        self._ok = True
        live = answers[-1] if answers and isinstance(answers[-1], int) else 1
        if live != self.replicas:
            log.info("replicas live: %d (each takes 1/%d of every per-tenant quota)", live, live)
            self.replicas = live
            if self.on_replicas is not None:
                self.on_replicas(live)

    async def close(self) -> None:
        """Takes this replica out of Redis (a clean stop), then closes the client."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(TimeoutError, RedisError, OSError):
            async with asyncio.timeout(LOOKUP_SECONDS):
                pipe = self._redis.pipeline(transaction=False)
                pipe.delete(ps.replica_key(self.replica_id))
                pipe.zrem(ps.REPLICAS_KEY, self.replica_id)
                for tenant in self.state.leaving():
                    pipe.zrem(ps.holders_key(tenant), self.replica_id)
                await pipe.execute()
        await self._redis.aclose()


def _text(member: bytes | str) -> str:
    return member.decode("utf-8", "replace") if isinstance(member, bytes) else member
