"""A file dataset's aggregates and pages (docs/protocol.md, "Aggregation", "Pages"):
connector/aggregate.py's DuckDB over the rows a plain query of the dataset reads (every file, in the dataset's
schema, the filter applied), so an aggregate and a query can never disagree on a row.
A Parquet dataset without a filter takes a bucket column's range from the files' row
group statistics, without reading a row."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from saeta.connector import aggregate
from saeta.connector.sources.base import Partition, QueryPlan, project
from saeta.connector.sources.sql_text import DUCKDB, Binder
from saeta.core.aggregation import Aggregate, Limits, bind_aggregate
from saeta.core.filters import Condition, Kind, bind, kinds_of
from saeta.core.paging import Page, bind_page


class FileSource(Protocol):
    """What of sources/files.py's FileSource an aggregate uses."""

    name: str
    kind: str  # csv, json or parquet
    batch_rows: int

    def schema(self) -> pa.Schema: ...

    def files(self) -> list[str]: ...

    def plan(
        self, columns: tuple[str, ...] | None, limit: int | None, conditions: Sequence[Condition] = ()
    ) -> QueryPlan: ...

    def read(
        self,
        partition: int,
        columns: tuple[str, ...] | None,
        limit: int | None,
        conditions: Sequence[Condition] = (),
        ordered: bool = False,
    ) -> Iterator[pa.RecordBatch]: ...


def plan(source: FileSource, agg: Aggregate, conditions: Sequence[Condition]) -> QueryPlan:
    """One partition of the aggregate's result schema. Raises BadRequest naming the part
    that does not fit the dataset, before any row is read."""
    schema = source.schema()
    kinds = kinds_of(schema)
    bind(conditions, kinds, source.name)
    bind_aggregate(agg, kinds, source.name)
    return QueryPlan(aggregate.result_schema(agg, schema), (Partition(0, None),), None)


def native_scan(
    source: FileSource, columns: Sequence[str], conditions: Sequence[Condition]
) -> aggregate.NativeScan | None:
    """DuckDB's own reader for a Parquet dataset whose every file holds ``columns`` with
    the dataset's types (timestamps in ms or us) and whose filter has no condition on a
    float column (NaN compares otherwise in SQL than in Arrow): the rows of the dataset's
    own scan, read faster (docs/decisions.md). None: read through the dataset's scan."""
    if source.kind != "parquet":
        return None
    schema = source.schema()
    kinds = kinds_of(schema)
    bound = bind(conditions, kinds, source.name)
    if any(b.kind is Kind.FLOAT for b in bound):
        return None
    wanted = {c: schema.field(c).type for c in {*columns, *(b.column for b in bound)}}
    if any(pa.types.is_timestamp(t) and t.unit not in ("ms", "us") for t in wanted.values()):
        return None
    files = source.files()
    for path in files:
        try:
            found = pq.read_schema(path)
        except (OSError, pa.ArrowException):
            return None  # the dataset's scan says what is wrong with it
        for name, type_ in wanted.items():
            index = found.get_field_index(name)
            if index < 0:
                return None
            got = found.field(index).type
            if (got.value_type if pa.types.is_dictionary(got) else got) != type_:
                return None
    binder = Binder(DUCKDB, lambda n, sql_type: f"CAST($v{n} AS {sql_type})", 1)
    where = DUCKDB.where(bound, binder)
    params = {f"v{n}": value for n, value in enumerate(binder.values, start=1)}
    return aggregate.NativeScan(tuple(files), " WHERE " + " AND ".join(where) if where else "", params)


def plan_page(
    source: FileSource, columns: tuple[str, ...] | None, page: Page, conditions: Sequence[Condition]
) -> QueryPlan:
    """One partition of the projected schema; BadRequest for a sort key or filter that
    does not fit, before any row is read."""
    kinds = kinds_of(source.schema())
    bind(conditions, kinds, source.name)
    bind_page(page, kinds, source.name)
    return QueryPlan(project(source.schema(), columns, source.name), (Partition(0, None),), None)


def read_page(
    source: FileSource,
    columns: tuple[str, ...] | None,
    page: Page,
    limit: int | None,
    conditions: Sequence[Condition],
    limits: Limits,
) -> Iterator[pa.RecordBatch]:
    """The page's rows (docs/protocol.md, "Pages"), run once when first read."""
    schema = plan_page(source, columns, page, conditions).schema
    if limit == 0:
        return
    columns_read = [*schema.names, *(k.column for k in page.sort)]
    scan = native_scan(source, columns_read, conditions) or _batches(source, conditions)
    table = aggregate.run_page(schema, page, scan, limit, limits)
    yield from table.to_batches(max_chunksize=source.batch_rows)


