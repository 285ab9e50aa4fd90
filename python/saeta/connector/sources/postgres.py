"""PostgreSQL datasets through the ADBC PostgreSQL driver (libpq, binary COPY to Arrow).

A dataset is a table or a query with named parameters (``:name``, bound by the driver,
never written into the SQL). Projection, filter and limit wrap it (sql_text.py):
``SELECT "a", "b" FROM (<base>) AS saeta_q WHERE "c" > CAST($1 AS bigint) LIMIT n``,
with identifiers checked against the dataset's exposed columns and quoted, filter values
bound, and the limit an integer. The password comes from an environment variable or a
file and never reaches a log or an error message. Types the browser has no use for in
their PostgreSQL form are sent as text: numeric, uuid and interval (both converted a
column at a time by the relay extension), json/jsonb (docs/sources.md)."""

from __future__ import annotations

import os
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from saeta import relay
from saeta.config import DatasetConfig, SqlDataset
from saeta.connector.sources.base import Partition, QueryPlan, exposed, project
from saeta.connector.sources.db_pool import ConnectionPool
from saeta.connector.sources.sql_text import POSTGRESQL
from saeta.core.filters import Bound, Condition, Kind, bind
from saeta.errors import BadRequest, SourceError

_RELAY = relay.load()
_PARAM = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


def bind_named(query: str, parameters: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """``:name`` placeholders to ``$n`` (``::type`` casts are left alone), and the values in
    order. Raises ValueError for a placeholder without a value."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            raise ValueError(f"no value for parameter :{name}")
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return _PARAM.sub(number, query), tuple(parameters[n] for n in order)


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


class PostgresSource:
    def __init__(self, cfg: DatasetConfig, batch_rows: int) -> None:
        assert cfg.sql is not None
        self.name = cfg.name
        self.sql: SqlDataset = cfg.sql
        self.batch_rows = batch_rows
        self.columns = cfg.columns
        self._schema: pa.Schema | None = None
        self._kinds: dict[str, Kind] = {}
        self._lock = threading.Lock()
        self._pool = ConnectionPool(cfg.name, self._connect)

    # --- connection

    def _password(self) -> str | None:
        if self.sql.password_env is not None:
            value = os.environ.get(self.sql.password_env)
            if value is None:
                raise SourceError(f"dataset {self.name}: environment variable {self.sql.password_env} is not set")
            return value
        if self.sql.password_file is not None:
            try:
                return self.sql.password_file.read_text().rstrip("\r\n")
            except OSError as exc:
                raise SourceError(f"dataset {self.name}: cannot read the password file: {exc.strerror}") from None
        return None

    def _connect(self) -> Any:
        import adbc_driver_postgresql.dbapi as pg  # type: ignore[import-untyped]

        parts = urllib.parse.urlsplit(self.sql.uri)
        password = self._password()
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
            raise SourceError(f"dataset {self.name}: cannot connect: {_scrub(exc, password)}") from None

    def _base(self) -> tuple[str, tuple[Any, ...]]:
        if self.sql.table is not None:
            # Identifiers from the config, validated and quoted; values are always bound.
            return "SELECT * FROM " + ".".join(POSTGRESQL.quote(p) for p in self.sql.table), ()  # noqa: S608
        assert self.sql.query is not None
        try:
            return bind_named(self.sql.query, dict(self.sql.parameters))
        except ValueError as exc:
            raise SourceError(f"dataset {self.name}: {exc}") from None

    def _sql(self, columns: tuple[str, ...], limit: int | None, bound: Sequence[Bound]) -> tuple[str, tuple[Any, ...]]:
        base, params = self._base()
        # The limit is an int rendered by Python, not bound: with any bound parameter the
        # driver leaves binary COPY for a row path, 1.7x slower (docs/decisions.md). Values
        # from users (query parameters, filters) are always bound.
        sql, values = POSTGRESQL.select(base, columns, bound, limit, lambda n: f"${n}", len(params) + 1)
        return sql, (*params, *values)

    # --- the Source protocol

    def close(self) -> None:
        self._pool.close()

    def schema(self) -> pa.Schema:
        with self._lock:
            if self._schema is None:
                base, params = self._base()
                raw = self._fetch_schema(f"SELECT * FROM ({base}) AS saeta_q LIMIT 0", params)  # noqa: S608
                fields = [pa.field(f.name, _text_type(f.type)) for f in raw]
                self._schema = exposed(pa.schema(fields), self.columns, self.name)
                self._kinds = {f.name: _kind(f) for f in raw if f.name in self._schema.names}
            return self._schema

    def _bind(self, conditions: Sequence[Condition]) -> tuple[Bound, ...]:
        self.schema()
        return bind(conditions, self._kinds, self.name)

    def _fetch_schema(self, sql: str, params: tuple[Any, ...]) -> pa.Schema:
        with self._pool.connection() as conn:
            try:
                with conn.cursor() as cur:
                    cur.execute(sql, params or None)
                    schema: pa.Schema = cur.fetch_arrow_table().schema
                    return schema
            except Exception as exc:
                raise SourceError(f"dataset {self.name}: {_scrub(exc, None)}") from None

    def plan(
        self, columns: tuple[str, ...] | None, limit: int | None, conditions: Sequence[Condition] = ()
    ) -> QueryPlan:
        schema = project(self.schema(), columns, self.name)
        self._bind(conditions)
        return QueryPlan(schema, (Partition(0, None),), None)

    def read(
        self,
        partition: int,
        columns: tuple[str, ...] | None,
        limit: int | None,
        conditions: Sequence[Condition] = (),
    ) -> Iterator[pa.RecordBatch]:
        if partition != 0:
            raise BadRequest(f"dataset {self.name} has one partition")
        target = project(self.schema(), columns, self.name)
        sql, params = self._sql(tuple(target.names), limit, self._bind(conditions))
        with self._pool.connection() as conn, conn.cursor() as cur:
            try:
                cur.execute(sql, params or None)
                for batch in cur.fetch_record_batch():
                    if batch.num_rows == 0:
                        continue
                    arrays = [_as_text(arr) for arr in batch.columns]
                    out = pa.RecordBatch.from_arrays(arrays, schema=target)
                    for start in range(0, out.num_rows, self.batch_rows):
                        yield out.slice(start, self.batch_rows)
            except Exception as exc:  # driver, Arrow and conversion errors alike
                raise SourceError(f"dataset {self.name}: {_scrub(exc, None)}") from None


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
