"""Writing to the revocation bus in Redis (docs/revocation.md), shared by the control
plane, ``saeta certs revoke`` and the gateways."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from saeta.core import revocation_state as rs


def local_server_args(binary: str, port: int, data_dir: Path) -> list[str]:
    """argv of a throwaway redis-server on loopback (the demo's and the tests'): no
    persistence, protected mode on."""
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(data_dir), "--protected-mode", "yes"]  # fmt: skip


def connect(url: str, timeout_seconds: float = 5.0) -> aioredis.Redis:
    return aioredis.from_url(url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds)


async def publish_session_revoked(client: aioredis.Redis, sid: str, expires_at: int, now: float) -> None:
    """Writes the revocation key (expiring with the session) and pushes the news."""
    if expires_at > now:
        await client.set(rs.session_key(sid), str(expires_at), exat=expires_at)
    await client.publish(rs.CHANNEL, rs.encode(rs.SessionRevokedMessage(sid, expires_at)))


async def publish_crl(client: aioredis.Redis, pem: bytes) -> None:
    """Stores the CA's signed CRL and tells every gateway to reload it."""
    await client.set(rs.CRL_KEY, pem)
    await client.publish(rs.CHANNEL, rs.encode(rs.CrlChangedMessage()))
