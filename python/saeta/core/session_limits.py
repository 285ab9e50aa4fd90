"""What one session may hold at once across all its sockets: sockets, queries running,
subscriptions followed. A session id is a bearer token; whoever holds it can open as many
sockets as they like, so per-socket limits alone let one user take the gateway and the
tenant's connector. Sans-I/O: the shell asks before it opens and tells when it is done."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SessionCaps:
    sockets: int
    queries: int
    subscriptions: int


@dataclass(slots=True)
class _Usage:
    sockets: int = 0
    queries: int = 0
    subscriptions: int = 0


class SessionLimits:
    def __init__(self, caps: SessionCaps) -> None:
        self.caps = caps
        self._usage: dict[str, _Usage] = {}

    def _of(self, sid: str) -> _Usage:
        return self._usage.setdefault(sid, _Usage())

    def _drop_if_idle(self, sid: str) -> None:
        usage = self._usage.get(sid)
        if usage is not None and not (usage.sockets or usage.queries or usage.subscriptions):
            del self._usage[sid]

    def open_socket(self, sid: str) -> bool:
        """Counts a socket of ``sid``; False (nothing counted) when it holds its cap."""
        usage = self._of(sid)
        if usage.sockets >= self.caps.sockets:
            self._drop_if_idle(sid)
            return False
        usage.sockets += 1
        return True

    def close_socket(self, sid: str) -> None:
        usage = self._of(sid)
        usage.sockets = max(0, usage.sockets - 1)
        self._drop_if_idle(sid)

    def start(self, sid: str, subscription: bool) -> str | None:
        """Counts a query (or subscription) of ``sid``; returns why it is refused instead,
        counting nothing."""
        usage = self._of(sid)
        if usage.queries >= self.caps.queries:
            self._drop_if_idle(sid)
            return f"at most {self.caps.queries} queries at once per session, over all its sockets"
        if subscription and usage.subscriptions >= self.caps.subscriptions:
            self._drop_if_idle(sid)
            return f"at most {self.caps.subscriptions} subscriptions at once per session"
        usage.queries += 1
        if subscription:
            usage.subscriptions += 1
        return None

    def end(self, sid: str, subscription: bool) -> None:
        usage = self._of(sid)
        usage.queries = max(0, usage.queries - 1)
        if subscription:
            usage.subscriptions = max(0, usage.subscriptions - 1)
        self._drop_if_idle(sid)

    def sessions(self) -> int:
        """Sessions holding anything (for tests and the process's stats)."""
        return len(self._usage)
