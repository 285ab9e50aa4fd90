"""Aggregation in a query (issue 16, docs/decisions.md "Aggregation at the source"): its
shape, checked by the gateway before anything is sent down a tunnel, and its binding to
a dataset's columns and their kinds, checked by the connector before anything reaches a
source, as filters are (core/filters.py). Running it is the connector's.

A query's ``aggregate`` is an object:

- ``group_by``: up to MAX_GROUP_BY column names;
- ``bucket``: one column cut into buckets, either ``{"column", "width"}`` (a positive
  number: the column's own unit; milliseconds for a time column) or ``{"column",
  "count"}`` (that many equal buckets over the column's range, 1..MAX_BUCKETS);
- ``measures``: 1..MAX_MEASURES of ``{"op", "column", "as"}``: ``count`` (rows; with a
  column, its non-null values), ``sum``, ``min``, ``max``, ``mean``, and ``first`` /
  ``last`` (in the bucket column's order; they need a bucket). min, max, first and last
  per bucket are M4 downsampling of a line chart. ``as`` names the result column (by
  default ``op`` or ``op_column``);
- ``sort``: up to MAX_SORT_KEYS of ``{"column", "desc"}`` over the result's columns;
- ``offset``: rows of the result to skip (with the query's ``limit``, a page).

The result's columns are the group-by columns, then the bucket (its lower edge, named as
its column), then the measures, all names distinct.

Why one file: an aggregate's shape, binding, buckets and bounds are rules over the same
few dataclasses, checked in that order by the gateway and the connector."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from saeta.core.filters import Kind
from saeta.errors import BadRequest, ResultTooLarge

MAX_GROUP_BY = 8
MAX_MEASURES = 32
MAX_SORT_KEYS = 8
MAX_BUCKETS = 100_000
MAX_NAME_CHARS = 256
MAX_OFFSET = 2**53 - 1
COLUMN_OPS = ("sum", "min", "max", "mean", "first", "last")
OPS = ("count", *COLUMN_OPS)
ORDERED_OPS = ("first", "last")  # need a bucket: their order is the bucket column's


@dataclass(frozen=True, slots=True)
class Limits:
    """A connector's bounds on one aggregate (its config's ``aggregation`` section)."""

    max_rows: int = 100_000  # result rows
    memory_mb: int = 512  # the engine's memory; it never spills to disk
    threads: int = 2


@dataclass(frozen=True, slots=True)
class Bucket:
    column: str
    width: float | None = None  # a fixed width, in the column's unit
    count: int | None = None  # else this many buckets over the column's range


@dataclass(frozen=True, slots=True)
class Measure:
    op: str
    column: str | None  # None: count of rows
    name: str


@dataclass(frozen=True, slots=True)
class SortKey:
    column: str
    desc: bool = False


@dataclass(frozen=True, slots=True)
class Aggregate:
    group_by: tuple[str, ...]
    bucket: Bucket | None
    measures: tuple[Measure, ...]
    sort: tuple[SortKey, ...] = ()
    offset: int = 0

    def output_columns(self) -> tuple[str, ...]:
        bucket = () if self.bucket is None else (self.bucket.column,)
        return (*self.group_by, *bucket, *(m.name for m in self.measures))


def _fail(part: str, problem: str) -> BadRequest:
    return BadRequest(f"aggregate{'.' if part else ''}{part}: {problem}")


def _name(value: Any, part: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        raise _fail(part, f"must be a column name of 1-{MAX_NAME_CHARS} characters")
    return value


def _keys(obj: Any, part: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail(part, "must be an object")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _fail(part, f"unknown key {unknown[0]!r}; expected {', '.join(sorted(allowed))}")
    return obj


def _bucket(value: Any) -> Bucket:
    obj = _keys(value, "bucket", {"column", "width", "count"})
    column = _name(obj.get("column"), "bucket.column")
    if ("width" in obj) == ("count" in obj):
        raise _fail("bucket", "needs exactly one of 'width' and 'count'")
    if "count" in obj:
        count = obj["count"]
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_BUCKETS:
            raise _fail("bucket.count", f"must be an integer of 1-{MAX_BUCKETS}")
        return Bucket(column, count=count)
    width = obj["width"]
    if isinstance(width, bool) or not isinstance(width, int | float) or not math.isfinite(width) or width <= 0:
        raise _fail("bucket.width", "must be a positive number")
    return Bucket(column, width=float(width))


def _measure(value: Any, n: int, bucketed: bool) -> Measure:
    part = f"measures[{n}]"
    obj = _keys(value, part, {"op", "column", "as"})
    op = obj.get("op")
    if op not in OPS:
        raise _fail(f"{part}.op", f"unknown measure {op!r}; expected one of {', '.join(OPS)}")
    column = None if obj.get("column") is None else _name(obj["column"], f"{part}.column")
    if op in COLUMN_OPS and column is None:
        raise _fail(f"{part}.column", f"{op} needs a column")
    if op in ORDERED_OPS and not bucketed:
        raise _fail(f"{part}.op", f"{op} needs a bucket (it is first or last in the bucket column's order)")
    default = op if column is None else f"{op}_{column}"
    name = _name(obj.get("as", default), f"{part}.as")
    return Measure(op, column, name)


def _sort(value: Any, names: tuple[str, ...]) -> tuple[SortKey, ...]:
    if not isinstance(value, list) or len(value) > MAX_SORT_KEYS:
        raise _fail("sort", f"must be a list of at most {MAX_SORT_KEYS} keys")
    keys = []
    for n, item in enumerate(value):
        obj = _keys(item, f"sort[{n}]", {"column", "desc"})
        column = _name(obj.get("column"), f"sort[{n}].column")
        if column not in names:
            raise _fail(f"sort[{n}].column", f"{column!r} is not a column of the result ({', '.join(names)})")
        desc = obj.get("desc", False)
        if not isinstance(desc, bool):
            raise _fail(f"sort[{n}].desc", "must be true or false")
        keys.append(SortKey(column, desc))
    return tuple(keys)


def parse_aggregate(value: Any) -> Aggregate:
    """The ``aggregate`` of a query message, shape-checked; BadRequest names the part."""
    obj = _keys(value, "", {"group_by", "bucket", "measures", "sort", "offset"})
    group_by = obj.get("group_by", [])
    if not isinstance(group_by, list) or len(group_by) > MAX_GROUP_BY:
        raise _fail("group_by", f"must be a list of at most {MAX_GROUP_BY} column names")
    groups = tuple(_name(c, f"group_by[{n}]") for n, c in enumerate(group_by))
    bucket = None if obj.get("bucket") is None else _bucket(obj["bucket"])
    measures = obj.get("measures")
    if not isinstance(measures, list) or not 1 <= len(measures) <= MAX_MEASURES:
        raise _fail("measures", f"must be a list of 1-{MAX_MEASURES} measures")
    parsed = tuple(_measure(m, n, bucket is not None) for n, m in enumerate(measures))
    agg = Aggregate(groups, bucket, parsed)
    names = agg.output_columns()
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _fail("measures", f"the result would have two columns named {name!r} (give one an 'as')")
        seen.add(name)
    sort = _sort(obj.get("sort", []), names)
    offset = obj.get("offset", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise _fail("offset", "must be a non-negative integer")
    return Aggregate(groups, bucket, parsed, sort, offset)


def to_json(agg: Aggregate) -> dict[str, Any]:
    """``agg`` in the browser's form: ``parse_aggregate(to_json(agg)) == agg``."""
    obj: dict[str, Any] = {"measures": [_measure_json(m) for m in agg.measures]}
    if agg.group_by:
        obj["group_by"] = list(agg.group_by)
    if agg.bucket is not None:
        b = agg.bucket
        obj["bucket"] = {"column": b.column, **({"count": b.count} if b.count is not None else {"width": b.width})}
    if agg.sort:
        obj["sort"] = [{"column": k.column, "desc": k.desc} for k in agg.sort]
    if agg.offset:
        obj["offset"] = agg.offset
    return obj


