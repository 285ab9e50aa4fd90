"""Where Redis is, from the one ``redis_url`` every saeta process takes (docs/scaling.md):
a plain ``redis://``, ``rediss://`` or ``unix://`` URL (redis-py reads it), or
``redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]`` for Redis Sentinel:
the sentinels to ask, and the name of the master they watch. Parsing only."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

SENTINEL_SCHEME = "redis+sentinel://"
PLAIN_SCHEMES = ("redis://", "rediss://", "unix://")
MAX_SENTINELS = 16


@dataclass(frozen=True, slots=True)
class SentinelAddress:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int
    password: str | None


def parse_sentinel_url(url: str) -> SentinelAddress:
    """Raises ValueError naming what is wrong."""
    if not url.startswith(SENTINEL_SCHEME):
        raise ValueError(f"expected {SENTINEL_SCHEME}")
    rest = url[len(SENTINEL_SCHEME) :]
    hosts, _, path = rest.partition("/")
    password = None
    if "@" in hosts:
        auth, hosts = hosts.rsplit("@", 1)
        password = urllib.parse.unquote(auth.split(":", 1)[-1]) or None
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected HOST:PORT for each sentinel, got {item!r}")
        sentinels.append((host.strip("[]"), int(port)))
    if not 0 < len(sentinels) <= MAX_SENTINELS:
        raise ValueError(f"expected 1 to {MAX_SENTINELS} sentinels")
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise ValueError("expected /MASTER or /MASTER/DB after the sentinels")
    db = parts[1] if len(parts) == 2 else "0"
    if not db.isdigit():
        raise ValueError(f"expected a database number, got {db!r}")
    return SentinelAddress(tuple(sentinels), urllib.parse.unquote(parts[0]), int(db), password)


def url_problem(url: str) -> str | None:
    """Why ``url`` names no Redis saeta can reach, or None."""
    if url.startswith(SENTINEL_SCHEME):
        try:
            parse_sentinel_url(url)
        except ValueError as exc:
            return str(exc)
        return None
    if not url.startswith(PLAIN_SCHEMES):
        return f"expected a redis://, rediss://, unix:// or {SENTINEL_SCHEME} URL"
    return None
