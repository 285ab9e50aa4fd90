"""PostgreSQL through the ADBC PostgreSQL driver (libpq, binary COPY to Arrow): the driver
half of a PostgreSQL dataset (sql_source.py has the rest).

A dataset is a table or a query with named parameters (``:name``, bound by the driver,
never written into the SQL). Projection, filter and limit wrap it (sql_text.py). The driver
reads through binary COPY only for a statement without parameters, and 1.7x slower
otherwise (docs/decisions.md), so a filter's values are bound to ``set_config()`` in a
statement of their own and the query reads them back by name:
``SELECT "a" FROM (<base>) AS saeta_q WHERE "c" > (SELECT CAST(current_setting('saeta.v1')
AS bigint)) LIMIT n``. No value is ever written into SQL text; the limit is an integer
Python rendered. Types the browser has no use for in their PostgreSQL form are sent as
text: numeric, uuid and interval (both converted a column at a time by the relay
extension), json/jsonb (docs/sources.md)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from saeta import relay
from saeta.config import SqlDataset
from saeta.connector.sources import sql_source
from saeta.connector.sources.sql_text import POSTGRESQL
from saeta.core.filters import Kind
from saeta.errors import SourceError

_RELAY = relay.load()
# Session settings holding a query's filter values (saeta.v1, saeta.v2, ...).
_SETTING = "saeta.v"


def bind_named(query: str, parameters: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """``:name`` placeholders to ``$n`` (``::type`` casts are left alone), and the values in
    order. Raises ValueError for a placeholder without a value."""
    return sql_source.bind_named(query, parameters, None)


# How a column can be filtered, by its PostgreSQL type (the driver's field metadata):
# others (json, interval, money, arrays, bytea, ...) only with is_null / not_null.
_KINDS = {
    "int2": Kind.INTEGER,
    "int4": Kind.INTEGER,
    "int8": Kind.INTEGER,
    "float4": Kind.FLOAT,
    "float8": Kind.FLOAT,
    "numeric": Kind.DECIMAL,
    "text": Kind.STRING,
    "varchar": Kind.STRING,
    "bpchar": Kind.STRING,
    "name": Kind.STRING,
    "bool": Kind.BOOLEAN,
    "date": Kind.DATE,
    "timestamp": Kind.TIMESTAMP,
    "timestamptz": Kind.TIMESTAMP_TZ,
    "uuid": Kind.UUID,
}


def _kind(f: pa.Field) -> Kind:
    pg_type = (f.metadata or {}).get(b"POSTGRESQL:type", b"").decode("ascii", "replace")
    return _KINDS.get(pg_type, Kind.NONE)


def _sent_as_text(t: pa.DataType) -> bool:
    """The driver's extension types (numeric, uuid, json) and intervals."""
    return isinstance(t, pa.BaseExtensionType) or t == pa.month_day_nano_interval()


def _text_type(t: pa.DataType) -> pa.DataType:
    if _sent_as_text(t):
        return pa.string()
    if pa.types.is_list(t):
        return pa.list_(_text_type(t.value_type))
    return t


class PostgresDriver:
    dialect = POSTGRESQL

    def value(self, n: int, sql_type: str) -> str:
        # The value is bound to set_config() just before (see batches); the query reads it
        # back by name in a scalar subquery, evaluated once, so the query itself has no
        # parameter and the driver keeps binary COPY (docs/decisions.md).
        return f"(SELECT CAST(current_setting('{_SETTING}{n:d}') AS {sql_type}))"

    def connect(self, sql: SqlDataset, password: str | None) -> Any:
        import adbc_driver_postgresql.dbapi as pg  # type: ignore[import-untyped]

        parts = urllib.parse.urlsplit(sql.uri)
        netloc = parts.netloc
        if password is not None:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user}:{urllib.parse.quote(password, safe='')}@{host}"
        uri = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        try:
            # Autocommit: a kept connection must not sit idle in a transaction, holding a
            # snapshot and table locks at the customer's database between queries.
            return pg.connect(uri, autocommit=True)
        except Exception as exc:
            raise SourceError("cannot connect to the database", detail=self.scrub(exc, password)) from None

    def bind_named(self, query: str, parameters: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        return bind_named(query, parameters)

    def schema(self, conn: Any, sql: str, params: tuple[Any, ...]) -> pa.Schema:
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            schema: pa.Schema = cur.fetch_arrow_table().schema
            return schema

    def batches(
        self, conn: Any, sql: str, params: tuple[Any, ...], values: Sequence[str], batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        with conn.cursor() as cur:
            if values:
                first = len(params) + 1
                sets = ", ".join(
                    f"set_config('{_SETTING}{first + i:d}', ${i + 1:d}, false)" for i in range(len(values))
                )
                cur.execute(f"SELECT {sets}", tuple(values))
                cur.fetch_arrow_table()
            cur.execute(sql, params or None)
            yield from cur.fetch_record_batch()

    def exposed_field(self, raw: pa.Field) -> pa.Field:
        return pa.field(raw.name, _text_type(raw.type))

    def kind(self, raw: pa.Field) -> Kind:
        return _kind(raw)

    def convert(self, batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays([_as_text(arr) for arr in batch.columns], schema=target)

    def scrub(self, exc: BaseException, password: str | None) -> str:
        return _scrub(exc, password)


def _as_text(arr: pa.Array) -> pa.Array:
    """``arr`` with the driver's extension types and intervals turned into text."""
    t = arr.type
    if isinstance(t, pa.BaseExtensionType):
        if t.extension_name == "arrow.uuid":
            return _column_text(arr.storage, _RELAY.uuid_text)
        return arr.storage.cast(pa.string())  # numeric, json: text already
    if t == pa.month_day_nano_interval():
        return _column_text(arr, _RELAY.interval_text)
    if pa.types.is_list(t) and _sent_as_text(t.value_type):
        return pa.ListArray.from_arrays(arr.offsets, _as_text(arr.flatten()), mask=arr.is_null())
    return arr


def _column_text(arr: pa.Array, convert: Callable[[bytes], tuple[bytes, bytes]]) -> pa.Array:
    """A column of 16-byte values (uuid; month-day-nano interval) as a string column,
    converted in one call for the whole column by the relay extension (or its twin)."""
    end = arr.offset + len(arr)
    data = arr.buffers()[1]
    raw = data.slice(0, end * 16).to_pybytes() if data is not None else b""  # one memcpy, 16 B a row
    text, offsets = convert(raw)
    return pa.StringArray.from_buffers(
        len(arr), pa.py_buffer(offsets), pa.py_buffer(text), arr.buffers()[0], arr.null_count, arr.offset
    )


def _scrub(exc: BaseException, password: str | None) -> str:
    """The driver's message, first line, without the password (libpq may echo a URI)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if password:
        text = text.replace(password, "***").replace(urllib.parse.quote(password, safe=""), "***")
    return re.sub(r"(postgres(?:ql)?://[^:@/\s]+):[^@\s]*@", r"\1:***@", text)[:500]
