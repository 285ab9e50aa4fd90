"""Flight SQL statements into saeta's query (core/flight_sql_parse.py): the shapes that
push down become exactly the socket's query; everything else is SQL_UNSUPPORTED naming
what was refused, or BAD_REQUEST from the query's own checks."""

from __future__ import annotations

import pytest
from saeta.core.aggregation import Bucket, Measure, SortKey
from saeta.core.filters import Condition
from saeta.core.flight_sql_parse import parse_sql
from saeta.core.paging import Page
from saeta.errors import SaetaError


def test_select_columns_with_a_filter_order_and_limit() -> None:
    got = parse_sql(
        "SELECT id, total AS t FROM ventas "
        "WHERE total > -2.5 AND region IN ('Norte', 'Sur') AND 3 <= cantidad AND producto IS NOT NULL "
        "AND id BETWEEN 1 AND 9 AND fecha >= TIMESTAMP '2024-01-01 00:00:00' AND NOT region IN ('Este') "
        "AND precio IS NULL AND region != 'x' AND flag ORDER BY t DESC, 1 LIMIT 5 OFFSET 2"
    )
    q = got.query
    assert (q.dataset, q.columns, q.limit, q.aggregate) == ("ventas", ("id", "total"), 5, None)
    assert q.filter == (
        Condition("total", ">", (-2.5,)),
        Condition("region", "in", ("Norte", "Sur")),
        Condition("cantidad", ">=", (3,)),
        Condition("producto", "not_null", ()),
        Condition("id", ">=", (1,)),
        Condition("id", "<=", (9,)),
        Condition("fecha", ">=", ("2024-01-01 00:00:00",)),
        Condition("region", "not_in", ("Este",)),
        Condition("precio", "is_null", ()),
        Condition("region", "!=", ("x",)),
        Condition("flag", "=", (True,)),
    )
    assert q.page == Page((SortKey("total", True), SortKey("id")), 2)
    assert got.names == ("id", "t")


def test_star_and_qualified_names() -> None:
    for sql in (
        "SELECT * FROM ventas",
        'SELECT * FROM "saeta"."datasets"."ventas"',
        "SELECT * FROM datasets.ventas v",
    ):
        got = parse_sql(sql)
        assert (got.query.dataset, got.query.columns, got.names) == ("ventas", None, None)
    assert parse_sql('SELECT v.id, "Weird Name" FROM ventas AS v').query.columns == ("id", "Weird Name")


def test_an_aggregate() -> None:
    got = parse_sql(
        "SELECT region AS r, producto, SUM(total) AS total, COUNT(*), AVG(precio), MIN(id), MAX(id), COUNT(precio) "
        "FROM ventas WHERE cantidad > 1 GROUP BY producto, 1 ORDER BY total DESC, r, 5 LIMIT 10 OFFSET 3"
    )
    agg = got.query.aggregate
    assert agg is not None and got.query.columns is None and got.query.limit == 10
    assert agg.group_by == ("region", "producto")
    assert agg.measures == (
        Measure("sum", "total", "total"),
        Measure("count", None, "count"),
        Measure("mean", "precio", "mean_precio"),
        Measure("min", "id", "min_id"),
        Measure("max", "id", "max_id"),
        Measure("count", "precio", "count_precio"),
    )
    assert agg.sort == (SortKey("total", True), SortKey("region"), SortKey("mean_precio"))
    assert agg.offset == 3
    assert got.names == ("r", "producto", "total", "count", "mean_precio", "min_id", "max_id", "count_precio")


def test_a_global_aggregate_and_order_by_an_aggregate() -> None:
    got = parse_sql("SELECT COUNT(*) AS n FROM ventas")
    assert got.query.aggregate is not None and got.query.aggregate.group_by == () and got.names is None
    agg = parse_sql("SELECT region, SUM(total) FROM ventas GROUP BY region ORDER BY SUM(total) DESC").query.aggregate
    assert agg is not None and agg.sort == (SortKey("sum_total", True),)


