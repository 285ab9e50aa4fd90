"""Connections to one database, kept for reuse, and what happens when it is down: after a
failed connection attempt, queries fail at once with the reason and the time of the next
attempt, which backs off (1 s doubling to 60 s, jittered) until one succeeds. So a database
that is down costs each query no wait and the database no storm of logins."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from saeta.core.backoff import Backoff
from saeta.errors import SourceError

IDLE_CONNECTIONS = 4


class ConnectionPool:
    def __init__(
        self,
        name: str,
        connect: Callable[[], Any],
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._connect = connect
        self._backoff = backoff or Backoff(base=1.0, cap=60.0)
        self._clock = clock
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._last_error = ""

    def _open(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            wait = self._retry_at - self._clock()
            if wait > 0:
                raise SourceError(f"{self._last_error} (next connection attempt in {wait:.0f}s)")
        try:
            conn = self._connect()
        except SourceError as err:
            with self._lock:
                self._retry_at = self._clock() + self._backoff.next_delay()
                self._last_error = err.message
            raise
        with self._lock:
            self._backoff.reset()
            self._retry_at = 0.0
        return conn

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection for one query; kept for the next one unless the query failed (a
        broken connection must not be handed out again)."""
        conn = self._open()
        ok = False
        try:
            yield conn
            ok = True
        finally:
            with self._lock:
                keep = ok and len(self._idle) < IDLE_CONNECTIONS
                if keep:
                    self._idle.append(conn)
            if not keep:
                _close_quietly(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # closing a broken connection may fail; nothing to do about it
        return
