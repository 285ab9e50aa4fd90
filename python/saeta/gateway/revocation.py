"""The revocation seam. The gateway asks ``is_revoked`` before accepting a session and
subscribes to learn of revocations while sockets are open. ``InProcessRevocations`` is
the single-node implementation; a Redis one (pub/sub + keys with TTL) plugs in here for
several nodes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

Listener = Callable[[str], None]


class Revocations(Protocol):
    async def revoke(self, sid: str, expires_at: int) -> None:
        """Marks session ``sid`` revoked until ``expires_at`` and tells every listener."""

    async def is_revoked(self, sid: str) -> bool: ...

    def subscribe(self, listener: Listener) -> None:
        """``listener(sid)`` runs for every revocation from now on."""

    async def close(self) -> None: ...


class InProcessRevocations:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._until: dict[str, int] = {}
        self._listeners: list[Listener] = []
        self._clock = clock

    async def revoke(self, sid: str, expires_at: int) -> None:
        self._prune()
        self._until[sid] = expires_at
        for listener in self._listeners:
            listener(sid)

    async def is_revoked(self, sid: str) -> bool:
        until = self._until.get(sid)
        return until is not None and until >= self._clock()

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def close(self) -> None:
        self._listeners.clear()

    def _prune(self) -> None:
        now = self._clock()
        for sid in [s for s, until in self._until.items() if until < now]:
            del self._until[sid]
