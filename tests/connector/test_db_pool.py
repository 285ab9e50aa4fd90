from __future__ import annotations

import random

import pytest
from saeta.connector.sources.db_pool import ConnectionPool
from saeta.core.backoff import Backoff
from saeta.errors import SourceError


class Conn:
    closed = False

    def close(self) -> None:
        self.closed = True


class Database:
    def __init__(self) -> None:
        self.up = True
        self.attempts = 0

    def connect(self) -> Conn:
        self.attempts += 1
        if not self.up:
            raise SourceError("dataset d: cannot connect: down")
        return Conn()


def make(db: Database, now: list[float]) -> ConnectionPool:
    return ConnectionPool("d", db.connect, Backoff(base=1.0, cap=60.0, rng=random.Random(1)), clock=lambda: now[0])


def test_connections_are_reused_unless_the_query_failed() -> None:
    db, now = Database(), [0.0]
    pool = make(db, now)
    with pool.connection() as first:
        pass
    with pool.connection() as again:
        assert again is first
    with pytest.raises(RuntimeError), pool.connection() as broken:
        raise RuntimeError("query failed")
    assert broken.closed
    with pool.connection() as fresh:
        assert fresh is not first
    assert db.attempts == 2


def test_a_down_database_fails_fast_and_is_retried_with_backoff() -> None:
    db, now = Database(), [100.0]
    pool = make(db, now)
    db.up = False
    with pytest.raises(SourceError, match="down"), pool.connection():
        pass
    assert db.attempts == 1
    with pytest.raises(SourceError, match="next connection attempt in"), pool.connection():
        pass
    assert db.attempts == 1  # no new login while backing off
    now[0] += 1.0  # the first delay is at most 1 s
    with pytest.raises(SourceError), pool.connection():
        pass
    assert db.attempts == 2
    db.up = True
    now[0] += 2.0
    with pool.connection() as conn:
        assert not conn.closed
    assert db.attempts == 3
