"""A database dataset's aggregates (docs/protocol.md, "Aggregation"): one statement the
database runs, ``GROUP BY`` with the bucket as an expression, for PostgreSQL and SQL
Server (T-SQL), around the dataset's base query and the query's filter (sql_text.py).

As for any read, names are quoted identifiers checked against the exposed columns, and
every number (a bucket's origin and width) is a bound parameter, never SQL text; only the
limit and offset are integers Python rendered. The statement nests: the rows and their
bucket; for first / last, each row's rank in its bucket (a window, the same in both
dialects); the groups; and the page, sorted with nulls last (written out, since T-SQL has
no NULLS LAST). Buckets follow connector/aggregate.py's rules: milliseconds since the
epoch for time (a timestamp without a zone as if UTC), nulls in no bucket, empty buckets
absent, first and last the earliest and latest non-null value in bucket order."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from saeta.connector.sources.sql_text import Binder, Dialect
from saeta.core.aggregation import TEMPORAL, Aggregate
from saeta.core.filters import Bound, BoundValue, Kind


@dataclass(frozen=True)
class Functions:
    """What differs between the dialects."""

    millis: Callable[[str, Kind], str]  # a column as DOUBLE milliseconds (time) or DOUBLE
    edge: Callable[[str, Kind], str]  # milliseconds back to the column's kind
    double: str
    bigint: str
    min_max_bool: Callable[[str, str], str]  # (min|max, column)
    page: Callable[[int | None, int], str]  # (limit, offset) after ORDER BY
    # first / last of a float64 column in one pass, without a window: PostgreSQL's arrays
    # compare element by element, so the least [time, value] holds the first value.
    pair_pick: bool = False


def _pg_millis(column: str, kind: Kind) -> str:
    if kind is Kind.DATE:
        return f"CAST(extract(epoch FROM CAST({column} AS timestamp)) * 1000 AS double precision)"
    if kind in TEMPORAL:
        return f"CAST(extract(epoch FROM {column}) * 1000 AS double precision)"
    return f"CAST({column} AS double precision)"


def _pg_edge(ms: str, kind: Kind) -> str:
    at = f"to_timestamp(floor({ms}) / 1000.0)"
    if kind is Kind.TIMESTAMP_TZ:
        return at
    if kind is Kind.TIMESTAMP:
        return f"({at} AT TIME ZONE 'UTC')"
    if kind is Kind.DATE:
        return f"CAST({at} AT TIME ZONE 'UTC' AS date)"
    return ms


def _pg_page(limit: int | None, offset: int) -> str:
    return ("" if limit is None else f" LIMIT {limit:d}") + f" OFFSET {offset:d}"


POSTGRESQL = Functions(
    millis=_pg_millis,
    edge=_pg_edge,
    double="double precision",
    bigint="bigint",
    min_max_bool=lambda op, c: f"{'bool_and' if op == 'min' else 'bool_or'}({c})",
    page=_pg_page,
    pair_pick=True,
)

_EPOCH = {
    Kind.TIMESTAMP_TZ: "CAST('1970-01-01T00:00:00+00:00' AS DATETIMEOFFSET(7))",
    Kind.TIMESTAMP: "CAST('1970-01-01' AS DATETIME2(7))",
    Kind.DATE: "CAST('1970-01-01' AS DATETIME2(7))",
}


def _tsql_millis(column: str, kind: Kind) -> str:
    if kind in TEMPORAL:
        value = f"CAST({column} AS DATETIME2(7))" if kind is Kind.DATE else column
        return f"CAST(DATEDIFF_BIG(millisecond, {_EPOCH[kind]}, {value}) AS FLOAT)"
    return f"CAST({column} AS FLOAT)"


def _tsql_edge(ms: str, kind: Kind) -> str:
    if kind not in TEMPORAL:
        return ms
    # DATEADD takes an int: whole days first, then the milliseconds into the day.
    days = f"CAST(floor(floor({ms}) / 86400000) AS INT)"
    into = f"CAST(floor({ms}) - floor(floor({ms}) / 86400000) * 86400000 AS INT)"
    at = f"DATEADD(millisecond, {into}, DATEADD(day, {days}, {_EPOCH[kind]}))"
    return f"CAST({at} AS DATE)" if kind is Kind.DATE else at


def _tsql_page(limit: int | None, offset: int) -> str:
    return f" OFFSET {offset:d} ROWS" + ("" if limit is None else f" FETCH NEXT {limit:d} ROWS ONLY")


SQLSERVER = Functions(
    millis=_tsql_millis,
    edge=_tsql_edge,
    double="FLOAT",
    bigint="BIGINT",
    min_max_bool=lambda op, c: f"CAST({op.upper()}(CAST({c} AS TINYINT)) AS BIT)",
    page=_tsql_page,
)

FUNCTIONS = {"postgresql": POSTGRESQL, "sqlserver": SQLSERVER}


_TOKEN = re.compile("\x00([0-9]+)\x00")


class _InTextOrder(Binder):
    """Values written as tokens, bound by ``finish`` in the order the text has them: a
    driver of positional markers (ODBC's ``?``) takes its values in that order, and an
    expression written twice (a bucket's index) binds its values twice."""

    def __init__(self, binder: Binder) -> None:
        super().__init__(binder.dialect, binder.value_expr, binder.first_param)
        self.real = binder
        self.pending: list[tuple[Kind, BoundValue]] = []

    def bind(self, kind: Kind, value: BoundValue) -> str:
        self.pending.append((kind, value))
        return f"\x00{len(self.pending) - 1}\x00"

    def finish(self, sql: str) -> str:
        return _TOKEN.sub(lambda m: self.real.bind(*self.pending[int(m.group(1))]), sql)


def _fresh(prefix: str, taken: set[str]) -> str:
    name = prefix
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def select_bounds(dialect: Dialect, base: str, column: str, kind: Kind, bound: Sequence[Bound], binder: Binder) -> str:
    """The least and greatest value of a bucket column (as select_aggregate buckets it)
    over the rows ``bound`` keeps: one row, two DOUBLE columns (null: no value)."""
    ms = FUNCTIONS[dialect.name].millis(dialect.quote(column), kind)
    sql = f"SELECT min({ms}) AS saeta_lo, max({ms}) AS saeta_hi FROM ({base}) AS saeta_q"  # noqa: S608
    deferred = _InTextOrder(binder)
    where = dialect.where(bound, deferred)
    return deferred.finish(sql + (" WHERE " + " AND ".join(where) if where else ""))


def select_page(
    dialect: Dialect,
    base: str,
    columns: Sequence[str],
    keys: Sequence[tuple[str, bool]],
    offset: int,
    bound: Sequence[Bound],
    limit: int | None,
    binder: Binder,
) -> str:
    """A page of ``base``'s rows that meet ``bound``: ``columns``, sorted by ``keys``
    ((column, descending), nulls last), less the first ``offset``, at most ``limit``."""
    q = dialect.quote
    deferred = _InTextOrder(binder)
    sql = f"SELECT {', '.join(q(c) for c in columns)} FROM ({base}) AS saeta_q"  # noqa: S608 (checked names)
    where = dialect.where(bound, deferred)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sort = [f"CASE WHEN {q(c)} IS NULL THEN 1 ELSE 0 END, {q(c)} {'DESC' if desc else 'ASC'}" for c, desc in keys]
    sql += f" ORDER BY {', '.join(sort) or '(SELECT NULL)'}"
    return deferred.finish(sql + FUNCTIONS[dialect.name].page(limit, offset))


def select_aggregate(
    dialect: Dialect,
    base: str,
    agg: Aggregate,
    kinds: dict[str, Kind],
    bound: Sequence[Bound],
    limit: int | None,
    binder: Binder,
    bucket: dict[str, float] | None = None,
    doubles: frozenset[str] = frozenset(),
) -> str:
    """The statement of ``agg`` over ``base`` filtered by ``bound``: its rows, sorted, at
    most ``limit`` after the aggregate's offset. ``bucket``: ``lo``, ``width`` and
    ``last`` (connector/aggregate.py's bucket_params), bound as values. ``doubles``: the
    columns of a float64 type (their first / last may take a dialect's one-pass form)."""
    fn = FUNCTIONS[dialect.name]
    q = dialect.quote
    deferred = _InTextOrder(binder)
    columns = [
        *agg.group_by,
        *([agg.bucket.column] if agg.bucket else []),
        *(m.column for m in agg.measures if m.column),
    ]
    needed = list(dict.fromkeys(columns))
    taken = set(needed) | set(agg.output_columns())
    groups = [q(c) for c in agg.group_by]

    # 1. The rows the filter keeps, and each one's bucket and order.
    inner = [q(c) for c in needed] or ["1 AS " + q(_fresh("saeta_one", taken))]
    where = dialect.where(bound, deferred)
    b_name = o_name = ""
    if agg.bucket is not None:
        assert bucket is not None
        kind = kinds[agg.bucket.column]
        b_name, o_name = q(_fresh("saeta_bucket", taken)), q(_fresh("saeta_order", taken))
        ms = fn.millis(q(agg.bucket.column), kind)
        lo, width = deferred.bind(Kind.FLOAT, bucket["lo"]), deferred.bind(Kind.FLOAT, bucket["width"])
        last = deferred.bind(Kind.INTEGER, int(bucket["last"]))
        index = f"CAST(floor(({ms} - {lo}) / {width}) AS {fn.bigint})"
        inner += [f"CASE WHEN {index} > {last} THEN {last} ELSE {index} END AS {b_name}", f"{ms} AS {o_name}"]
        where.append(f"{q(agg.bucket.column)} IS NOT NULL")
    sql = f"SELECT {', '.join(inner)} FROM ({base}) AS saeta_q"  # noqa: S608 (quoted, checked names)
    if where:
        sql += " WHERE " + " AND ".join(where)
    keys = [*groups, *([b_name] if b_name else [])]

    # 2. first / last: each row's rank in its bucket, non-null values first.
    ranks: dict[int, str] = {}
    paired = {
        n for n, m in enumerate(agg.measures) if fn.pair_pick and m.op in ("first", "last") and m.column in doubles
    }
    for n, m in enumerate(agg.measures):
        if m.op in ("first", "last") and n not in paired:
            ranks[n] = q(_fresh(f"saeta_rank{n}", taken))
    if ranks:
        windows = []
        for n, rank in ranks.items():
            m = agg.measures[n]
            nulls = f"CASE WHEN {q(m.column or '')} IS NULL THEN 1 ELSE 0 END"
            order = f"{nulls}, {o_name} {'ASC' if m.op == 'first' else 'DESC'}"
            windows.append(f"ROW_NUMBER() OVER (PARTITION BY {', '.join(keys)} ORDER BY {order}) AS {rank}")
        sql = f"SELECT saeta_i.*, {', '.join(windows)} FROM ({sql}) AS saeta_i"  # noqa: S608

    # 3. The groups.
    select = list(groups)
    if agg.bucket is not None and bucket is not None:
        lo, width = deferred.bind(Kind.FLOAT, bucket["lo"]), deferred.bind(Kind.FLOAT, bucket["width"])
        select.append(f"{fn.edge(f'({lo} + {b_name} * {width})', kinds[agg.bucket.column])} AS {q(agg.bucket.column)}")
    for n, m in enumerate(agg.measures):
        column = q(m.column or "")
        kind = kinds.get(m.column or "", Kind.NONE)
        if m.op == "count":
            expr = "count(*)" if m.column is None else f"count({column})"
            expr = f"CAST({expr} AS {fn.bigint})"
        elif m.op == "sum" and kind is Kind.INTEGER:
            expr = f"CAST(sum({column}) AS {fn.bigint})"
        elif m.op == "sum" and kind is Kind.FLOAT:
            expr = f"CAST(sum({column}) AS {fn.double})"
        elif m.op == "sum":
            expr = f"sum({column})"
        elif m.op == "mean":
            expr = f"CAST(avg(CAST({column} AS {fn.double})) AS {fn.double})"
        elif m.op in ("min", "max") and kind is Kind.BOOLEAN:
            expr = fn.min_max_bool(m.op, column)
        elif m.op in ("min", "max"):
            expr = f"{m.op}({column})"
        elif n in paired:  # the value of the least (first) or greatest (last) [time, value]
            pick = "min" if m.op == "first" else "max"
            expr = f"({pick}(ARRAY[{o_name}, {column}]) FILTER (WHERE {column} IS NOT NULL))[2]"
        else:  # first, last: the value ranked first
            value = f"CASE WHEN {ranks[n]} = 1 THEN {column} END"
            if kind is Kind.BOOLEAN:
                expr = fn.min_max_bool("max", value)
            elif kind is Kind.UUID:  # neither dialect has max(uuid); the browser gets it as text anyway
                expr = f"max(CAST({value} AS {dialect.casts[Kind.STRING]}))"
            else:
                expr = f"max({value})"
        select.append(f"{expr} AS {q(m.name)}")
    sql = f"SELECT {', '.join(select)} FROM ({sql}) AS saeta_w"  # noqa: S608
    if keys:
        sql += f" GROUP BY {', '.join(keys)}"

    # 4. The page, sorted: the asked keys, then the groups and the bucket (a unique order).
    names = agg.output_columns()
    keyed = [(k.column, k.desc) for k in agg.sort] + [(c, False) for c in names[: len(agg.group_by) + bool(agg.bucket)]]
    sort = [f"CASE WHEN {q(c)} IS NULL THEN 1 ELSE 0 END, {q(c)} {'DESC' if desc else 'ASC'}" for c, desc in keyed]
    sql = f"SELECT * FROM ({sql}) AS saeta_r ORDER BY {', '.join(sort) or '(SELECT NULL)'}"  # noqa: S608
    return deferred.finish(sql + fn.page(limit, agg.offset))
