"""A bounded map whose entries lapse: what a replica keeps for a while (a tenant's
holders, core/presence.py; the holders whose connector could not send direct,
gateway/peer_direct.py). Sans-I/O: the caller gives the time (a monotonic clock)."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Lapsing(Generic[K, V]):
    """Values kept ``seconds`` after they are put, at most ``limit`` of them: a put past
    the limit drops the lapsed entries, and every entry if none has lapsed."""

    def __init__(self, seconds: float, limit: int) -> None:
        self.seconds, self.limit = seconds, limit
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K, now: float) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V, now: float) -> None:
        if key not in self._entries and len(self._entries) >= self.limit:
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
            if len(self._entries) >= self.limit:
                self._entries.clear()
        self._entries[key] = (now + self.seconds, value)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
