"""Aggregation at the source (issue 16; core/aggregation.py has the shape and the binding):
an aggregate run by DuckDB over the Arrow batches a source reads, with the source's own
projection and filter, so an aggregate sees exactly the rows and types a plain query of
the dataset would. DuckDB runs on ``threads`` threads within ``memory_limit`` (it spills
to disk past it) and streams the batches: memory follows the number of groups, not the
rows. Not yet wired into the connector's queries.

Every name is quoted as an identifier and every number is a bound parameter: nothing the
client sent becomes SQL text. Time columns are bucketed by their milliseconds since the
epoch; a bucket's value in the result is its lower edge, of the column's own kind
(numbers as DOUBLE). first and last are the values at the earliest and latest bucket
column value in the bucket (ties: any one of them)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from saeta.core.aggregation import TEMPORAL, Aggregate, Measure
from saeta.core.filters import Kind
from saeta.errors import QueryFailed

MAX_RESULT_ROWS = 100_000


class ResultTooLarge(QueryFailed):
    """The aggregate has more rows than the connector's bound: narrower groups, fewer
    buckets or a limit (with offset, a page) are the way."""

    code = "RESULT_TOO_LARGE"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _millis(column: str, kind: Kind) -> str:
    """The column as milliseconds since the epoch (time) or as a DOUBLE (numbers)."""
    if kind is Kind.TIMESTAMP_TZ:
        return f"epoch_ms(CAST({ident(column)} AS TIMESTAMPTZ))"
    if kind in TEMPORAL:
        return f"epoch_ms(CAST({ident(column)} AS TIMESTAMP))"
    return f"CAST({ident(column)} AS DOUBLE)"


def _edge(index: str, kind: Kind) -> str:
    """A bucket's lower edge from its index, in the column's kind."""
    value = f"($lo + {index} * $width)"
    if kind is Kind.TIMESTAMP_TZ:
        return f"to_timestamp({value} / 1000.0)"
    if kind is Kind.TIMESTAMP:
        return f"epoch_ms(CAST({value} AS BIGINT))"
    if kind is Kind.DATE:
        return f"CAST(epoch_ms(CAST({value} AS BIGINT)) AS DATE)"
    return value


def _measure(m: Measure, kinds: Mapping[str, Kind], order: str | None) -> str:
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


def bucket_bounds(column: str, batches: pa.RecordBatchReader) -> tuple[float, float] | None:
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


def sql_of(agg: Aggregate, kinds: Mapping[str, Kind]) -> str:
    """The SELECT over the registered batches ``src`` (parameters $lo, $width, $last,
    $limit, $offset)."""
    keys = [ident(c) for c in agg.group_by]
    select = [ident(c) for c in agg.group_by]
    order = None
    if agg.bucket is not None:
        kind = kinds[agg.bucket.column]
        order = _millis(agg.bucket.column, kind)
        index = f"CAST(floor(({order} - $lo) / $width) AS BIGINT)"
        if agg.bucket.count is not None:
            index = f"least({index}, $last)"
        keys.append(index)
        select.append(f"{_edge(index, kind)} AS {ident(agg.bucket.column)}")
    select += [f"{_measure(m, kinds, order)} AS {ident(m.name)}" for m in agg.measures]
    sql = f"SELECT {', '.join(select)} FROM src"  # noqa: S608 (quoted names, bound numbers)
    if keys:
        sql += f" GROUP BY {', '.join(keys)}"
    sort = [f"{ident(k.column)} {'DESC' if k.desc else 'ASC'} NULLS LAST" for k in agg.sort]
    sort += [f"{ident(c)} ASC NULLS LAST" for c in agg.output_columns()[: len(agg.group_by) + bool(agg.bucket)]]
    if sort:
        sql += f" ORDER BY {', '.join(sort)}"
    return sql + " LIMIT $limit OFFSET $offset"


def run(
    agg: Aggregate,
    kinds: Mapping[str, Kind],
    batches: Callable[[], pa.RecordBatchReader],
    limit: int | None = None,
    max_rows: int = MAX_RESULT_ROWS,
    threads: int = 2,
    memory_limit: str = "512MB",
) -> pa.Table:
    """``agg`` over the rows ``batches()`` gives (called twice for buckets by count: once
    for the column's range). Raises ResultTooLarge past ``max_rows`` rows (after the
    query's ``limit`` and the aggregate's offset)."""
    params: dict[str, Any] = {"offset": agg.offset}
    wanted = max_rows + 1 if limit is None else min(limit, max_rows + 1)
    params["limit"] = wanted
    if agg.bucket is not None:
        if agg.bucket.count is not None:
            bounds = bucket_bounds(agg.bucket.column, batches())
            lo, hi = bounds or (0.0, 0.0)
            params.update(lo=lo, width=max((hi - lo) / agg.bucket.count, math.ulp(max(abs(hi), 1.0))))
            params["last"] = agg.bucket.count - 1
        else:
            params.update(lo=0.0, width=agg.bucket.width)
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
    try:
        con.register("src", batches())
        table = con.sql(sql_of(agg, kinds), params=params).to_arrow_table()
    finally:
        con.close()
    if table.num_rows > max_rows:
        raise ResultTooLarge(
            f"the aggregate has more than {max_rows} rows (the connector's bound): "
            "fewer groups or buckets, or a limit and offset for a page"
        )
    return table
