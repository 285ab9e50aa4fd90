"""Writing to the revocation bus in Redis (docs/revocation.md), shared by the control
plane, ``saeta certs revoke`` and the gateways."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from saeta import extras
from saeta.core import revocation_state as rs
from saeta.core.redis_address import SENTINEL_SCHEME, parse_sentinel_url
from saeta.errors import SaetaError

if TYPE_CHECKING:
    import redis.asyncio as aioredis

try:
    from redis.exceptions import RedisError as RedisError  # re-exported: the callers catch it
except ImportError:  # without the redis extra no Redis is called (redis_url is refused), so none is raised

    class RedisError(Exception):  # type: ignore[no-redef]
        """Stands for redis' error where the redis extra is not installed."""


def local_server_args(binary: str, port: int, data_dir: Path) -> list[str]:
    """argv of a throwaway redis-server on loopback (the demo's and the tests'): no
    persistence, protected mode on."""
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(data_dir), "--protected-mode", "yes"]  # fmt: skip


def connect(url: str, timeout_seconds: float = 5.0) -> aioredis.Redis:
    """A client for ``url`` (core/redis_address.py): a plain Redis, or the master that
    Redis Sentinel names, found again by asking the sentinels after a failover (each new
    connection asks; a connection to a demoted master fails, and the callers reconnect)."""
    problem = extras.missing_message("redis")
    if problem is not None:
        raise SaetaError(problem, code="EXTRA_MISSING")
    import redis.asyncio as aioredis
    from redis.asyncio.sentinel import Sentinel

    if url.startswith(SENTINEL_SCHEME):
        address = parse_sentinel_url(url)
        timeouts = {"socket_connect_timeout": timeout_seconds, "socket_timeout": timeout_seconds}
        sentinel = Sentinel(list(address.sentinels), sentinel_kwargs=timeouts, **timeouts)  # type: ignore[no-untyped-call]
        client: aioredis.Redis = sentinel.master_for(address.master, db=address.db, password=address.password)
        return client
    return aioredis.from_url(url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds)


async def publish_session_revoked(client: aioredis.Redis, sid: str, expires_at: int, now: float) -> None:
    """Writes the revocation key (expiring with the session) and pushes the news."""
    if expires_at > now:
        await client.set(rs.session_key(sid), str(expires_at), exat=expires_at)
    await client.publish(rs.CHANNEL, rs.encode(rs.SessionRevokedMessage(sid, expires_at, round(now, 6))))


async def publish_crl(client: aioredis.Redis, pem: bytes) -> None:
    """Stores the CA's signed CRL and tells every gateway to reload it."""
    await client.set(rs.CRL_KEY, pem)
    await client.publish(rs.CHANNEL, rs.encode(rs.CrlChangedMessage()))
