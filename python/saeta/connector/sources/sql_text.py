"""The SQL a database source sends: the dataset's base query wrapped in projection, filter
and limit, for PostgreSQL and SQL Server (T-SQL).

Identifiers are quoted and were checked against the dataset's exposed columns before they
get here. Filter values are never written into the text: each is a placeholder, bound as
text by the driver and turned into the column's type by the database with ``CAST`` (one
way for every driver and both dialects: arrow-odbc binds parameters as text, and the ADBC
driver would otherwise bind Python types its own way). Only the limit is rendered, as an
integer Python formatted itself.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from saeta.core.filters import Bound, BoundValue, Kind

_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True)
class Dialect:
    name: str
    quote_open: str
    quote_close: str
    casts: dict[Kind, str]
    true_false: tuple[str, str]
    limit_by_top: bool  # T-SQL's SELECT TOP (n), else a trailing LIMIT n
    decimal_of_value_scale: bool  # no unconstrained decimal type: DECIMAL(38, the value's scale)

    def quote(self, name: str) -> str:
        return self.quote_open + name.replace(self.quote_close, self.quote_close * 2) + self.quote_close

    def cast_type(self, kind: Kind, value: BoundValue) -> str:
        if kind is Kind.DECIMAL and self.decimal_of_value_scale:
            # The value's own scale, so the comparison is exact.
            assert isinstance(value, decimal.Decimal)
            exponent = value.as_tuple().exponent
            scale = min(max(-exponent, 0), 37) if isinstance(exponent, int) else 0
            return f"DECIMAL(38, {scale})"
        return self.casts[kind]

    def value_text(self, value: BoundValue) -> str:
        """The text a value is bound as; the database parses it with CAST."""
        if isinstance(value, bool):
            return self.true_false[0] if value else self.true_false[1]
        if isinstance(value, decimal.Decimal):
            return format(value, "f")
        if isinstance(value, float):
            return repr(value)
        if isinstance(value, dt.date):  # and datetime: ISO 8601, with its offset if any
            return value.isoformat()
        if isinstance(value, uuid.UUID | int | str):
            return str(value)
        raise TypeError(f"no text form for {type(value).__name__}")

    def empty(self, base: str) -> str:
        """A query returning ``base``'s columns and no row (to learn its schema)."""
        top, tail = self._limits(0)
        return f"SELECT {top}* FROM ({base}) AS saeta_q{tail}"  # noqa: S608

    def _limits(self, limit: int | None) -> tuple[str, str]:
        """Where a row limit goes: after SELECT (TOP) or at the end (LIMIT)."""
        if limit is None:
            return "", ""
        return (f"TOP ({limit:d}) ", "") if self.limit_by_top else ("", f" LIMIT {limit:d}")

    def max_of(self, base: str, column: str) -> str:
        """The largest value of ``column`` in ``base``."""
        return f"SELECT max({self.quote(column)}) AS saeta_max FROM ({base}) AS saeta_q"  # noqa: S608

    def where(self, bound: Sequence[Bound], binder: Binder) -> list[str]:
        """The filter's conditions as SQL, each value a bound parameter."""
        where = []
        for b in bound:
            col = self.quote(b.column)
            if b.op == "is_null":
                where.append(f"{col} IS NULL")
            elif b.op == "not_null":
                where.append(f"{col} IS NOT NULL")
            elif b.op in ("in", "not_in"):
                listed = ", ".join(binder.bind(b.kind, v) for v in b.values)
                where.append(f"{col} {'IN' if b.op == 'in' else 'NOT IN'} ({listed})")
            else:
                where.append(f"{col} {_OPS[b.op]} {binder.bind(b.kind, b.values[0])}")
        return where

    def select(
        self,
        base: str,
        columns: Sequence[str],
        bound: Sequence[Bound],
        limit: int | None,
        value_expr: Callable[[int, str], str],
        first_param: int = 1,
        order_by: str | Sequence[str] | None = None,
    ) -> tuple[str, list[str]]:
        """``SELECT columns FROM (base) WHERE ... [LIMIT]`` and the filter's values as
        text, in order; ``value_expr(n, type)`` writes the n-th value (from ``first_param``,
        after the base query's own parameters) as an expression of that SQL type, e.g.
        ``CAST(? AS bigint)`` (see ``cast_marker``)."""
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise ValueError("limit must be a non-negative integer")
        binder = Binder(self, value_expr, first_param)
        where = self.where(bound, binder)
        params = binder.values
        select = ", ".join(self.quote(c) for c in columns)
        top, tail = self._limits(limit)
        sql = f"SELECT {top}{select} FROM ({base}) AS saeta_q"  # noqa: S608 (quoted, checked names)
        if where:
            sql += " WHERE " + " AND ".join(where)
        if order_by:
            keys = (order_by,) if isinstance(order_by, str) else order_by
            sql += " ORDER BY " + ", ".join(self.quote(k) for k in keys)
        return sql + tail, params