def _batches(source: FileSource, conditions: Sequence[Condition]) -> aggregate.Batches:
    """Reads the named columns of every file, in order, with the query's filter."""
    schema = source.schema()

    def batches(columns: Sequence[str]) -> pa.RecordBatchReader:
        names = tuple(columns)
        parts = range(len(source.files()))
        rows = itertools.chain.from_iterable(source.read(p, names, None, conditions) for p in parts)
        return pa.RecordBatchReader.from_batches(pa.schema([schema.field(c) for c in names]), rows)

    return batches


def statistics_bounds(source: FileSource, column: str) -> aggregate.Bounds | None:
    """The column's range from the Parquet footers' statistics: (lo, hi) in the units
    connector/aggregate.py buckets by; None when a file or row group lacks them."""
    field = source.schema().field(column)
    lows: list[object] = []
    highs: list[object] = []
    for path in source.files():
        meta = pq.ParquetFile(path).metadata
        names = meta.schema.to_arrow_schema().names
        if column not in names:
            return None
        index = names.index(column)
        for group in range(meta.num_row_groups):
            if meta.row_group(group).num_rows == 0:
                continue
            stats = meta.row_group(group).column(index).statistics
            if stats is None or not stats.has_min_max:
                return None
            lows.append(stats.min)
            highs.append(stats.max)
    if not lows:
        return None
    values = pa.array(lows + highs, type=field.type)
    table = pa.table({column: values})
    return aggregate.scan_bounds(column, table.to_reader())


def read(
    source: FileSource,
    agg: Aggregate,
    limit: int | None,
    conditions: Sequence[Condition],
    limits: Limits,
) -> Iterator[pa.RecordBatch]:
    """The aggregate's rows (run once, when the iterator is first read)."""
    schema = source.schema()
    kinds = kinds_of(schema)
    bind(conditions, kinds, source.name)
    bind_aggregate(agg, kinds, source.name)
    scan = native_scan(source, aggregate.needed_columns(agg, schema), conditions) or _batches(source, conditions)
    bounds: Callable[[], aggregate.Bounds] | None = None
    if agg.bucket is not None and source.kind == "parquet" and not conditions:
        known = statistics_bounds(source, agg.bucket.column)
        if known is not None:
            bounds = lambda: known  # noqa: E731
    if limit == 0:
        return
    counted = _footer_count(source, agg, conditions)
    if counted is not None:
        yield counted
        return
    table = aggregate.run(agg, schema, scan, limit, limits, bounds)
    yield from table.to_batches(max_chunksize=source.batch_rows)


def _footer_count(source: FileSource, agg: Aggregate, conditions: Sequence[Condition]) -> pa.RecordBatch | None:
    """A count of every row of an unfiltered Parquet dataset (a pager's total) from the
    files' footers, without reading a row; None for any other aggregate."""
    plain = not (agg.group_by or agg.bucket or agg.sort or agg.offset or conditions)
    if source.kind != "parquet" or not plain or any(m.op != "count" or m.column for m in agg.measures):
        return None
    total = source.plan(None, None, ()).total_records
    if total is None:
        return None
    out = aggregate.result_schema(agg, source.schema())
    return pa.RecordBatch.from_arrays([pa.array([total], pa.int64()) for _ in agg.measures], schema=out)


class FileAggregates:
    """The aggregate and page methods of the Source protocol, for sources/files.py's FileSource."""

    def plan_aggregate(self: FileSource, agg: Aggregate, conditions: Sequence[Condition] = ()) -> QueryPlan:
        return plan(self, agg, conditions)

    def read_aggregate(
        self: FileSource, agg: Aggregate, limit: int | None, conditions: Sequence[Condition], limits: Limits
    ) -> Iterator[pa.RecordBatch]:
        return read(self, agg, limit, conditions, limits)

    def plan_page(
        self: FileSource, columns: tuple[str, ...] | None, page: Page, conditions: Sequence[Condition]
    ) -> QueryPlan:
        return plan_page(self, columns, page, conditions)

    def read_page(
        self: FileSource,
        columns: tuple[str, ...] | None,
        page: Page,
        limit: int | None,
        conditions: Sequence[Condition],
        limits: Limits,
    ) -> Iterator[pa.RecordBatch]:
        return read_page(self, columns, page, limit, conditions, limits)
