"""The SQL the database sources generate, for both dialects: quoted identifiers, values
only as placeholders (bound as text, CAST by the database), the limit as an integer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from saeta.connector.sources.sql_text import POSTGRESQL, SQLSERVER, cast_marker
from saeta.core.filters import Kind, bind, parse_filter
from sqlglot import exp

KINDS = {
    "id": Kind.INTEGER,
    "precio": Kind.FLOAT,
    "importe": Kind.DECIMAL,
    "nombre": Kind.STRING,
    "activo": Kind.BOOLEAN,
    "dia": Kind.DATE,
    "momento": Kind.TIMESTAMP,
    "momento_tz": Kind.TIMESTAMP_TZ,
    "clave": Kind.UUID,
    "notas": Kind.NONE,
    'odd "name]': Kind.STRING,
}


def _bound(raw: list[list[Any]]) -> Any:
    return bind(parse_filter(raw), KINDS, "d")


_dollar = cast_marker(lambda n: f"${n}")
_qmark = cast_marker(lambda _: "?")


FILTER = [
    ["id", ">=", 10],
    ["nombre", "in", ["a", "'; DROP TABLE x; --"]],
    ["notas", "is_null"],
    ["activo", "!=", False],
    ["importe", "<", "1234.5600"],
    ["momento_tz", ">", "2024-03-01T00:00:00+01:00"],
    ["clave", "not_in", ["6F9619FF-8B86-D011-B42D-00C04FC964FF"]],
    ["dia", "=", "2024-02-29"],
    ["momento", "<=", "2024-02-29T23:59:59.5"],
    ["precio", "=", 1e20],
]


def test_postgresql_select() -> None:
    sql, params = POSTGRESQL.select(
        "SELECT * FROM t WHERE region = $1", ["id", 'odd "name]'], _bound(FILTER), 50, _dollar, first_param=2
    )
    assert sql == (
        'SELECT "id", "odd ""name]" FROM (SELECT * FROM t WHERE region = $1) AS saeta_q WHERE '
        '"id" >= CAST($2 AS bigint) AND "nombre" IN (CAST($3 AS text), CAST($4 AS text)) AND "notas" IS NULL '
        'AND "activo" <> CAST($5 AS boolean) AND "importe" < CAST($6 AS numeric) '
        'AND "momento_tz" > CAST($7 AS timestamptz) AND "clave" NOT IN (CAST($8 AS uuid)) '
        'AND "dia" = CAST($9 AS date) AND "momento" <= CAST($10 AS timestamp) '
        'AND "precio" = CAST($11 AS double precision) LIMIT 50'
    )
    assert params == [
        "10",
        "a",
        "'; DROP TABLE x; --",
        "false",
        "1234.5600",
        "2024-03-01T00:00:00+01:00",
        "6f9619ff-8b86-d011-b42d-00c04fc964ff",
        "2024-02-29",
        "2024-02-29T23:59:59.500000",
        "1e+20",
    ]


def test_sqlserver_select_uses_top_brackets_and_tsql_types() -> None:
    sql, params = SQLSERVER.select("SELECT * FROM [dbo].[t]", ["id", 'odd "name]'], _bound(FILTER), 50, _qmark)
    assert sql == (
        'SELECT TOP (50) [id], [odd "name]]] FROM (SELECT * FROM [dbo].[t]) AS saeta_q WHERE '
        "[id] >= CAST(? AS BIGINT) AND [nombre] IN (CAST(? AS NVARCHAR(MAX)), CAST(? AS NVARCHAR(MAX))) "
        "AND [notas] IS NULL AND [activo] <> CAST(? AS BIT) AND [importe] < CAST(? AS DECIMAL(38, 4)) "
        "AND [momento_tz] > CAST(? AS DATETIMEOFFSET(7)) AND [clave] NOT IN (CAST(? AS UNIQUEIDENTIFIER)) "
        "AND [dia] = CAST(? AS DATE) AND [momento] <= CAST(? AS DATETIME2(7)) AND [precio] = CAST(? AS FLOAT)"
    )
    assert params[3] == "0"  # BIT
    assert len(params) == 10


@pytest.mark.parametrize(
    ("value", "cast", "text"),
    [
        (5, "DECIMAL(38, 0)", "5"),
        ("0.000001", "DECIMAL(38, 6)", "0.000001"),
        ("1E+3", "DECIMAL(38, 0)", "1000"),
        (-2.5, "DECIMAL(38, 1)", "-2.5"),
    ],
)
def test_sqlserver_decimal_keeps_the_value_scale(value: Any, cast: str, text: str) -> None:
    sql, params = SQLSERVER.select("SELECT 1 AS importe", ["importe"], _bound([["importe", "=", value]]), None, _qmark)
    assert sql.endswith(f"WHERE [importe] = CAST(? AS {cast})")
    assert params == [text]


def test_no_filter_no_limit() -> None:
    assert POSTGRESQL.select("SELECT 1 AS id", ["id"], (), None, _dollar) == (
        'SELECT "id" FROM (SELECT 1 AS id) AS saeta_q',
        [],
    )
    assert SQLSERVER.select("SELECT 1 AS id", ["id"], (), 0, _qmark)[0] == (
        "SELECT TOP (0) [id] FROM (SELECT 1 AS id) AS saeta_q"
    )


@pytest.mark.parametrize("limit", [-1, True, 1.5, "10"])
def test_limit_must_be_an_integer(limit: Any) -> None:
    with pytest.raises(ValueError, match="limit"):
        POSTGRESQL.select("SELECT 1 AS id", ["id"], (), limit, _dollar)


# Every generated statement, parsed by a real parser of its dialect (sqlglot's tsql and
# postgres), says what was asked and nothing else: exactly the asked columns, from the
# dataset's query as a subquery, every value a placeholder (no literal in the WHERE but
# the types' own sizes), and the limit as that number.
_names = st.sampled_from(sorted(KINDS))
_values: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.INTEGER: st.integers(-(2**63), 2**63 - 1),
    Kind.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
    Kind.DECIMAL: st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    Kind.STRING: st.text(max_size=20),
    Kind.BOOLEAN: st.booleans(),
    Kind.DATE: st.dates().map(lambda d: d.isoformat()),
    Kind.TIMESTAMP: st.datetimes().map(lambda d: d.isoformat()),
    Kind.TIMESTAMP_TZ: st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat()),
    Kind.UUID: st.uuids().map(str),
}


@st.composite
def _conditions(draw: st.DrawFn) -> list[list[Any]]:
    out: list[list[Any]] = []
    for name in draw(st.lists(_names, max_size=5)):
        kind = KINDS[name]
        if kind is Kind.NONE:
            out.append([name, draw(st.sampled_from(["is_null", "not_null"]))])
        elif kind in (Kind.STRING, Kind.UUID, Kind.INTEGER):
            op = draw(st.sampled_from(["=", "!=", "in", "not_in"]))
            value = draw(st.lists(_values[kind], min_size=1, max_size=3)) if op.endswith("in") else draw(_values[kind])
            out.append([name, op, value])
        else:
            out.append([name, draw(st.sampled_from(["=", "<", ">=", "!="])), draw(_values[kind])])
    return out


def _parsed(sql: str, dialect: str) -> exp.Select:
    tree = sqlglot.parse_one(sql, read=dialect)
    assert isinstance(tree, exp.Select)
    return tree


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_names, min_size=1, max_size=4, unique=True),
    _conditions(),
    st.none() | st.integers(0, 10**9),
    st.sampled_from(["sqlserver", "postgresql"]),
)
def test_generated_sql_parses_as_exactly_what_was_asked(
    columns: list[str], raw: list[list[Any]], limit: int | None, dialect: str
) -> None:
    try:
        conditions = _bound(raw)
    except Exception:  # a value this column's kind refuses: the filter never gets this far
        return
    if dialect == "sqlserver":
        sql, params = SQLSERVER.select("SELECT * FROM [dbo].[t]", columns, conditions, limit, _qmark)
        tree, slots = _parsed(sql, "tsql"), exp.Placeholder
    else:
        sql, params = POSTGRESQL.select("SELECT * FROM t", columns, conditions, limit, _dollar)
        tree, slots = _parsed(sql, "postgres"), exp.Parameter
    assert [e.alias_or_name for e in tree.expressions] == columns
    assert all(isinstance(e, exp.Column) for e in tree.expressions)
    source = tree.args["from_"].this if "from_" in tree.args else tree.args["from"].this
    assert isinstance(source, exp.Subquery) and source.alias == "saeta_q"
    where = tree.args.get("where")
    found = list(where.find_all(slots)) if where is not None else []
    assert len(found) == len(params)
    if where is not None:
        spliced = [lit for lit in where.find_all(exp.Literal) if not lit.find_ancestor(exp.DataType, slots)]
        assert spliced == [], sql
        referenced = {c.name for c in where.find_all(exp.Column)}
        assert referenced <= {c[0] for c in raw}
    got = tree.args.get("limit")
    assert (got is None) == (limit is None)
    if got is not None:
        assert int(got.expression.name) == limit
