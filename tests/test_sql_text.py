"""The SQL the database sources generate, for both dialects: quoted identifiers, values
only as placeholders (bound as text, CAST by the database), the limit as an integer."""

from __future__ import annotations

from typing import Any

import pytest
from saeta.connector.sources.sql_text import POSTGRESQL, SQLSERVER, cast_marker
from saeta.core.filters import Kind, bind, parse_filter

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
