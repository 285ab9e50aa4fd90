"""A database dataset, whatever the driver: the base query (a table, or a query with named
parameters), the exposed columns and how each can be filtered, partitions by key range,
and reads wrapped in projection, filter and limit (sql_text.py). A driver (postgres.py:
ADBC; odbc.py: arrow-odbc) connects, runs one statement, and turns its columns into what
the browser gets.

Connections are pooled per dataset (db_pool.py); the password is read when one opens and
never reaches a log or an error message.

Why one file: reads, aggregates (sql_aggregate.py writes their SQL) and followers share one
dataset's pool, schema, kinds and partitions."""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import pyarrow as pa

from saeta.config import DatasetConfig, SqlDataset
from saeta.connector.aggregate import result_schema
from saeta.connector.sources.base import Follower, Partition, QueryPlan, exposed, project
from saeta.connector.sources.db_pool import ConnectionPool
from saeta.connector.sources.sql_aggregate import select_aggregate, select_bounds, select_page
from saeta.connector.sources.sql_follow import SqlFollower
from saeta.connector.sources.sql_text import DIALECTS, Binder, Dialect
from saeta.core import paging
from saeta.core.aggregation import Aggregate, Limits, bind_aggregate, bucket_params, check_rows
from saeta.core.filters import Bound, Condition, Kind, bind, parse_filter
from saeta.core.paging import Page, bind_page
from saeta.errors import BadRequest, SourceError

_PARAM = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


