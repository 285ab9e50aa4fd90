"""Connections that have not proven who they are yet (no request head, no session
checked) are bounded in number: past the cap, the oldest of them makes room for the new
one. A stranger then cannot hold every file descriptor, and an honest client opening a
connection during a flood still gets its turn (it is the newest), while authenticated
sockets and tunnels are never counted. Sans-I/O: the shell closes what it is told to."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Unauthenticated(Generic[K]):
    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("the cap must be at least 1")
        self.cap = cap
        self._pending: dict[K, None] = {}  # insertion order: oldest first

    def __len__(self) -> int:
        return len(self._pending)

    def admit(self, conn: K) -> K | None:
        """Counts ``conn``; returns the oldest connection to close when the cap was reached
        (it is no longer counted), else None."""
        evicted = None
        if conn not in self._pending and len(self._pending) >= self.cap:
            evicted = next(iter(self._pending))
            del self._pending[evicted]
        self._pending[conn] = None
        return evicted

    def release(self, conn: K) -> None:
        """``conn`` proved itself, or is gone: no longer counted. Releasing twice is fine."""
        self._pending.pop(conn, None)
