"""Any ODBC data source through arrow-odbc (ODBC bulk fetch straight into Arrow buffers): the
driver half of an ODBC or SQL Server dataset (sql_source.py has the rest).

The connection string never holds the password: it goes to the driver manager apart, with
the user. arrow-odbc binds every parameter as text, so the dataset query's parameters are
sent as text too, and filter values are turned into the column's type by the database
(``CAST(? AS ...)``, sql_text.py). Each use of ``:name`` in a query becomes its own ``?``.

Columns arrive as arrow-odbc maps their ODBC types (docs/sources.md): an ODBC timestamp has
no time zone, so a PostgreSQL timestamptz arrives in the session's zone without one, and
text columns without a declared bound (``nvarchar(max)``, ``text``) are read up to
``max_text_size`` bytes per value.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from saeta.config import SqlDataset
from saeta.connector.sources import sql_source
from saeta.connector.sources.sql_text import DIALECTS, Dialect
from saeta.core.filters import Kind, kind_of
from saeta.errors import SourceError

# Upper bound of one fetch buffer: arrow-odbc sizes it by the widest possible row, so this
# caps the rows per fetch for wide tables.
MAX_BYTES_PER_BATCH = 64 * 1024 * 1024
LOGIN_TIMEOUT_SECONDS = 15


class OdbcDriver:
    def __init__(self, sql: SqlDataset) -> None:
        self.dialect: Dialect = DIALECTS[sql.dialect]
        self.max_text_size = sql.max_text_size

    def value(self, n: int, sql_type: str) -> str:
        return f"CAST(? AS {sql_type})"

    def connect(self, sql: SqlDataset, password: str | None) -> Any:
        import arrow_odbc  # type: ignore[import-untyped]

        try:
            return arrow_odbc.connect(
                sql.uri,
                user=sql.user,
                password=password,
                login_timeout_sec=LOGIN_TIMEOUT_SECONDS,
                autocommit=True,
            )
        except Exception as exc:
            raise SourceError("cannot connect to the database", detail=self.scrub(exc, password)) from None

    def bind_named(self, query: str, parameters: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        text = {k: self._text(v) for k, v in parameters.items()}
        return sql_source.bind_named(query, text, "?")

    def _text(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return self.dialect.true_false[0] if value else self.dialect.true_false[1]
        return str(value)

    def _reader(self, conn: Any, sql: str, params: tuple[Any, ...], batch_rows: int) -> Any:
        return conn.read_arrow_batches(
            sql,
            batch_size=batch_rows,
            parameters=list(params) or None,
            max_bytes_per_batch=MAX_BYTES_PER_BATCH,
            max_text_size=self.max_text_size,
            max_binary_size=self.max_text_size,
        )

    def schema(self, conn: Any, sql: str, params: tuple[Any, ...]) -> pa.Schema:
        schema: pa.Schema = self._reader(conn, sql, params, 1).schema
        return schema

    def batches(
        self, conn: Any, sql: str, params: tuple[Any, ...], values: Sequence[str], batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        yield from self._reader(conn, sql, (*params, *values), batch_rows)

    def exposed_field(self, raw: pa.Field) -> pa.Field:
        return pa.field(raw.name, raw.type)

    def kind(self, raw: pa.Field) -> Kind:
        return kind_of(raw.type)

    def convert(self, batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
        out = pa.RecordBatch.from_arrays(batch.columns, names=target.names)
        return out if out.schema.equals(target) else out.cast(target)

    def scrub(self, exc: BaseException, password: str | None) -> str:
        """The driver manager's message, without the password; ODBC messages run long (one
        line per diagnostic record), so the first two lines at most."""
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        text = " ".join(lines[:2]) if lines else type(exc).__name__
        if password:
            text = text.replace(password, "***")
        return text[:500]