def _measure_json(m: Measure) -> dict[str, Any]:
    return {"op": m.op, "as": m.name, **({} if m.column is None else {"column": m.column})}


# --------------------------------------------------------------------------- binding

NUMERIC = (Kind.INTEGER, Kind.FLOAT, Kind.DECIMAL)
TEMPORAL = (Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMP_TZ)
ORDERABLE = (*NUMERIC, Kind.STRING, *TEMPORAL, Kind.BOOLEAN)
MS_PER_DAY = 86_400_000


def measure_kind(measure: Measure, kinds: Mapping[str, Kind]) -> Kind:
    """The kind of a measure's result column."""
    if measure.op == "count":
        return Kind.INTEGER
    column = kinds[measure.column or ""]
    if measure.op == "mean":
        return Kind.FLOAT
    return column  # sum, min, max, first, last: the column's own


def bind_aggregate(agg: Aggregate, kinds: Mapping[str, Kind], dataset: str) -> Aggregate:
    """``agg`` checked against a dataset's exposed columns and their kinds (core/filters.py):
    every column exists, every measure fits its column, every sort key has an order.
    Raises BadRequest naming the part before anything reaches the source."""

    def kind(column: str, part: str) -> Kind:
        found = kinds.get(column)
        if found is None:
            raise _fail(part, f"dataset {dataset} has no column {column!r}")
        return found

    result: dict[str, Kind] = {}
    for n, column in enumerate(agg.group_by):
        k = kind(column, f"group_by[{n}]")
        if k is Kind.NONE:
            raise _fail(f"group_by[{n}]", f"{column!r} is a column of a type that cannot be grouped")
        result[column] = k
    if agg.bucket is not None:
        bucket = agg.bucket
        k = kind(bucket.column, "bucket.column")
        if k not in NUMERIC + TEMPORAL:
            raise _fail("bucket.column", f"{bucket.column!r} is {k.value}: buckets need a number, date or timestamp")
        if k is Kind.DATE and bucket.width is not None and bucket.width % MS_PER_DAY:
            raise _fail("bucket.width", f"a date column's buckets are whole days ({MS_PER_DAY} ms each)")
        result[bucket.column] = k
    for n, m in enumerate(agg.measures):
        part = f"measures[{n}]"
        if m.column is not None:
            k = kind(m.column, f"{part}.column")
            if m.op in ("sum", "mean") and k not in NUMERIC:
                raise _fail(f"{part}.column", f"{m.op} needs a number; {m.column!r} is {k.value}")
            if m.op in ("min", "max") and k not in ORDERABLE:
                raise _fail(f"{part}.column", f"{m.op} needs a column with an order; {m.column!r} is {k.value}")
            if m.op in ORDERED_OPS and k is Kind.NONE:
                raise _fail(f"{part}.column", f"{m.op} cannot take {m.column!r}, a column of a type not relayed here")
        result[m.name] = measure_kind(m, kinds)
    for n, key in enumerate(agg.sort):
        if result[key.column] not in ORDERABLE:
            raise _fail(f"sort[{n}].column", f"{key.column!r} is {result[key.column].value}, which has no order")
    return agg


