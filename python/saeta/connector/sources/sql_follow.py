"""Following a database dataset for a subscription, by a cursor column whose values only
grow (an identity column, an insert timestamp): the snapshot is every row up to the
largest cursor value when the subscription starts, and each poll asks for the rows beyond
the largest value seen so far, in cursor order, ``POLL_ROWS`` at most.

A row whose cursor value is smaller than one already seen is never sent: one committed
late by a slower transaction, for example. Use a cursor the database assigns in commit
order, or accept that gap (docs/sources.md, "Live data")."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import pyarrow as pa

from saeta.connector.sources import follow_cursor
from saeta.connector.sources.base import Marks, project
from saeta.core.filters import Bound, BoundValue, Condition, Kind
from saeta.core.resume_token import ResumeUnavailable
from saeta.errors import BadRequest

POLL_ROWS = 65_536
_ORDERED = (Kind.INTEGER, Kind.FLOAT, Kind.DECIMAL, Kind.STRING, Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMP_TZ)


class FollowedTable(Protocol):
    """What a follower reads of its source (sources/sql_source.py's SqlSource, which
    builds followers: this module does not import it back)."""

    name: str

    def schema(self) -> pa.Schema: ...

    def bind(self, conditions: Sequence[Condition]) -> tuple[Bound, ...]: ...

    def kinds(self) -> dict[str, Kind]: ...

    def partition_count(self) -> int: ...

    def max_of(self, column: str) -> pa.Array: ...

    def read_rows(
        self,
        names: Sequence[str],
        limit: int | None,
        bound: Sequence[Bound],
        partition: int | None,
        order_by: str | None = None,
    ) -> Iterator[pa.RecordBatch]: ...


class SqlFollower:
    def __init__(
        self,
        source: FollowedTable,
        columns: tuple[str, ...] | None,
        conditions: Sequence[Condition],
        cursor: str,
        poll_seconds: float,
    ) -> None:
        self.source = source
        self.poll_seconds = poll_seconds
        schema = source.schema()
        self._target = project(schema, columns, source.name)
        self._bound = source.bind(conditions)
        kind = source.kinds().get(cursor)
        if kind is None:
            raise BadRequest(f"dataset {source.name}: its live.cursor column {cursor!r} is not exposed")
        if kind not in _ORDERED:
            raise BadRequest(f"dataset {source.name}: its live.cursor column {cursor!r} has no order")
        self._cursor, self._kind = cursor, kind
        self._read = tuple(self._target.names) + (() if cursor in self._target.names else (cursor,))
        self._last: BoundValue | None = None
        self.marks = Marks()
        self._restored = False
        self._skip = 0  # restored: rows of the first poll not given again

    def snapshot(self) -> Iterator[pa.RecordBatch]:
        if self._restored:  # resumed after its snapshot: polls only
            return
        # The snapshot's partitions are read in no set order: it cannot be read again
        # from a row within it.
        self.marks.begin(lambda: None)
        last = self._max()
        if last is None:
            return  # an empty table: every row will come from polls
        self._last = last
        upto = Bound(self._cursor, "<=", self._kind, (last,))
        for partition in range(self.source.partition_count()):
            for batch in self.source.read_rows(self._read, None, (*self._bound, upto), partition):
                out = batch.select(self._target.names)
                self.marks.gave((out,))
                yield out

    def poll(self) -> tuple[list[pa.RecordBatch], bool]:
        skip, self._skip = self._skip, 0
        self.marks.begin(lambda: follow_cursor.encode_table(self._cursor, self._last), skip)
        after = () if self._last is None else (Bound(self._cursor, ">", self._kind, (self._last,)),)
        batches = list(self.source.read_rows(self._read, POLL_ROWS, (*self._bound, *after), None, self._cursor))
        rows = sum(b.num_rows for b in batches)
        if rows:
            last = batches[-1].column(self._cursor)[-1].as_py()  # ordered by the cursor
            if last is not None:
                self._last = last
        if skip > rows:
            raise ResumeUnavailable(
                f"dataset {self.source.name}: fewer rows follow the subscription's cursor than when it was "
                "interrupted; follow it again from its snapshot"
            )
        out = []
        for batch in batches:
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            out.append(batch.slice(skip).select(self._target.names))
            skip = 0
        self.marks.gave(out)
        return out, rows >= POLL_ROWS

    def restore(self, cursor: bytes, skip: int) -> None:
        """Polls from the cursor's last value (a cursor made after the snapshot: its
        polls read in the cursor's order, so they can be read again)."""
        self._last = follow_cursor.decode_table(cursor, self._cursor)
        self._restored, self._skip = True, skip

    def close(self) -> None:
        """Connections go back to the source's pool after each read."""

    def _max(self) -> BoundValue | None:
        column = self.source.max_of(self._cursor)
        if isinstance(column.type, pa.BaseExtensionType):
            column = column.storage  # numeric: its text
        value: BoundValue | None = column[0].as_py() if len(column) else None
        return value
