"""A subscription with an aggregate (docs/protocol.md, "Live aggregates"): the follower's
snapshot aggregated, then, after each poll, the rows of the groups and buckets the new rows
changed, each with its whole new value: a client replaces the row of the same keys.

Each batch of rows is reduced by DuckDB to partial measures per key (a count, a sum, a
minimum, a maximum, and for first / last the value with its time); partials merge into
the state the connector keeps, one entry per key, at most ``Limits.max_rows`` (past it
RESULT_TOO_LARGE ends the subscription). Buckets are by width only (aligned on its
multiples): buckets by count would move as the range grows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from saeta.connector.aggregate import ident, millis, result_schema
from saeta.connector.sources.base import Follower, Marks
from saeta.core.aggregation import MS_PER_DAY, TEMPORAL, Aggregate, Limits
from saeta.core.filters import Kind, kinds_of
from saeta.core.resume_token import ResumeUnavailable
from saeta.errors import ResultTooLarge

Key = tuple[Any, ...]


def _partials_sql(agg: Aggregate, kinds: dict[str, Kind]) -> str:
    """Per key (the group-by columns, then the bucket's index as ``saeta_b``): for each
    measure n, ``p{n}a`` (and ``p{n}b``): count, sum, min or max; mean's sum and count;
    first's and last's value and its time."""
    keys = [ident(c) for c in agg.group_by]
    select = list(keys)
    order = None
    where = ""
    if agg.bucket is not None:
        column = agg.bucket.column
        order = millis(column, kinds[column])
        keys.append("saeta_b")
        select.append(f"CAST(floor({order} / $width) AS BIGINT) AS saeta_b")
        where = f" WHERE {ident(column)} IS NOT NULL"
    for n, m in enumerate(agg.measures):
        c = ident(m.column or "")
        if m.op == "count":
            select.append(f"count({'*' if m.column is None else c}) AS p{n}a")
        elif m.op == "sum" and kinds[m.column or ""] in (Kind.INTEGER, Kind.FLOAT):
            select.append(
                f"CAST(sum({c}) AS {'BIGINT' if kinds[m.column or ''] is Kind.INTEGER else 'DOUBLE'}) AS p{n}a"
            )
        elif m.op in ("sum", "min", "max"):
            select.append(f"{m.op}({c}) AS p{n}a")
        elif m.op == "mean":
            select += [f"sum(CAST({c} AS DOUBLE)) AS p{n}a", f"count({c}) AS p{n}b"]
        else:
            pick, edge = ("arg_min", "min") if m.op == "first" else ("arg_max", "max")
            select += [f"{pick}({c}, {order}) AS p{n}a", f"{edge}({order}) FILTER (WHERE {c} IS NOT NULL) AS p{n}b"]
    sql = f"SELECT {', '.join(select)} FROM src{where}"  # noqa: S608 (quoted names, a bound width)
    return sql + (f" GROUP BY {', '.join(keys)}" if keys else "")


def _merge(op: str, old: list[Any], new: list[Any]) -> list[Any]:
    """Two partials of one measure, as one."""
    a, b = old
    x, y = new
    if op == "count":
        return [a + x, None]
    if op == "sum":
        return [x if a is None else a if x is None else a + x, None]
    if op in ("min", "max"):
        pick = min if op == "min" else max
        return [x if a is None else a if x is None else pick(a, x), None]
    if op == "mean":
        return [(a or 0.0) + (x or 0.0), b + y]
    if b is None or (y is not None and (y < b if op == "first" else y > b)):
        return [x, y] if y is not None else [a, b]
    return [a, b]


class LiveAggregate:
    """A Follower (connector/sources/base.py) giving an aggregate of ``inner``'s rows."""

    def __init__(self, inner: Follower, agg: Aggregate, schema: pa.Schema, limits: Limits) -> None:
        self.inner = inner
        self.agg = agg
        self.schema = schema  # the source's, for the kinds and the result's types
        self.kinds = kinds_of(schema)
        self.limits = limits
        self.out = result_schema(agg, schema)
        self.poll_seconds = inner.poll_seconds
        self.marks = Marks()  # never on: an aggregate's rows are not a stream to resume within
        self.state: dict[Key, list[list[Any]]] = {}
        self._sql = _partials_sql(agg, self.kinds)

    def restore(self, cursor: bytes, skip: int) -> None:
        raise ResumeUnavailable("a subscription with an aggregate starts again from its snapshot")

    def snapshot(self) -> Iterator[pa.RecordBatch]:
        touched = self._fold(self.inner.snapshot())
        yield from self._rows(touched).to_batches()

    def poll(self) -> tuple[list[pa.RecordBatch], bool]:
        batches, more = self.inner.poll()
        touched = self._fold(batches) if batches else set()
        return (self._rows(touched).to_batches() if touched else []), more

    def close(self) -> None:
        self.inner.close()

    def _fold(self, batches: Iterable[pa.RecordBatch]) -> set[Key]:
        """Merges the partials of ``batches`` into the state; the keys they touched."""
        batches = list(batches)
        if not batches:
            return set()
        names = batches[0].schema
        reader = pa.RecordBatchReader.from_batches(names, iter(batches))
        params = {"width": float(self.agg.bucket.width or 1.0)} if self.agg.bucket is not None else {}
        config: dict[str, str | bool | int | float | list[str]] = {
            "threads": self.limits.threads,
            "memory_limit": f"{self.limits.memory_mb}MB",
            "temp_directory": "",
        }
        con = duckdb.connect(config=config)
        try:
            con.register("src", reader)
            partials = con.sql(self._sql, params=params).to_arrow_table().to_pylist()
        except duckdb.OutOfMemoryException:
            raise ResultTooLarge(
                f"the subscription's aggregate needs more than the connector's {self.limits.memory_mb} MB"
            ) from None
        finally:
            con.close()
        width = len(self.agg.group_by) + (self.agg.bucket is not None)
        touched: set[Key] = set()
        for row in partials:
            values = list(row.values())
            key = tuple(values[:width])
            fresh = [[row[f"p{n}a"], row.get(f"p{n}b")] for n in range(len(self.agg.measures))]
            held = self.state.get(key)
            if held is None:
                if len(self.state) >= self.limits.max_rows:
                    raise ResultTooLarge(
                        f"the subscription's aggregate has more than {self.limits.max_rows} rows "
                        "(the connector's aggregation.max_result_rows): fewer groups or wider buckets"
                    )
                self.state[key] = fresh
            else:
                self.state[key] = [_merge(m.op, h, f) for m, h, f in zip(self.agg.measures, held, fresh, strict=True)]
            touched.add(key)
        return touched

    def _rows(self, keys: set[Key]) -> pa.Table:
        """The rows of ``keys`` in the result's schema, in the order of their keys."""
        ordered = sorted(keys, key=lambda k: tuple((v is None, v) for v in k))
        columns: list[pa.Array] = []
        for i, column in enumerate(self.agg.group_by):
            columns.append(pa.array([k[i] for k in ordered], self.schema.field(column).type))
        if self.agg.bucket is not None:
            at = len(self.agg.group_by)
            columns.append(self._edges([k[at] for k in ordered]))
        for n, m in enumerate(self.agg.measures):
            values = [self._value(m.op, self.state[k][n]) for k in ordered]
            columns.append(pa.array(values, self.out.field(m.name).type))
        return pa.Table.from_arrays(columns, schema=self.out)

    def _value(self, op: str, partial: list[Any]) -> Any:
        a, b = partial
        if op == "mean":
            return None if not b else a / b
        return a

    def _edges(self, indexes: list[int]) -> pa.Array:
        assert self.agg.bucket is not None
        width = float(self.agg.bucket.width or 1.0)
        field = self.out.field(self.agg.bucket.column)
        if self.kinds[self.agg.bucket.column] not in TEMPORAL:
            return pa.array([i * width for i in indexes], pa.float64())
        ms = pa.array([math.floor(i * width) for i in indexes], pa.int64())
        if pa.types.is_date(field.type):
            return pc.cast(pc.divide(ms, MS_PER_DAY), pa.int32()).cast(field.type)
        tz = getattr(field.type, "tz", None)
        return pc.cast(ms.cast(pa.timestamp("ms", tz)), field.type, safe=False)
