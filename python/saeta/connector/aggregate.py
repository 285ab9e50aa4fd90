"""Aggregation at the source for the sources that read Arrow (files; issue 16, and
core/aggregation.py has the shape and the binding): an aggregate run by DuckDB over the
Arrow batches the source reads, with its own projection and filter, so an aggregate sees
exactly the rows and types a plain query of the dataset would. DuckDB runs on
``Limits.threads`` threads within ``Limits.memory_mb`` and never spills to disk: past it
the answer is RESULT_TOO_LARGE. It streams the batches, so memory follows the number of
groups, not the rows.

Every name is quoted as an identifier and every number is a bound parameter: nothing the
client sent becomes SQL text. Time columns are bucketed by their milliseconds since the
epoch (a timestamp without a zone as if it were UTC). A bucket's value in the result is
its lower edge, of the column's own type for dates and timestamps, a float64 for numbers.
Rows whose bucket column is null are in no bucket; buckets without rows are not in the
result. first and last are the values at the earliest and latest bucket column value in
the bucket (of equal ones, any)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from saeta.core import paging
from saeta.core.aggregation import TEMPORAL, Aggregate, Limits, Measure, bucket_params, check_rows
from saeta.core.filters import Kind, kinds_of
from saeta.core.paging import Page
from saeta.errors import ResultTooLarge

# Reads ``columns`` of the rows the query's filter keeps.
Batches = Callable[[Sequence[str]], pa.RecordBatchReader]


@dataclass(frozen=True)
class NativeScan:
    """DuckDB's own Parquet reader over files that all hold the dataset's columns with its
    types, and the query's filter as SQL (``where``: "" or " WHERE ...", its values bound
    as ``params``): the same rows as the dataset's Arrow scan, read in parallel without
    the trip through Arrow (docs/decisions.md, "Aggregation at the source")."""

    files: tuple[str, ...]
    where: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def source(self, columns: Sequence[str]) -> str:
        names = ", ".join(ident(c) for c in columns)
        return f"(SELECT {names} FROM read_parquet($files){self.where}) AS src"  # noqa: S608 (quoted names)


Scan = Batches | NativeScan
Bounds = tuple[float, float] | None  # the bucket column's least and greatest value (ms for time)


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def millis(column: str, kind: Kind, native: bool = False) -> str:
    """The column as milliseconds since the epoch (time) or as a DOUBLE (numbers)."""
    if kind is Kind.TIMESTAMP_TZ:
        return f"epoch_ms(CAST({ident(column)} AS TIMESTAMPTZ))"
    if kind is Kind.TIMESTAMP and native:
        return f"epoch_ms({ident(column)})"
    if kind in TEMPORAL:
        # CAST first: DuckDB 2.0.1's epoch_ms fails on an Arrow timestamp[ms] column (the
        # cast costs time: DuckDB's own reader, NativeScan, goes without it).
        return f"epoch_ms(CAST({ident(column)} AS TIMESTAMP))"
    return f"CAST({ident(column)} AS DOUBLE)"


def _edge(index: str, kind: Kind) -> str:
    """A bucket's lower edge from its index (conform() gives it the column's type)."""
    value = f"($lo + {index} * $width)"
    if kind is Kind.TIMESTAMP_TZ:
        return f"to_timestamp(floor({value}) / 1000.0)"
    if kind in TEMPORAL:
        return f"epoch_ms(CAST(floor({value}) AS BIGINT))"
    return value


def _measure(m: Measure, kinds: dict[str, Kind], order: str | None) -> str:
    if m.op == "count":
        return "count(*)" if m.column is None else f"count({ident(m.column)})"
    column = ident(m.column or "")
    kind = kinds[m.column or ""]
    if m.op == "sum":
        return f"CAST(sum({column}) AS BIGINT)" if kind is Kind.INTEGER else f"sum({column})"
    if m.op == "mean":
        return f"avg({column})"
    if m.op in ("min", "max"):
        return f"{m.op}({column})"
    assert order is not None  # first, last: a bucket is required (core/aggregation.py)
    return f"{'arg_min' if m.op == 'first' else 'arg_max'}({column}, {order})"


def needed_columns(agg: Aggregate, schema: pa.Schema) -> list[str]:
    """The source columns the aggregate reads (at least one, for a count of rows)."""
    names = [*agg.group_by, *([agg.bucket.column] if agg.bucket else []), *(m.column for m in agg.measures if m.column)]
    unique = list(dict.fromkeys(names))
    return unique or [schema.names[0]]


def result_schema(
    agg: Aggregate, schema: pa.Schema, kinds: dict[str, Kind] | None = None, sql: bool = False
) -> pa.Schema:
    """The aggregate's result schema over a source of ``schema`` (bound already), whose
    columns are of ``kinds`` (by default, as their Arrow types say). ``sql``: a database's,
    whose sum of a decimal is its column's own type (PostgreSQL's numeric, sent as text)."""
    kinds = kinds_of(schema) if kinds is None else kinds
    fields = [schema.field(c) for c in agg.group_by]
    if agg.bucket is not None:
        source = schema.field(agg.bucket.column)
        temporal = kinds[agg.bucket.column] in TEMPORAL
        fields.append(pa.field(source.name, source.type if temporal else pa.float64()))
    for m in agg.measures:
        if m.op == "count":
            fields.append(pa.field(m.name, pa.int64(), nullable=False))
            continue
        source = schema.field(m.column or "")
        if m.op == "mean":
            fields.append(pa.field(m.name, pa.float64()))
        elif m.op == "sum" and kinds[source.name] is Kind.INTEGER:
            fields.append(pa.field(m.name, pa.int64()))
        elif m.op == "sum" and kinds[source.name] is Kind.FLOAT:
            fields.append(pa.field(m.name, pa.float64()))
        elif m.op == "sum" and not sql:  # a decimal: DuckDB's sum keeps the scale, at the widest precision
            scale = getattr(source.type, "scale", 0)
            fields.append(pa.field(m.name, pa.decimal128(38, scale)))
        else:
            fields.append(pa.field(m.name, source.type))
    return pa.schema(fields)


def sql_of(agg: Aggregate, kinds: dict[str, Kind], source: str = "src", native: bool = False) -> str:
    """The SELECT over ``source`` (the registered batches ``src``, or a NativeScan's;
    parameters $lo, $width, $last, $limit, $offset)."""
    keys = [ident(c) for c in agg.group_by]
    select = [ident(c) for c in agg.group_by]
    order = None
    where = ""
    if agg.bucket is not None:
        kind = kinds[agg.bucket.column]
        order = millis(agg.bucket.column, kind, native)
        index = f"least(CAST(floor(({order} - $lo) / $width) AS BIGINT), $last)"
        keys.append(index)
        select.append(f"{_edge(index, kind)} AS {ident(agg.bucket.column)}")
        where = f" WHERE {ident(agg.bucket.column)} IS NOT NULL"
    select += [f"{_measure(m, kinds, order)} AS {ident(m.name)}" for m in agg.measures]
    sql = f"SELECT {', '.join(select)} FROM {source}{where}"  # noqa: S608 (quoted names, bound numbers)
    if keys:
        sql += f" GROUP BY {', '.join(keys)}"
    sort = [f"{ident(k.column)} {'DESC' if k.desc else 'ASC'} NULLS LAST" for k in agg.sort]
    sort += [f"{ident(c)} ASC NULLS LAST" for c in agg.output_columns()[: len(agg.group_by) + bool(agg.bucket)]]
    if sort:
        sql += f" ORDER BY {', '.join(sort)}"
    return sql + " LIMIT $limit OFFSET $offset"


def scan_bounds(column: str, batches: pa.RecordBatchReader) -> Bounds:
    """The least and greatest value of ``column`` over ``batches`` (milliseconds for time
    columns); None when it holds no value."""
    lo = hi = None
    for batch in batches:
        values = batch.column(column)
        if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
            values = pc.cast(pc.cast(values, pa.timestamp("ms", getattr(values.type, "tz", None))), pa.int64())
        found = pc.min_max(values)
        low, high = found["min"].as_py(), found["max"].as_py()
        if low is None:
            continue
        lo = low if lo is None else min(lo, low)
        hi = high if hi is None else max(hi, high)
    return None if lo is None or hi is None else (float(lo), float(hi))


def _native_bounds(scan: NativeScan, column: str, kind: Kind, limits: Limits) -> Bounds:
    ms = millis(column, kind, native=True)
    sql = f"SELECT min({ms}) AS lo, max({ms}) AS hi FROM {scan.source([column])}"  # noqa: S608
    row = _execute(sql, {**scan.params, "files": list(scan.files)}, None, limits).to_pylist()[0]
    return None if row["lo"] is None or row["hi"] is None else (float(row["lo"]), float(row["hi"]))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """DuckDB's answer in the result schema (timestamps back to their unit, edges of a
    count bucket truncated to it)."""
    columns = [pc.cast(table.column(i), f.type, safe=False) for i, f in enumerate(schema)]
    return pa.Table.from_arrays(columns, schema=schema)


def page_sql(columns: Sequence[str], page: Page, source: str = "src") -> str:
    """A page of ``source`` (parameters $limit, $offset)."""
    sort = ", ".join(f"{ident(k.column)} {'DESC' if k.desc else 'ASC'} NULLS LAST" for k in page.sort)
    sql = f"SELECT {', '.join(ident(c) for c in columns)} FROM {source}"  # noqa: S608 (quoted names)
    return sql + (f" ORDER BY {sort}" if sort else "") + " LIMIT $limit OFFSET $offset"


def run_page(
    schema: pa.Schema,
    page: Page,
    scan: Scan,
    limit: int | None = None,
    limits: Limits = Limits(),  # noqa: B008
) -> pa.Table:
    """A page of the rows ``batches`` gives, in ``schema``'s columns (the query's
    projection): sorted by ``page.sort`` (else in the source's order), less the first
    ``page.offset``, at most ``limit`` and at most ``limits.max_rows``. The engine keeps
    offset + limit rows at most (a top-N), within ``limits.memory_mb``."""
    wanted = limits.max_rows + 1 if limit is None else min(limit, limits.max_rows + 1)
    columns = list(dict.fromkeys([*schema.names, *(k.column for k in page.sort)]))
    params: dict[str, Any] = {"limit": wanted, "offset": page.offset}
    if isinstance(scan, NativeScan):
        sql = page_sql(schema.names, page, scan.source(columns))
        table = _execute(sql, {**params, **scan.params, "files": list(scan.files)}, None, limits)
    else:
        table = _execute(page_sql(schema.names, page), params, scan(columns), limits)
    paging.check_rows(page, table.num_rows, limits)
    return conform(table, schema)


def _execute(sql: str, params: dict[str, Any], source: pa.RecordBatchReader | None, limits: Limits) -> pa.Table:
    """``sql`` over ``source`` registered as ``src`` (None: ``sql`` reads its own), in a
    DuckDB of ``limits``."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": limits.threads,
        "memory_limit": f"{limits.memory_mb}MB",
        "temp_directory": "",
    }
    con = duckdb.connect(config=config)
    try:
        if source is not None:
            con.register("src", source)
        return con.sql(sql, params=params).to_arrow_table()
    except duckdb.OutOfMemoryException:
        raise ResultTooLarge(
            f"the aggregate needs more than the connector's {limits.memory_mb} MB (aggregation.memory_mb): "
            "fewer groups or buckets"
        ) from None
    finally:
        con.close()


