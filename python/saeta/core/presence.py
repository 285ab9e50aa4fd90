"""Which gateway replica holds a tunnel for which tenant, as kept in Redis (docs/scaling.md),
sans I/O: the key names, what one refresh writes, and which replicas a lookup's answer
leaves, freshest first. The Redis shell is gateway/presence.py.

- ``saeta:replica:{id}``: the replica's peer address, a string with a TTL;
- ``saeta:holders:{tenant}``: a sorted set of replica ids, each scored with the Unix time
  its entry lapses; the key itself expires with its newest entry;
- ``saeta:replicas``: every live replica, scored the same way: how many there are sets
  each one's share of the per-tenant quotas (core/quotas.py).

Every entry is refreshed by its replica's heartbeat and lapses by itself when the replica
is gone: a replica that stops, or dies, costs at most one TTL of stale presence, which the
asking side survives (the call to a gone replica fails fast, the next holder is tried)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from saeta.core.lapsing import Lapsing

REPLICA_PREFIX = "saeta:replica:"
HOLDERS_PREFIX = "saeta:holders:"
REPLICAS_KEY = "saeta:replicas"
# The most holders a lookup considers: a tenant's connectors hold gateway.connections
# tunnels each (2 by default) and tunnels.max_per_tenant (8) per replica.
MAX_HOLDERS = 64
MAX_ADDRESS_CHARS = 300


def replica_key(replica_id: str) -> str:
    return f"{REPLICA_PREFIX}{replica_id}"


def holders_key(tenant: str) -> str:
    return f"{HOLDERS_PREFIX}{tenant}"


@dataclass(frozen=True, slots=True)
class Holder:
    replica_id: str
    address: str


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return text if 0 < len(text) <= MAX_ADDRESS_CHARS else None


def live_holders(
    members: Sequence[tuple[bytes | str, float]],
    addresses: Sequence[bytes | str | None],
    now: float,
    self_id: str,
) -> list[Holder]:
    """The replicas a lookup found, freshest entry first: ``members`` as ZRANGE gave them
    (id, lapse time), ``addresses`` the replica keys' values in the same order. Leaves out
    this replica, lapsed entries and replicas whose own key is gone (stopped or dead)."""
    found: list[tuple[float, Holder]] = []
    for (member, lapses), address in zip(members, addresses, strict=True):
        replica_id = _text(member)
        peer = _text(address)
        if replica_id is None or peer is None or replica_id == self_id or lapses <= now:
            continue
        found.append((lapses, Holder(replica_id, peer)))
    found.sort(key=lambda pair: -pair[0])
    return [holder for _, holder in found[:MAX_HOLDERS]]


# Tenants whose holders one replica keeps at once (gateway/presence.py keeps a lookup for
# presence_seconds / 3, the time the entries it read may go unrefreshed).
MAX_CACHED_TENANTS = 10_000


class HoldersCache(Lapsing[str, tuple[Holder, ...]]):
    """The holders a lookup found, per tenant, for ``seconds`` (``now``: a monotonic
    clock): a tenant's forwarded queries then cost Redis one lookup that long, and come a
    lookup sooner. Only a lookup that found some is kept: a tenant with none is asked for
    again each time, so a connector that comes online is found at once. ``forget`` after
    every holder kept failed a query: that query looks again at once."""

    def __init__(self, seconds: float, limit: int = MAX_CACHED_TENANTS) -> None:
        super().__init__(seconds, limit)

    def holders(self, tenant: str, now: float) -> list[Holder] | None:
        found = self.get(tenant, now)
        return None if found is None else list(found)

    def keep(self, tenant: str, holders: Sequence[Holder], now: float) -> None:
        if holders:
            self.put(tenant, tuple(holders), now)
        else:
            self.forget(tenant)


@dataclass(frozen=True, slots=True)
class Refresh:
    """One round of writes: this replica's own key, each tenant it holds (lapsing at
    ``lapses``), each tenant it stopped holding since the last round."""

    replica_id: str
    address: str
    ttl_seconds: int
    lapses: float
    held: tuple[str, ...]
    released: tuple[str, ...]


class PresenceState:
    """The tenants this replica holds tunnels for, and those released since the last
    refresh; the shell calls ``refresh`` on every heartbeat and on each change."""

    def __init__(self, replica_id: str, address: str, ttl_seconds: float) -> None:
        self.replica_id, self.address = replica_id, address
        self.ttl = max(2, int(ttl_seconds))
        self._count: dict[str, int] = {}
        self._released: set[str] = set()

    def tunnel_added(self, tenant: str) -> bool:
        """True when the tenant is new here (worth writing at once)."""
        self._count[tenant] = self._count.get(tenant, 0) + 1
        self._released.discard(tenant)
        return self._count[tenant] == 1

    def tunnel_removed(self, tenant: str) -> bool:
        """True when it was the tenant's last tunnel here."""
        left = self._count.get(tenant, 0) - 1
        if left > 0:
            self._count[tenant] = left
            return False
        self._count.pop(tenant, None)
        self._released.add(tenant)
        return True

    def held(self) -> tuple[str, ...]:
        return tuple(sorted(self._count))

    def refresh(self, now: float) -> Refresh:
        released, self._released = tuple(sorted(self._released)), set()
        return Refresh(self.replica_id, self.address, self.ttl, now + self.ttl, self.held(), released)

    def unwritten(self, refresh: Refresh) -> None:
        """A refresh that failed: its releases are written with the next one."""
        self._released.update(t for t in refresh.released if t not in self._count)

    def leaving(self) -> Iterable[str]:
        """Every tenant to take this replica out of, on a clean stop."""
        return (*self._count, *self._released)
