"""Sessions in a SQLite file. Small synchronous calls; the app runs them in a thread."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    cuenta_id TEXT NOT NULL,
    edge_id TEXT NOT NULL,
    permisos TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
"""


@dataclass(frozen=True)
class SessionRow:
    sid: str
    user_id: str
    cuenta_id: str
    edge_id: str
    permisos: list[str] | str
    expires_at: int
    revoked_at: int | None


class SessionStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def create(self, row: SessionRow, now: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (row.sid, row.user_id, row.cuenta_id, row.edge_id, json.dumps(row.permisos), now, row.expires_at),
            )

    def get(self, sid: str) -> SessionRow | None:
        with self._lock:
            r = self._db.execute(
                "SELECT sid, user_id, cuenta_id, edge_id, permisos, expires_at, revoked_at FROM sessions WHERE sid = ?",
                (sid,),
            ).fetchone()
        if r is None:
            return None
        return SessionRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6])

    def revoke(self, sid: str, now: int) -> SessionRow | None:
        with self._lock:
            self._db.execute("UPDATE sessions SET revoked_at = ? WHERE sid = ? AND revoked_at IS NULL", (now, sid))
        return self.get(sid)

    def purge_expired(self, now: int) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM sessions WHERE expires_at < ?", (now - 86400,)).rowcount

    def ping(self) -> None:
        """Raises when the database does not answer a trivial query."""
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        self._db.close()