def run(
    agg: Aggregate,
    schema: pa.Schema,
    scan: Scan,
    limit: int | None = None,
    limits: Limits = Limits(),  # noqa: B008 (frozen)
    bounds: Callable[[], Bounds] | None = None,
) -> pa.Table:
    """``agg`` over the rows ``scan`` gives. A bucketed aggregate first needs the bucket
    column's range: ``bounds()`` when the source knows it without reading (Parquet
    statistics), else a read of that column alone. Raises ResultTooLarge past
    ``limits.max_rows`` rows (after the query's ``limit`` and the aggregate's offset) or
    past its memory, BadRequest for a bucket width that makes too many buckets."""
    kinds = kinds_of(schema)
    params: dict[str, Any] = {"offset": agg.offset}
    params["limit"] = limits.max_rows + 1 if limit is None else min(limit, limits.max_rows + 1)
    native = isinstance(scan, NativeScan)
    if agg.bucket is not None:
        column = agg.bucket.column
        if bounds is not None:
            known = bounds()
        elif isinstance(scan, NativeScan):
            known = _native_bounds(scan, column, kinds[column], limits)
        else:
            known = scan_bounds(column, scan([column]))
        params.update(bucket_params(agg, kinds[column], known))
    out = result_schema(agg, schema)
    needed = needed_columns(agg, schema)
    if isinstance(scan, NativeScan):
        sql = sql_of(agg, kinds, scan.source(needed), native)
        table = _execute(sql, {**params, **scan.params, "files": list(scan.files)}, None, limits)
    else:
        table = _execute(sql_of(agg, kinds), params, scan(needed), limits)
    check_rows(agg, table.num_rows, limits)
    return conform(table, out)