def bucket_params(agg: Aggregate, kind: Kind, bounds: tuple[float, float] | None) -> dict[str, Any]:
    """$lo, $width and $last of a bucketed aggregate, from the column's range: by count,
    ``count`` equal buckets from its least value (whole days for a date column); by width,
    buckets aligned on multiples of it, refused past MAX_BUCKETS (BadRequest, before the
    aggregate runs)."""
    assert agg.bucket is not None
    lo, hi = bounds or (0.0, 0.0)
    if agg.bucket.count is not None:
        width = max((hi - lo) / agg.bucket.count, math.ulp(max(abs(hi), abs(lo), 1.0)))
        if kind is Kind.DATE:
            width = max(math.ceil(width / MS_PER_DAY), 1) * MS_PER_DAY
        return {"lo": lo, "width": width, "last": agg.bucket.count - 1}
    width = float(agg.bucket.width or 1.0)
    first, last = math.floor(lo / width), math.floor(hi / width)
    if last - first + 1 > MAX_BUCKETS:
        raise BadRequest(
            f"aggregate.bucket.width: {width:g} would make {last - first + 1} buckets over the column's range; "
            f"at most {MAX_BUCKETS}"
        )
    return {"lo": first * width, "width": width, "last": last - first}


def check_live(agg: Aggregate) -> Aggregate:
    """``agg`` fit for a subscription (docs/protocol.md, "Live aggregates"): buckets by
    width (by count they would move as rows arrive), no sort or offset (rows are replaced
    as they change). BadRequest names the part."""
    if agg.bucket is not None and agg.bucket.count is not None:
        raise _fail("bucket.count", "a subscription's buckets need a width: by count they would move as rows arrive")
    if agg.sort or agg.offset:
        raise _fail("sort" if agg.sort else "offset", "does not apply to a subscription")
    return agg


def check_rows(agg: Aggregate, rows: int, limits: Limits) -> None:
    """Refuses an aggregate's answer of ``rows`` rows (asked for one past the bound):
    more than ``limits.max_rows`` (ResultTooLarge), or none after a non-zero offset
    (BadRequest: the offset is past the end). Every source's aggregate ends with it."""
    if rows > limits.max_rows:
        raise ResultTooLarge(
            f"the aggregate has more than {limits.max_rows} rows (the connector's aggregation.max_result_rows): "
            "fewer groups or buckets, or a limit and offset for a page"
        )
    if agg.offset and rows == 0:
        raise BadRequest(f"aggregate.offset: {agg.offset} is past the end of the result")