class Binder:
    """A statement's bound values, in order: ``bind`` keeps a value's text and gives the
    expression that reads it (``value_expr(n, type)``, from ``first_param``)."""

    def __init__(self, dialect: Dialect, value_expr: Callable[[int, str], str], first_param: int) -> None:
        self.dialect = dialect
        self.value_expr = value_expr
        self.first_param = first_param
        self.values: list[str] = []

    def bind(self, kind: Kind, value: BoundValue) -> str:
        self.values.append(self.dialect.value_text(value))
        return self.value_expr(self.first_param + len(self.values) - 1, self.dialect.cast_type(kind, value))


def cast_marker(marker: Callable[[int], str]) -> Callable[[int, str], str]:
    """Values as bound parameters: ``CAST(<marker> AS <type>)``."""
    return lambda n, sql_type: f"CAST({marker(n)} AS {sql_type})"


POSTGRESQL = Dialect(
    name="postgresql",
    quote_open='"',
    quote_close='"',
    casts={
        Kind.INTEGER: "bigint",
        Kind.FLOAT: "double precision",
        Kind.DECIMAL: "numeric",
        Kind.STRING: "text",
        Kind.BOOLEAN: "boolean",
        Kind.DATE: "date",
        Kind.TIMESTAMP: "timestamp",
        Kind.TIMESTAMP_TZ: "timestamptz",
        Kind.UUID: "uuid",
    },
    true_false=("true", "false"),
    limit_by_top=False,
    decimal_of_value_scale=False,
)

SQLSERVER = Dialect(
    name="sqlserver",
    quote_open="[",
    quote_close="]",
    casts={
        Kind.INTEGER: "BIGINT",
        Kind.FLOAT: "FLOAT",
        Kind.STRING: "NVARCHAR(MAX)",
        Kind.BOOLEAN: "BIT",
        Kind.DATE: "DATE",
        Kind.TIMESTAMP: "DATETIME2(7)",
        Kind.TIMESTAMP_TZ: "DATETIMEOFFSET(7)",
        Kind.UUID: "UNIQUEIDENTIFIER",
    },
    true_false=("1", "0"),
    limit_by_top=True,
    decimal_of_value_scale=True,
)

DIALECTS = {d.name: d for d in (POSTGRESQL, SQLSERVER)}

# DuckDB, for a filter over Parquet files read by its own reader (sources/file_aggregate.py);
# not a dialect a database dataset can name.
DUCKDB = Dialect(
    name="duckdb",
    quote_open='"',
    quote_close='"',
    casts={
        Kind.INTEGER: "BIGINT",
        Kind.FLOAT: "DOUBLE",
        Kind.STRING: "VARCHAR",
        Kind.BOOLEAN: "BOOLEAN",
        Kind.DATE: "DATE",
        Kind.TIMESTAMP: "TIMESTAMP",
        Kind.TIMESTAMP_TZ: "TIMESTAMPTZ",
        Kind.UUID: "UUID",
    },
    true_false=("true", "false"),
    limit_by_top=False,
    decimal_of_value_scale=True,
)
