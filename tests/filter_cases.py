"""One table, filters over every kind and op, and a plain-Python oracle with SQL's null
semantics: every source (files, PostgreSQL natively and over ODBC) must return what the
oracle returns."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from saeta.core.filters import Bound, bind, kinds_of, parse_filter

D = decimal.Decimal
UTC = dt.UTC


def table() -> pa.Table:
    ids = list(range(40))

    def pick(values: list[Any]) -> list[Any]:
        # Every column has nulls, at rows that differ with its number of values.
        return [None if i % 7 == len(values) % 7 else values[i % len(values)] for i in ids]

    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "small": pa.array(pick([-3, 0, 5, 127]), pa.int16()),
            "price": pa.array(pick([0.5, 1.25, -2.0, 1e20, 3.0]), pa.float64()),
            "amount": pa.array(pick([D("0.10"), D("12.50"), D("-7.25"), D("1234.56")]), pa.decimal128(12, 2)),
            "name": pa.array(pick(["ana", "Ñandú", "zoe", "'; DROP TABLE t; --", "bob"]), pa.string()),
            "ok": pa.array(pick([True, False, True]), pa.bool_()),
            "day": pa.array(pick([dt.date(2024, 2, 29), dt.date(1999, 12, 31), dt.date(2030, 1, 1)]), pa.date32()),
            "at": pa.array(
                pick([dt.datetime(2024, 3, 1, 10, 30), dt.datetime(2024, 3, 1, 23, 59, 59)]), pa.timestamp("us")
            ),
            "at_utc": pa.array(
                pick([dt.datetime(2024, 3, 1, 9, tzinfo=UTC), dt.datetime(2024, 3, 1, 11, tzinfo=UTC)]),
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


# [filter, ...]: each is one query's filter (a list of conditions, all must hold).
FILTERS: list[list[list[Any]]] = [
    [["id", "=", 3]],
    [["id", "!=", 3], ["id", "<", 6]],
    [["small", "<", 1]],
    [["small", ">=", 5]],
    [["small", "in", [0, 127, 1000]]],
    [["small", "not_in", [0]]],
    [["small", "is_null"]],
    [["small", "not_null"], ["id", "<=", 10]],
    [["price", ">", 1]],
    [["price", "<=", 0.5]],
    [["price", "=", 1e20]],
    [["amount", ">", "0.1"]],
    [["amount", "<", 0]],
    [["amount", "in", ["12.5", "1234.56"]]],
    [["name", "=", "Ñandú"]],
    [["name", ">", "b"]],
    [["name", "in", ["'; DROP TABLE t; --", "ana"]]],
    [["name", "not_in", ["ana", "bob"]]],
    [["name", "is_null"]],
    [["ok", "=", True]],
    [["ok", "!=", True]],
    [["ok", "not_in", [False]]],
    [["day", ">", "2000-01-01"]],
    [["day", "=", "2024-02-29"]],
    [["at", ">=", "2024-03-01T12:00:00"]],
    [["at", "<", "2024-03-01T10:30:00.000001"]],
    [["at_utc", ">", "2024-03-01T11:00:00+01:00"]],
    [["at_utc", "=", "2024-03-01T09:00:00Z"]],
    [["id", ">", 5], ["price", "not_null"], ["name", "!=", "zoe"], ["day", "<", "2030-01-01"]],
    [["id", "in", [1]], ["id", "not_in", [1]]],
]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _holds(b: Bound, value: Any) -> bool:
    if b.op == "is_null":
        return value is None
    if b.op == "not_null":
        return value is not None
    if value is None:
        return False  # SQL: a comparison with null is not true
    if b.op == "in":
        return value in b.values
    if b.op == "not_in":
        return value not in b.values
    return _OPS[b.op](value, b.values[0])


def expected_ids(raw: list[list[Any]]) -> list[int]:
    """The ids of table()'s rows that meet filter ``raw``, by plain Python."""
    t = table()
    bound = bind(parse_filter(raw), kinds_of(t.schema), "t")
    return [row["id"] for row in t.to_pylist() if all(_holds(b, row[b.column]) for b in bound)]
