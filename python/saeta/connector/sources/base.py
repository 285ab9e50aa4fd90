"""The source interface (the seam the database sources of a later issue plug into)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from saeta.core.filters import Condition
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


class Follower(Protocol):
    """One subscription's view of a source: its snapshot, then what is added to it.
    Blocking: the caller runs each call in a thread, one at a time."""

    poll_seconds: float  # how long to wait after a poll that found nothing

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
    ) -> Iterator[pa.RecordBatch]:
        """The partition's rows that meet every condition, at most ``limit`` in all, in
        batches of the planned schema. Blocking: the caller runs it in a thread. Closing
        the iterator closes the files it opened."""

    def follow(self, columns: tuple[str, ...] | None, conditions: Sequence[Condition]) -> Follower:
        """A follower for a subscription. Raises BadRequest when the dataset cannot be
        followed (a database without a cursor column) or the query does not fit it."""

    def close(self) -> None:
        """Releases what the source keeps between queries (database connections)."""