class SqlDriver(Protocol):
    dialect: Dialect

    def value(self, n: int, sql_type: str) -> str:
        """The expression of the n-th filter value (from 1) as ``sql_type``: a bound
        parameter, never the value's text."""

    def connect(self, sql: SqlDataset, password: str | None) -> Any:
        """A new connection. Raises SourceError with a message free of secrets."""

    def bind_named(self, query: str, parameters: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The dataset query with its ``:name`` placeholders turned into markers, and the
        values in marker order. Raises ValueError for a placeholder without a value."""

    def schema(self, conn: Any, sql: str, params: tuple[Any, ...]) -> pa.Schema:
        """The result schema of ``sql`` (a query returning no row) as the driver gives it."""

    def batches(
        self, conn: Any, sql: str, params: tuple[Any, ...], values: Sequence[str], batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """The driver's batches of ``sql``: ``params`` are the dataset query's own,
        ``values`` the filter's (as text, in ``value`` order)."""

    def exposed_field(self, raw: pa.Field) -> pa.Field:
        """The field the browser gets for a driver field (types it has no use for as text)."""

    def kind(self, raw: pa.Field) -> Kind:
        """How a driver field can be filtered."""

    def convert(self, batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
        """A driver batch as ``target`` (the exposed fields of its columns)."""

    def scrub(self, exc: BaseException, password: str | None) -> str:
        """The driver's error message, short and without secrets."""


def bind_named(query: str, parameters: dict[str, Any], marker: str | None) -> tuple[str, tuple[Any, ...]]:
    """``:name`` placeholders to ``$n`` (``marker`` None: a name reuses its number) or to
    ``marker`` (``?``: each use is a new marker, with its value repeated). ``::type`` casts
    are left alone."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            raise ValueError(f"no value for parameter :{name}")
        if marker is not None:
            order.append(name)
            return marker
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return _PARAM.sub(number, query), tuple(parameters[n] for n in order)


def key_range_conditions(column: str, bounds: Sequence[Any]) -> list[tuple[Condition, ...]]:
    """One partition's conditions per key range: nulls, below the first bound, between each
    pair, and from the last bound up."""
    ranges: list[list[list[Any]]] = [[[column, "is_null"]], [[column, "<", bounds[0]]]]
    ranges += [[[column, ">=", lo], [column, "<", hi]] for lo, hi in itertools.pairwise(bounds)]
    ranges.append([[column, ">=", bounds[-1]]])
    return [parse_filter(r) for r in ranges]


class SqlSource:
    # A query without ORDER BY has no defined row order: a resumed read could skip other
    # rows than it sent. With a ``key`` (unique, not null) a resumable query's partitions
    # are read ORDER BY it (``can_order``); without one, RESUME_UNAVAILABLE and the client
    # runs the query again.
    resumable = False

    def __init__(self, cfg: DatasetConfig, batch_rows: int, driver: SqlDriver) -> None:
        assert cfg.sql is not None
        self.name = cfg.name
        self.sql: SqlDataset = cfg.sql
        self.columns = cfg.columns
        self.live = cfg.live
        self.can_order = bool(cfg.sql.key)
        self.batch_rows = batch_rows
        self.driver = driver
        self.dialect = DIALECTS[self.sql.dialect]
        self._schema: pa.Schema | None = None
        self._kinds: dict[str, Kind] = {}
        self._partitions: list[tuple[Bound, ...]] = [()]
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
        try:
            return self.driver.connect(self.sql, self._password())
        except SourceError as err:
            raise SourceError(f"dataset {self.name}: {err.message}", detail=err.detail) from None

    def _fail(self, exc: BaseException) -> SourceError:
        return SourceError(f"dataset {self.name}: the database refused the query", detail=self.driver.scrub(exc, None))

    # --- SQL

    def _base(self) -> tuple[str, tuple[Any, ...]]:
        if self.sql.table is not None:
            # Identifiers from the config, validated and quoted; values are always bound.
            return "SELECT * FROM " + ".".join(self.dialect.quote(p) for p in self.sql.table), ()  # noqa: S608
        assert self.sql.query is not None
        try:
            return self.driver.bind_named(self.sql.query, dict(self.sql.parameters))
        except ValueError as exc:
            raise SourceError(f"dataset {self.name}: its query's parameters are invalid", detail=str(exc)) from None

    def _sql(
        self,
        columns: Sequence[str],
        limit: int | None,
        bound: Sequence[Bound],
        order_by: str | Sequence[str] | None = None,
    ) -> tuple[str, tuple[Any, ...], list[str]]:
        base, params = self._base()
        sql, values = self.dialect.select(
            base, columns, bound, limit, self.driver.value, len(params) + 1, order_by=order_by
        )
        return sql, params, values

    def _statement(
        self, sql: str, params: tuple[Any, ...], values: Sequence[str], target: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        with self._pool.connection() as conn:
            try:
                for batch in self.driver.batches(conn, sql, params, values, self.batch_rows):
                    if batch.num_rows == 0:
                        continue
                    out = self.driver.convert(batch, target)
                    for start in range(0, out.num_rows, self.batch_rows):
                        yield out.slice(start, self.batch_rows)
            except SourceError:
                raise
            except Exception as exc:  # driver, Arrow and conversion errors alike
                raise self._fail(exc) from None

    def read_rows(
        self,
        names: Sequence[str],
        limit: int | None,
        bound: Sequence[Bound],
        partition: int | None,
        order_by: str | Sequence[str] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Batches of the exposed columns ``names`` of the rows that meet ``bound`` (and,
        given one, the partition's range), at most ``limit``, in ``order_by`` order if set."""
        target = pa.schema([self.schema().field(n) for n in names])
        if partition is not None:
            bound = (*bound, *self._partitions[partition])
        sql, params, values = self._sql(names, limit, bound, order_by)
        yield from self._statement(sql, params, values, target)

    def max_of(self, column: str) -> pa.Array:
        """The largest value of an exposed column, as the driver gives it (one row)."""
        base, params = self._base()
        with self._pool.connection() as conn:
            try:
                batches = list(self.driver.batches(conn, self.dialect.max_of(base, column), params, [], 1))
            except Exception as exc:
                raise self._fail(exc) from None
        rows = [b.column(0) for b in batches if b.num_rows]
        return rows[0] if rows else pa.array([], pa.null())

    def kinds(self) -> dict[str, Kind]:
        self.schema()
        return self._kinds

    def partition_count(self) -> int:
        self.schema()
        return len(self._partitions)

    # --- the Source protocol

    def close(self) -> None:
        self._pool.close()

    def schema(self) -> pa.Schema:
        with self._lock:
            if self._schema is None:
                base, params = self._base()
                with self._pool.connection() as conn:
                    try:
                        raw = self.driver.schema(conn, self.dialect.empty(base), params)
                    except SourceError:
                        raise
                    except Exception as exc:
                        raise self._fail(exc) from None
                fields = [self.driver.exposed_field(f) for f in raw]
                missing = [k for k in self.sql.key if k not in {f.name for f in fields}]
                if missing:
                    raise SourceError(f"dataset {self.name}: key: column {missing[0]!r} not found")
                schema = exposed(pa.schema(fields), self.columns, self.name)
                kinds = {f.name: self.driver.kind(f) for f in raw if f.name in schema.names}
                self._partitions = self._key_ranges(kinds)
                self._schema, self._kinds = schema, kinds
            return self._schema

    def _key_ranges(self, kinds: dict[str, Kind]) -> list[tuple[Bound, ...]]:
        spec = self.sql.partition_by
        if spec is None:
            return [()]
        try:
            return [bind(c, kinds, self.name) for c in key_range_conditions(spec.column, spec.bounds)]
        except BadRequest as exc:
            raise SourceError(f"dataset {self.name}: partition_by: {exc.message}") from None

    def bind(self, conditions: Sequence[Condition]) -> tuple[Bound, ...]:
        return bind(conditions, self.kinds(), self.name)

    def plan(
        self, columns: tuple[str, ...] | None, limit: int | None, conditions: Sequence[Condition] = ()
    ) -> QueryPlan:
        schema = project(self.schema(), columns, self.name)
        self.bind(conditions)
        return QueryPlan(schema, tuple(Partition(i, None) for i in range(self.partition_count())), None)

    def read(
        self,
        partition: int,
        columns: tuple[str, ...] | None,
        limit: int | None,
        conditions: Sequence[Condition] = (),
        ordered: bool = False,
    ) -> Iterator[pa.RecordBatch]:
        target = project(self.schema(), columns, self.name)
        bound = self.bind(conditions)
        if not 0 <= partition < self.partition_count():
            raise BadRequest(f"dataset {self.name} has no partition {partition}")
        if ordered and not self.sql.key:
            raise BadRequest(f"dataset {self.name} has no key to read it in order")
        yield from self.read_rows(target.names, limit, bound, partition, self.sql.key if ordered else None)

    def plan_aggregate(self, agg: Aggregate, conditions: Sequence[Condition] = ()) -> QueryPlan:
        self.bind(conditions)
        bind_aggregate(agg, self.kinds(), self.name)
        schema = result_schema(agg, self.schema(), self.kinds(), sql=True)
        return QueryPlan(schema, (Partition(0, None),), None)

    def read_aggregate(
        self, agg: Aggregate, limit: int | None, conditions: Sequence[Condition], limits: Limits
    ) -> Iterator[pa.RecordBatch]:
        """One statement (sql_aggregate.py; before it, the bucket column's range when the
        buckets need it), its rows held until all came: at most ``limits.max_rows``."""
        target = self.plan_aggregate(agg, conditions).schema
        bound, kinds = self.bind(conditions), self.kinds()
        base, params = self._base()
        bucket = None
        if agg.bucket is not None:
            column = agg.bucket.column
            binder = Binder(self.dialect, self.driver.value, len(params) + 1)
            sql = select_bounds(self.dialect, base, column, kinds[column], bound, binder)
            edges = pa.schema([("saeta_lo", pa.float64()), ("saeta_hi", pa.float64())])
            rows = pa.Table.from_batches(list(self._statement(sql, params, binder.values, edges)), edges)
            lo, hi = (rows.column(0)[0].as_py(), rows.column(1)[0].as_py()) if rows.num_rows else (None, None)
            bucket = bucket_params(agg, kinds[column], None if lo is None or hi is None else (lo, hi))
        wanted = limits.max_rows + 1 if limit is None else min(limit, limits.max_rows + 1)
        binder = Binder(self.dialect, self.driver.value, len(params) + 1)
        doubles = frozenset(f.name for f in self.schema() if f.type == pa.float64())
        sql = select_aggregate(self.dialect, base, agg, kinds, bound, wanted, binder, bucket, doubles)
        batches = list(self._statement(sql, params, binder.values, target))
        check_rows(agg, sum(b.num_rows for b in batches), limits)
        yield from batches

    def plan_page(self, columns: tuple[str, ...] | None, page: Page, conditions: Sequence[Condition]) -> QueryPlan:
        schema = project(self.schema(), columns, self.name)
        self.bind(conditions)
        bind_page(page, self.kinds(), self.name)
        if not page.sort and page.offset and not self.sql.key:
            raise BadRequest(f"offset: dataset {self.name} has no key, so its rows have no order: give a 'sort'")
        return QueryPlan(schema, (Partition(0, None),), None)

    def read_page(
        self,
        columns: tuple[str, ...] | None,
        page: Page,
        limit: int | None,
        conditions: Sequence[Condition],
        limits: Limits,
    ) -> Iterator[pa.RecordBatch]:
        """One statement, ORDER BY the sort keys (else the dataset's key), OFFSET, LIMIT."""
        target = self.plan_page(columns, page, conditions).schema
        keys = [(k.column, k.desc) for k in page.sort] or [(k, False) for k in self.sql.key]
        base, params = self._base()
        binder = Binder(self.dialect, self.driver.value, len(params) + 1)
        wanted = limits.max_rows + 1 if limit is None else min(limit, limits.max_rows + 1)
        sql = select_page(self.dialect, base, target.names, keys, page.offset, self.bind(conditions), wanted, binder)
        batches = list(self._statement(sql, params, binder.values, target))
        paging.check_rows(page, sum(b.num_rows for b in batches), limits)
        yield from batches

    def follow(self, columns: tuple[str, ...] | None, conditions: Sequence[Condition]) -> Follower:
        live = self.live
        if live is None or live.cursor is None:
            raise BadRequest(f"dataset {self.name} cannot be followed: its config names no live.cursor column")
        return SqlFollower(self, columns, conditions, live.cursor, live.poll_seconds)
