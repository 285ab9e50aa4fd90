"""The source interface (the seam the database sources of a later issue plug into)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from saeta.core import tunnel_codec
from saeta.core.aggregation import Aggregate, Limits
from saeta.core.filters import Condition
from saeta.core.paging import Page
from saeta.errors import BadRequest, SourceError


@dataclass(frozen=True)
class Partition:
    index: int
    records: int | None  # None when the source cannot tell without reading


@dataclass(frozen=True)
class QueryPlan:
    schema: pa.Schema  # already projected to the query's columns
    partitions: tuple[Partition, ...]
    total_records: int | None


def project(schema: pa.Schema, columns: tuple[str, ...] | None, dataset: str) -> pa.Schema:
    """``schema`` cut to ``columns`` in their order; BadRequest names an unknown one."""
    if columns is None:
        return schema
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise BadRequest(f"dataset {dataset} has no column {missing[0]!r}")
    return pa.schema([schema.field(c) for c in columns])


def exposed(schema: pa.Schema, columns: tuple[str, ...] | None, dataset: str) -> pa.Schema:
    """``schema`` cut to the dataset's configured ``columns`` (the only ones a query can
    read or filter on); SourceError names a configured column the data does not have."""
    if columns is None:
        return schema
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise SourceError(f"dataset {dataset}: configured columns not found: {', '.join(missing)}")
    return pa.schema([f for f in schema if f.name in columns], metadata=schema.metadata)


# The most bytes a follower's cursor may take (tunnel.proto's ResumePoint): it travels in
# a resume token (docs/protocol.md, "Resuming"), whose size browsers must hold.
MAX_CURSOR_BYTES = tunnel_codec.MAX_CURSOR_BYTES


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a range of a follower's rows begins (docs/tunnel.md, "Resumable
    subscriptions"): ``row`` rows came before it (snapshot and polls), and a follower
    restored from ``cursor`` gives the range again less its first ``skip`` rows (None: the
    range cannot be read again)."""

    row: int
    cursor: bytes | None
    skip: int = 0


@dataclass
class Marks:
    """The marks a follower records when asked to (``on``), taken in order by the writer."""

    on: bool = False
    pending: list[Mark] = field(default_factory=list)
    produced: int = 0  # rows the follower gave out so far
    taken: int = 0  # rows the writer took so far

    def begin(self, cursor: Callable[[], bytes | None], skip: int = 0) -> None:
        """A range begins: its mark, if marks are recorded (``cursor`` is only made then)."""
        if self.on:
            made = cursor()
            if made is not None and len(made) > MAX_CURSOR_BYTES:
                made = None  # too many files followed: not resumable from this range
            self.pending.append(Mark(self.produced, made, skip))

    def gave(self, batches: Sequence[pa.RecordBatch]) -> None:
        self.produced += sum(b.num_rows for b in batches)

    def interleave(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch | Mark]:
        """``batches`` (as the follower gave them, in order), each range's mark before its
        first batch (of marks at the same row, the last: the ranges before it were empty)."""
        for batch in batches:
            fresh = None
            while self.pending and self.pending[0].row <= self.taken:
                fresh = self.pending.pop(0)
            if fresh is not None:
                yield fresh
            self.taken += batch.num_rows
            yield batch


class Follower(Protocol):
    """One subscription's view of a source: its snapshot, then what is added to it.
    Blocking: the caller runs each call in a thread, one at a time.

    Resumable subscriptions: with ``marks.on``, the follower records a Mark as each range
    of rows begins; ``restore`` (before ``snapshot``) puts it back where a mark's cursor
    was, less the first rows of that range."""

    poll_seconds: float  # how long to wait after a poll that found nothing
    marks: Marks

    def restore(self, cursor: bytes, skip: int) -> None:
        """Starts from ``cursor`` (a Mark's), the first ``skip`` rows of that range not
        given again. Raises ResumeUnavailable when the cursor is not this follower's, or
        the source no longer matches it."""

    def snapshot(self) -> Iterator[pa.RecordBatch]:
        """The rows there now that meet the conditions, in the planned schema."""

    def poll(self) -> tuple[list[pa.RecordBatch], bool]:
        """Rows added since the snapshot or the last poll (a bounded amount), and whether
        more is already waiting. Raises SourceError when the source vanished."""

    def close(self) -> None:
        """Releases what the follower holds."""


class Source(Protocol):
    name: str
    # Whether a partition read again from a row offset gives the same rows in the same
    # order (resumption: DoGetRequest.skip_rows).
    resumable: bool
    # Whether it can, when asked (``read(ordered=True)``), read in such an order at a cost
    # (a database dataset with a ``key``: ORDER BY it).
    can_order: bool

    def schema(self) -> pa.Schema:
        """The dataset's full schema. Raises SourceError."""

    def plan(
        self, columns: tuple[str, ...] | None, limit: int | None, conditions: Sequence[Condition] = ()
    ) -> QueryPlan:
        """Schema and partitions for a query. Raises BadRequest for an unknown column or
        a filter that does not fit the columns (before touching the data), SourceError
        when the data cannot be opened."""

    def read(
        self,
        partition: int,
        columns: tuple[str, ...] | None,
        limit: int | None,
        conditions: Sequence[Condition] = (),
        ordered: bool = False,
    ) -> Iterator[pa.RecordBatch]:
        """The partition's rows that meet every condition, at most ``limit`` in all, in
        batches of the planned schema (``ordered``: in the order ``can_order`` promises).
        Blocking: the caller runs it in a thread. Closing the iterator closes the files it
        opened."""

    def plan_aggregate(self, agg: Aggregate, conditions: Sequence[Condition] = ()) -> QueryPlan:
        """One partition of the aggregate's result schema (docs/protocol.md, "Aggregation").
        Raises BadRequest naming the part of the aggregate or filter that does not fit the
        dataset, before touching the data."""

    def read_aggregate(
        self, agg: Aggregate, limit: int | None, conditions: Sequence[Condition], limits: Limits
    ) -> Iterator[pa.RecordBatch]:
        """The aggregate's rows over the rows that meet every condition, at most ``limit``
        (after its offset), in its order. Raises ResultTooLarge past ``limits``. Blocking."""

    def plan_page(self, columns: tuple[str, ...] | None, page: Page, conditions: Sequence[Condition]) -> QueryPlan:
        """One partition of the projected schema (docs/protocol.md, "Pages"). Raises
        BadRequest for a sort key or filter that does not fit, before touching the data."""

    def read_page(
        self,
        columns: tuple[str, ...] | None,
        page: Page,
        limit: int | None,
        conditions: Sequence[Condition],
        limits: Limits,
    ) -> Iterator[pa.RecordBatch]:
        """The rows that meet every condition, sorted by ``page.sort`` (nulls last; else in
        the source's order), less the first ``page.offset``, at most ``limit`` and at most
        ``limits.max_rows`` (past it ResultTooLarge). Blocking."""

    def follow(self, columns: tuple[str, ...] | None, conditions: Sequence[Condition]) -> Follower:
        """A follower for a subscription. Raises BadRequest when the dataset cannot be
        followed (a database without a cursor column) or the query does not fit it."""

    def close(self) -> None:
        """Releases what the source keeps between queries (database connections)."""