def test_date_bin_is_a_bucket() -> None:
    got = parse_sql(
        "SELECT date_bin(INTERVAL '15 minutes', fecha, TIMESTAMP '1970-01-01') AS t, MIN(total), MAX(total) "
        "FROM ventas GROUP BY t ORDER BY t"
    )
    agg = got.query.aggregate
    assert agg is not None and agg.bucket == Bucket("fecha", width=900_000.0) and agg.group_by == ()
    assert agg.sort == (SortKey("fecha"),) and got.names == ("t", "min_total", "max_total")
    hourly = parse_sql("SELECT region, time_bucket(INTERVAL 1 HOUR, fecha), COUNT(*) FROM ventas GROUP BY 1, 2")
    assert hourly.query.aggregate is not None and hourly.query.aggregate.bucket == Bucket("fecha", width=3_600_000.0)


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("SELECT a FROM ventas JOIN other ON ventas.a = other.a", "JOIN"),
        ("SELECT a FROM ventas, other", "JOIN"),
        ("SELECT * FROM (SELECT a FROM ventas)", "subqueries"),
        ("SELECT * FROM ventas WHERE a IN (SELECT a FROM other)", "subqueries"),
        ("SELECT (SELECT 1) FROM ventas", "subqueries"),
        ("WITH q AS (SELECT a FROM ventas) SELECT * FROM q", "WITH"),
        ("SELECT a FROM ventas UNION SELECT a FROM other", "UNION"),
        ("SELECT DISTINCT a FROM ventas", "DISTINCT"),
        ("SELECT a, COUNT(*) FROM ventas GROUP BY a HAVING COUNT(*) > 1", "HAVING"),
        ("SELECT a, ROW_NUMBER() OVER (ORDER BY a) FROM ventas", "window"),
        ("SELECT upper(a) FROM ventas", "UPPER(a)"),
        ("SELECT a + 1 FROM ventas", "a + 1"),
        ("SELECT 1 FROM ventas", "1"),
        ("SELECT a FROM ventas WHERE a = 1 OR b = 2", "OR"),
        ("SELECT a FROM ventas WHERE a LIKE 'x%'", "LIKE"),
        ("SELECT a FROM ventas WHERE a = b", "literal"),
        ("SELECT a FROM ventas WHERE lower(a) = 'x'", "literal"),
        ("SELECT a FROM ventas WHERE a = NULL", "IS NULL"),
        ("SELECT COUNT(DISTINCT a) FROM ventas", "DISTINCT"),
        ("SELECT SUM(a + b) FROM ventas", "a + b"),
        ("SELECT SUM(total), region FROM ventas GROUP BY region", "grouped columns first"),
        ("SELECT region, COUNT(*) FROM ventas", "not in the GROUP BY"),
        ("SELECT region, COUNT(*) FROM ventas GROUP BY region, producto", "select it too"),
        ("SELECT region FROM ventas GROUP BY region", "at least one aggregate"),
        ("SELECT *, a FROM ventas", "alone"),
        ("SELECT *, COUNT(*) FROM ventas", "*"),
        ("SELECT a FROM ventas ORDER BY a NULLS FIRST", "NULLS FIRST"),
        ("SELECT a FROM ventas LIMIT 1 + 1", "whole number"),
        ("SELECT a FROM other_db.ventas", "no schema"),
        ("SELECT x.a FROM ventas", "no table 'x'"),
        ("SELECT date_bin(INTERVAL '1 month', fecha) AS m, COUNT(*) FROM ventas GROUP BY m", "whole number"),
        ("SELECT date_bin(INTERVAL '7 days', fecha), COUNT(*) FROM ventas GROUP BY 1", "origin"),
        (
            "SELECT date_bin(INTERVAL '1 hour', fecha, TIMESTAMP '2000-01-01 00:30') AS h, COUNT(*) FROM v GROUP BY h",
            "epoch",
        ),
        ("INSERT INTO ventas VALUES (1)", "INSERT"),
        ("UPDATE ventas SET a = 1", "UPDATE"),
        ("DELETE FROM ventas", "DELETE"),
        ("DROP TABLE ventas", "DROP"),
        ("CREATE TABLE x (a INT)", "CREATE"),
        ("SELECT 1; DROP TABLE ventas", "one statement"),
        ("SELECT * FROM ventas; SELECT * FROM ventas", "one statement"),
        ("SELEC a FROM ventas", "parse"),
        ("SELEC a", "not a SELECT"),
        ("SHOW TABLES", "not a SELECT"),
        ("SELECT * FROM", "parse"),
        ("SELECT 'unterminated FROM ventas", "parse"),
        ("", "empty"),
        ("SELECT a", "FROM"),
    ],
)
def test_what_cannot_be_pushed_down_is_refused_by_name(sql: str, says: str) -> None:
    with pytest.raises(SaetaError) as err:
        parse_sql(sql)
    assert err.value.code == "SQL_UNSUPPORTED", err.value
    assert says in err.value.message


def test_the_query_checks_still_hold() -> None:
    """A statement can ask for nothing a socket's query could not: the same parser says no."""
    many = ", ".join(f"'{i}'" for i in range(1001))
    for sql in (
        f"SELECT a FROM ventas WHERE a IN ({many})",  # noqa: S608
        "SELECT a, a FROM ventas",
        "SELECT a FROM ventas LIMIT 99999999999999999999",
    ):
        with pytest.raises(SaetaError) as err:
            parse_sql(sql)
        assert err.value.code == "BAD_REQUEST", (sql, err.value)


def test_a_huge_or_deep_statement_is_refused() -> None:
    with pytest.raises(SaetaError):
        parse_sql("SELECT a FROM ventas WHERE " + " AND ".join(["a = 1"] * 20_000))  # noqa: S608
    with pytest.raises(SaetaError):  # within the size bound, past Python's recursion limit
        parse_sql("SELECT a FROM ventas WHERE " + " AND ".join(["a = 1"] * 6_000))  # noqa: S608
    with pytest.raises(SaetaError):
        parse_sql("SELECT a FROM ventas WHERE " + "(" * 5000 + "a = 1" + ")" * 5000)
