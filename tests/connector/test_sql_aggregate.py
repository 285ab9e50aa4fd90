"""The aggregate SQL of the database sources, for both dialects (PostgreSQL's also runs for
real in tests/system/test_aggregation.py; no SQL Server runs here, so T-SQL's is checked by
sqlglot's T-SQL parser): it parses, names are quoted identifiers, and every number of a
bucket is a placeholder with its value bound, never text."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from saeta.connector.sources.sql_aggregate import select_aggregate, select_bounds
from saeta.connector.sources.sql_text import POSTGRESQL, SQLSERVER, Binder, Dialect, cast_marker
from saeta.core.aggregation import bind_aggregate, bucket_params, parse_aggregate
from saeta.core.filters import Kind, bind, parse_filter
from sqlglot import exp

KINDS = {
    "v": Kind.FLOAT,
    "n": Kind.INTEGER,
    "ok": Kind.BOOLEAN,
    "ref": Kind.UUID,
    "g": Kind.STRING,
    'odd "name] --': Kind.STRING,
    "t": Kind.TIMESTAMP,
    "tz": Kind.TIMESTAMP_TZ,
    "d": Kind.DATE,
}
DIALECTS = [(POSTGRESQL, "postgres", cast_marker(lambda n: f"${n}")), (SQLSERVER, "tsql", cast_marker(lambda _: "?"))]
BASE = "SELECT * FROM lecturas"
LO, WIDTH = 1711836000123.0, 3600017.0  # values that must never appear in the text


def _sql(dialect: Dialect, marker: Any, spec: dict[str, Any], limit: int | None = 10) -> tuple[str, list[str]]:
    agg = bind_aggregate(parse_aggregate(spec), KINDS, "d")
    bucket = None
    if agg.bucket is not None:
        bucket = bucket_params(agg, KINDS[agg.bucket.column], (LO, LO + 50 * WIDTH))
    binder = Binder(dialect, marker, 1)
    bound = bind(parse_filter([["n", ">", 3]]), KINDS, "d")
    return select_aggregate(dialect, BASE, agg, KINDS, bound, limit, binder, bucket), binder.values


SPECS = [
    {"group_by": ["g", 'odd "name] --'], "measures": [{"op": "count"}, {"op": "sum", "column": "n"}]},
    {
        "bucket": {"column": "t", "count": 50},
        "measures": [{"op": m, "column": "v"} for m in ("min", "max", "first", "last")],
    },
    {
        "bucket": {"column": "tz", "width": 3600017},
        "measures": [{"op": "first", "column": "ok"}, {"op": "last", "column": "ref"}],
    },
    {
        "bucket": {"column": "d", "width": 86_400_000},
        "measures": [{"op": "mean", "column": "n"}, {"op": "max", "column": "ok"}],
    },
    {
        "group_by": ["g"],
        "measures": [{"op": "count", "as": "c"}],
        "sort": [{"column": "c", "desc": True}],
        "offset": 20,
    },
]


@pytest.mark.parametrize(("dialect", "name", "marker"), DIALECTS)
@pytest.mark.parametrize("spec", SPECS)
def test_the_statement_parses_and_binds_every_value(
    dialect: Dialect, name: str, marker: Any, spec: dict[str, Any]
) -> None:
    sql, values = _sql(dialect, marker, spec)
    tree = sqlglot.parse_one(sql, read=name)
    assert isinstance(tree, exp.Select)
    placeholders = (
        sql.count("?") if name == "tsql" else len({p for p in range(1, 50) if f"${p} " in sql or f"${p})" in sql})
    )
    assert placeholders == len(values)
    assert "3" in values  # the filter's value, bound
    for value in (repr(LO), repr(WIDTH), "1711836000123", "3600017"):
        assert value not in sql
    columns = {c.name for c in tree.find_all(exp.Column)}
    assert columns <= set(KINDS) | {c for c in columns if c.startswith("saeta_")} | {"c", "sum_n", "count", "*"}


@pytest.mark.parametrize(("dialect", "name", "marker"), DIALECTS)
def test_an_odd_name_stays_one_identifier(dialect: Dialect, name: str, marker: Any) -> None:
    sql, _ = _sql(dialect, marker, SPECS[0])
    tree = sqlglot.parse_one(sql, read=name)
    assert 'odd "name] --' in {c.name for c in tree.find_all(exp.Column)}
    assert "--" not in sql.replace('odd ""name] --', "").replace('odd "name]] --', "")


@pytest.mark.parametrize(("dialect", "name", "marker"), DIALECTS)
def test_the_range_query_binds_the_filter(dialect: Dialect, name: str, marker: Any) -> None:
    binder = Binder(dialect, marker, 1)
    bound = bind(parse_filter([["g", "=", "x'; DROP TABLE t; --"]]), KINDS, "d")
    sql = select_bounds(dialect, BASE, "tz", Kind.TIMESTAMP_TZ, bound, binder)
    assert isinstance(sqlglot.parse_one(sql, read=name), exp.Select)
    assert binder.values == ["x'; DROP TABLE t; --"] and "DROP" not in sql


def test_a_page_of_tsql_is_offset_fetch() -> None:
    sql, _ = _sql(SQLSERVER, cast_marker(lambda _: "?"), SPECS[4], limit=5)
    assert sql.endswith("OFFSET 20 ROWS FETCH NEXT 5 ROWS ONLY")
    sql, _ = _sql(POSTGRESQL, cast_marker(lambda n: f"${n}"), SPECS[4], limit=5)
    assert sql.endswith("LIMIT 5 OFFSET 20")


def test_first_and_last_of_a_double_take_one_pass_in_postgresql_only() -> None:
    spec = {"bucket": {"column": "t", "count": 50}, "measures": [{"op": "first", "column": "v"}]}
    agg = bind_aggregate(parse_aggregate(spec), KINDS, "d")
    bucket = bucket_params(agg, Kind.TIMESTAMP, (LO, LO + 50 * WIDTH))
    for dialect, marker in ((POSTGRESQL, cast_marker(lambda n: f"${n}")), (SQLSERVER, cast_marker(lambda _: "?"))):
        binder = Binder(dialect, marker, 1)
        sql = select_aggregate(dialect, BASE, agg, KINDS, (), 10, binder, bucket, frozenset({"v"}))
        assert ("ROW_NUMBER()" in sql) is (dialect is SQLSERVER)
        assert ("min(ARRAY[" in sql) is (dialect is POSTGRESQL)
    binder = Binder(POSTGRESQL, cast_marker(lambda n: f"${n}"), 1)
    assert "ROW_NUMBER()" in select_aggregate(POSTGRESQL, BASE, agg, KINDS, (), 10, binder, bucket)  # not a double
