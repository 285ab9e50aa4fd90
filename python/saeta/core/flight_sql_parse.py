"""A Flight SQL statement turned into saeta's query, sans I/O (docs/flight.md, "SQL").

The statement is parsed by sqlglot (DuckDB's dialect: double-quoted identifiers, nulls
sorting last) and read as a tree, never as text: the shape the sources run is

    SELECT cols | * | grouped columns, [date_bin(INTERVAL, col) ,] COUNT/SUM/MIN/MAX/AVG
    FROM dataset [WHERE an AND of comparisons] [GROUP BY ...] [ORDER BY ...]
    [LIMIT n] [OFFSET m]

and becomes the socket's query JSON (columns, filter, aggregate, sort, offset, limit),
checked by the same parser as a socket's (core/flight_request.py), so a statement can ask
for nothing a socket could not. Everything else — joins, subqueries, CTEs, unions,
DISTINCT, HAVING, windows, OR, LIKE, arithmetic, functions other than those above, DDL,
DML, several statements — is SQL_UNSUPPORTED, naming what was refused; nothing runs.

Column names in the result are the select list's (an alias renames; a measure without
one is saeta's ``op_column``). The grouped columns come first in the select list, the
bucket last of them, then the measures: the result's column order (core/aggregation.py).

Why one file: one statement's clauses are read together (an ORDER BY names the select
list's aliases, a GROUP BY its ordinals), in one pass over one tree."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from saeta.core import browser_protocol as bp
from saeta.core import flight_request
from saeta.errors import BadRequest, SqlUnsupported

MAX_SQL_CHARS = 64 * 1024
CATALOG, SCHEMA = "saeta", "datasets"  # what schema browsers see the datasets under
DIALECT = "duckdb"
MEASURES: dict[type[exp.Expression], str] = {
    exp.Count: "count",
    exp.Sum: "sum",
    exp.Min: "min",
    exp.Max: "max",
    exp.Avg: "mean",
}
COMPARISONS: dict[type[exp.Expression], tuple[str, str]] = {  # op, and the op with its sides swapped
    exp.EQ: ("=", "="),
    exp.NEQ: ("!=", "!="),
    exp.LT: ("<", ">"),
    exp.LTE: ("<=", ">="),
    exp.GT: (">", "<"),
    exp.GTE: (">=", "<="),
}
WRITES = frozenset(
    {"insert", "update", "delete", "create", "drop", "alter", "merge", "truncatetable", "copy", "command", "set"}
)
CLAUSES = frozenset({"expressions", "from", "from_", "where", "group", "order", "limit", "offset"})
CLAUSE_NAMES = {"joins": "JOIN", "with_": "WITH", "with": "WITH", "laterals": "LATERAL", "pivots": "PIVOT"}
UNIT_MS = {
    "millisecond": 1,
    "second": 1000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 604_800_000,
}
# DuckDB's time_bucket without an origin aligns buckets on 2000-01-03; saeta's, on the epoch.
DUCKDB_ORIGIN_MS = 946_857_600_000
_INTERVAL = re.compile(r"\s*(\d{1,12})\s*([a-z]+?)s?\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SqlQuery:
    """The query a statement asks for, and its result's column names when they are not
    the source's (aliases: only the schema message is renamed)."""

    query: bp.RunQuery
    names: tuple[str, ...] | None


def _show(node: exp.Expression) -> str:
    text = node.sql(dialect=DIALECT)
    return text if len(text) <= 80 else text[:77] + "..."


def _refuse(what: str) -> SqlUnsupported:
    return SqlUnsupported(f"{what}: the gateway only pushes down SELECT of columns or aggregates of one dataset")


def parse_sql(sql: str) -> SqlQuery:
    """The query ``sql`` asks for; SQL_UNSUPPORTED (or BAD_REQUEST from the query's own
    checks) names the first thing that cannot be pushed down."""
    if not isinstance(sql, str) or not sql.strip():
        raise SqlUnsupported("the statement is empty")
    if len(sql) > MAX_SQL_CHARS:
        raise SqlUnsupported(f"a statement is at most {MAX_SQL_CHARS} characters")
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except (ParseError, TokenError) as err:
        first = str(err).splitlines()[0] if str(err) else "syntax error"
        raise SqlUnsupported(f"the statement does not parse: {first[:200]}") from None
    except RecursionError:
        raise SqlUnsupported("the statement is nested too deeply") from None
    if len(statements) != 1:
        raise SqlUnsupported(f"one statement at a time ({len(statements)} given)")
    stmt = statements[0]
    if isinstance(stmt, exp.Union):  # UNION, INTERSECT and EXCEPT
        raise _refuse(f"{stmt.key.upper()} cannot be pushed down")
    if not isinstance(stmt, exp.Select):
        what = stmt.key.upper() if stmt.key in WRITES else "a statement that is not a SELECT"
        raise _refuse(f"{what} is refused (the endpoint only reads)")
    try:
        return _Reader(stmt).read()
    except RecursionError:  # an AND of thousands of conditions: far past the filter's bound
        raise SqlUnsupported("the statement is nested too deeply") from None


class _Reader:
    def __init__(self, stmt: exp.Select) -> None:
        self.stmt = stmt
        for key, value in stmt.args.items():
            if value and key not in CLAUSES:
                raise _refuse(f"{CLAUSE_NAMES.get(key, key.rstrip('_').upper())} cannot be pushed down")
        for node in stmt.walk():
            if node is not stmt and isinstance(node, exp.Select | exp.Subquery | exp.Union):
                raise _refuse("subqueries cannot be pushed down")
            if isinstance(node, exp.Window):
                raise _refuse("window functions cannot be pushed down")
        self.dataset, self.alias = self._table()

    def _table(self) -> tuple[str, str | None]:
        source = self.stmt.args.get("from_") or self.stmt.args.get("from")
        if source is None:
            raise SqlUnsupported("the statement reads no dataset (FROM is missing)")
        table = source.this
        if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
            raise _refuse(f"FROM {_show(table)}")
        if table.args.get("joins") or table.args.get("laterals") or table.args.get("pivots"):
            raise _refuse("joins cannot be pushed down")
        if table.catalog not in ("", CATALOG) or table.db not in ("", SCHEMA):
            raise SqlUnsupported(
                f"no schema {table.catalog + '.' if table.catalog else ''}{table.db!r}: "
                f"the datasets are in {CATALOG}.{SCHEMA}"
            )
        return table.name, table.alias or None

    def _column(self, node: exp.Expression) -> str:
        if not isinstance(node, exp.Column) or not isinstance(node.this, exp.Identifier):
            raise _refuse(f"{_show(node)} cannot be pushed down (not a column)")
        if node.table and node.table not in (self.dataset, self.alias):
            raise SqlUnsupported(f"{_show(node)}: no table {node.table!r} in the statement")
        if node.db not in ("", SCHEMA) or node.catalog not in ("", CATALOG):
            raise SqlUnsupported(f"{_show(node)}: no such table in the statement")
        return node.name

    # --- values and the filter

    def _value(self, node: exp.Expression) -> Any:
        if isinstance(node, exp.Paren):
            return self._value(node.this)
        if isinstance(node, exp.Null):
            raise SqlUnsupported("a comparison with NULL is never true: use IS NULL or IS NOT NULL")
        if isinstance(node, exp.Boolean):
            return bool(node.this)
        if isinstance(node, exp.Literal):
            return node.this if node.is_string else _number(node.this)
        if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
            return -_number(node.this.this)
        temporal = isinstance(node, exp.Cast) and node.to.is_type(*exp.DataType.TEMPORAL_TYPES)
        if temporal and isinstance(node.this, exp.Literal) and node.this.is_string:
            return node.this.this  # an ISO date or time: the filter reads it in the column's type
        raise _refuse(f"{_show(node)} cannot be pushed down (a filter compares a column with a literal)")

    def _conditions(self, node: exp.Expression) -> list[list[Any]]:
        if isinstance(node, exp.Paren):
            return self._conditions(node.this)
        if isinstance(node, exp.And):
            return self._conditions(node.this) + self._conditions(node.expression)
        if isinstance(node, exp.Or):
            raise _refuse("OR cannot be pushed down (a filter is an AND of conditions: one query per branch)")
        for kind, (op, swapped) in COMPARISONS.items():
            if type(node) is kind:
                left, right = node.this, node.expression
                if isinstance(left, exp.Column):
                    return [[self._column(left), op, self._value(right)]]
                if isinstance(right, exp.Column):
                    return [[self._column(right), swapped, self._value(left)]]
                raise _refuse(f"{_show(node)} cannot be pushed down (a filter compares a column with a literal)")
        if isinstance(node, exp.In):
            if node.args.get("query") or node.args.get("unnest"):
                raise _refuse("subqueries cannot be pushed down")
            return [[self._column(node.this), "in", [self._value(v) for v in node.expressions]]]
        if isinstance(node, exp.Between):
            column = self._column(node.this)
            return [[column, ">=", self._value(node.args["low"])], [column, "<=", self._value(node.args["high"])]]
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
            return [[self._column(node.this), "is_null"]]
        if isinstance(node, exp.Not):
            inner = node.this.this if isinstance(node.this, exp.Paren) else node.this
            if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
                return [[self._column(inner.this), "not_null"]]
            if isinstance(inner, exp.In) and not inner.args.get("query"):
                return [[self._column(inner.this), "not_in", [self._value(v) for v in inner.expressions]]]
            raise _refuse(f"{_show(node)} cannot be pushed down")
        if isinstance(node, exp.Column):  # WHERE flag
            return [[self._column(node), "=", True]]
        raise _refuse(f"{_show(node)} cannot be pushed down")

    # --- the select list

    def _item(self, node: exp.Expression) -> tuple[str, Any, str | None]:
        """One select item: ("star", None, None), ("column", name, alias), ("measure",
        {op, column}, alias) or ("bucket", {column, width}, alias)."""
        alias = node.alias if isinstance(node, exp.Alias) else None
        inner = node.this if isinstance(node, exp.Alias) else node
        if isinstance(inner, exp.Star) or (isinstance(inner, exp.Column) and isinstance(inner.this, exp.Star)):
            return "star", None, None
        if isinstance(inner, exp.Column):
            return "column", self._column(inner), alias
        kind = MEASURES.get(type(inner))
        if kind is not None:
            arg = inner.this
            if isinstance(arg, exp.Distinct):
                raise _refuse(f"{_show(inner)} cannot be pushed down (DISTINCT)")
            if kind == "count" and (arg is None or isinstance(arg, exp.Star)):
                return "measure", {"op": "count"}, alias
            if len(inner.expressions) > 0:
                raise _refuse(f"{_show(inner)} cannot be pushed down")
            return "measure", {"op": kind, "column": self._column(arg)}, alias
        if isinstance(inner, exp.DateBin):
            return "bucket", self._bucket(inner), alias
        raise _refuse(
            f"{_show(inner)} cannot be pushed down (select columns, COUNT, SUM, MIN, MAX or AVG of a column, "
            "or date_bin(INTERVAL, column))"
        )

    def _bucket(self, node: exp.DateBin) -> dict[str, Any]:
        width = _interval_ms(node.this)
        origin = node.args.get("unit") or node.args.get("origin")
        if origin is None:
            if DUCKDB_ORIGIN_MS % width:
                raise SqlUnsupported(
                    f"{_show(node)}: give the origin TIMESTAMP '1970-01-01' (buckets are aligned on the epoch)"
                )
        elif _epoch_ms(origin) != 0:
            raise SqlUnsupported(f"{_show(node)}: buckets are aligned on the epoch; the origin must be 1970-01-01")
        return {"column": self._column(node.expression), "width": width}

    def read(self) -> SqlQuery:
        items = [self._item(node) for node in self.stmt.expressions]
        grouped = bool(self.stmt.args.get("group")) or any(kind in ("measure", "bucket") for kind, _, _ in items)
        obj: dict[str, Any] = {"dataset": self.dataset}
        where = self.stmt.args.get("where")
        if where is not None:
            obj["filter"] = self._conditions(where.this)
        names = self._aggregate(items, obj) if grouped else self._plain(items, obj)
        for key in ("limit", "offset"):
            clause = self.stmt.args.get(key)
            if clause is not None:
                value = clause.expression
                if not isinstance(value, exp.Literal) or value.is_string or not value.this.isdigit():
                    raise SqlUnsupported(f"{key.upper()} takes a whole number")
                if key == "limit":
                    obj["limit"] = int(value.this)
                elif int(value.this):
                    (obj["aggregate"] if grouped else obj)["offset"] = int(value.this)
        try:
            query = flight_request.json_query(json.dumps(obj).encode())
        except BadRequest as err:
            raise BadRequest(f"the statement asks for a query saeta refuses: {err.message}") from None
        return SqlQuery(query, names)

    def _plain(self, items: list[tuple[str, Any, str | None]], obj: dict[str, Any]) -> tuple[str, ...] | None:
        if any(kind == "star" for kind, _, _ in items):
            if len(items) != 1:
                raise SqlUnsupported("* goes alone in the select list")
            columns, outputs = None, None
        else:
            columns = [name for _, name, _ in items]
            outputs = [alias or name for _, name, alias in items]
            obj["columns"] = columns
        sort = []
        for ordered in self._order():
            key = ordered.this
            column = None
            if isinstance(key, exp.Literal) and not key.is_string and columns is not None:
                column = _ordinal(key, columns)
            elif isinstance(key, exp.Column) and not key.table and outputs is not None and key.name in outputs:
                column = columns[outputs.index(key.name)] if columns is not None else None
            sort.append({"column": column or self._column(key), "desc": bool(ordered.args.get("desc"))})
        if sort:
            obj["sort"] = sort
        if outputs is None or outputs == columns:
            return None
        return tuple(outputs)

    def _order(self) -> list[exp.Ordered]:
        order = self.stmt.args.get("order")
        keys = [] if order is None else list(order.expressions)
        for ordered in keys:
            if ordered.args.get("nulls_first"):
                raise SqlUnsupported("NULLS FIRST cannot be pushed down: nulls sort last")
        return keys

    def _aggregate(self, items: list[tuple[str, Any, str | None]], obj: dict[str, Any]) -> tuple[str, ...] | None:
        if any(kind == "star" for kind, _, _ in items):
            raise SqlUnsupported("* cannot be selected with GROUP BY or an aggregate")
        keys = [kind for kind, _, _ in items]
        firsts = [k for k in keys if k != "measure"]
        if keys[: len(firsts)] != firsts or firsts.count("bucket") > 1 or "bucket" in firsts[:-1]:
            raise SqlUnsupported(
                "list the grouped columns first, then at most one date_bin, then the aggregates "
                "(the result's column order)"
            )
        if not any(k == "measure" for k in keys):
            raise SqlUnsupported("a GROUP BY needs at least one aggregate (COUNT, SUM, MIN, MAX or AVG)")
        group_items = [(kind, value) for kind, value, _ in items if kind != "measure"]
        self._check_group_by(items, group_items)
        agg: dict[str, Any] = {"group_by": [v for k, v in group_items if k == "column"]}
        bucket = next((v for k, v in group_items if k == "bucket"), None)
        if bucket is not None:
            agg["bucket"] = bucket
        measures, outputs, result = [], [], []
        for kind, value, alias in items:
            if kind == "measure":
                name = alias or (value["op"] if "column" not in value else f"{value['op']}_{value['column']}")
                measures.append({**value, "as": name})
                outputs.append(name)
                result.append(name)
            else:
                source = value if kind == "column" else value["column"]
                outputs.append(alias or source)
                result.append(source)
        agg["measures"] = measures
        sort = []
        for ordered in self._order():
            sort.append(
                {"column": self._result_column(ordered.this, items, result), "desc": bool(ordered.args.get("desc"))}
            )
        if sort:
            agg["sort"] = sort
        obj["aggregate"] = agg
        return None if outputs == result else tuple(outputs)

    def _check_group_by(self, items: list[tuple[str, Any, str | None]], group_items: list[tuple[str, Any]]) -> None:
        group = self.stmt.args.get("group")
        wanted: list[tuple[str, Any]] = []
        for node in [] if group is None else group.expressions:
            if isinstance(node, exp.Literal) and not node.is_string:
                index = _ordinal_index(node, len(items))
                kind, value, _ = items[index]
                if kind == "measure":
                    raise SqlUnsupported(f"GROUP BY {node.this} names an aggregate")
                wanted.append((kind, value))
                continue
            if isinstance(node, exp.Column) and not node.table:
                aliased = [(k, v) for k, v, a in items if a == node.name and k != "measure"]
                if aliased:
                    wanted.append(aliased[0])
                    continue
            kind, value, _ = self._item(node)
            if kind not in ("column", "bucket"):
                raise SqlUnsupported(f"GROUP BY {_show(node)} cannot be pushed down")
            wanted.append((kind, value))
        for pair in group_items:
            if pair not in wanted:
                raise SqlUnsupported(f"{_describe(pair)} is selected but not in the GROUP BY")
        for pair in wanted:
            if pair not in group_items:
                raise SqlUnsupported(f"GROUP BY {_describe(pair)}: select it too (the result holds its groups)")

    def _result_column(self, node: exp.Expression, items: list[tuple[str, Any, str | None]], result: list[str]) -> str:
        """The result column an aggregate's ORDER BY key names: an alias, an ordinal, a
        grouped column, or an aggregate of the select list."""
        if isinstance(node, exp.Literal) and not node.is_string:
            return result[_ordinal_index(node, len(items))]
        if isinstance(node, exp.Column) and not node.table:
            for (_, _, alias), name in zip(items, result, strict=True):
                if alias == node.name:
                    return name
        kind, value, _ = self._item(node)
        for (k, v, _), name in zip(items, result, strict=True):
            if (k, v) == (kind, value):
                return name
        raise SqlUnsupported(f"ORDER BY {_show(node)}: order by a column of the result")


def _describe(pair: tuple[str, Any]) -> str:
    kind, value = pair
    return repr(value) if kind == "column" else f"date_bin of {value['column']!r}"


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _ordinal_index(node: exp.Literal, count: int) -> int:
    text = str(node.this)
    if not text.isdigit() or not 1 <= int(text) <= count:
        raise SqlUnsupported(f"{text} is not a position in the select list (1-{count})")
    return int(text) - 1


def _ordinal(node: exp.Literal, columns: list[str]) -> str:
    return columns[_ordinal_index(node, len(columns))]


def _interval_ms(node: exp.Expression) -> int:
    """An INTERVAL of a whole number of one unit (millisecond to week), in milliseconds."""
    if not isinstance(node, exp.Interval) or not isinstance(node.this, exp.Literal):
        raise SqlUnsupported(f"{_show(node)}: a bucket's width is an INTERVAL such as INTERVAL '5 minutes'")
    unit = node.args.get("unit")
    text = f"{node.this.this} {unit.name if unit is not None else ''}"
    match = _INTERVAL.fullmatch(text)
    ms = UNIT_MS.get(match.group(2).lower()) if match else None
    if match is None or ms is None or int(match.group(1)) == 0:
        raise SqlUnsupported(
            f"{_show(node)}: a bucket's width is a whole number of milliseconds, seconds, minutes, hours, days or weeks"
        )
    return int(match.group(1)) * ms


def _epoch_ms(node: exp.Expression) -> int | None:
    literal = node.this if isinstance(node, exp.Cast) else node
    if not isinstance(literal, exp.Literal) or not literal.is_string:
        return None
    try:
        at = dt.datetime.fromisoformat(literal.this.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return int(at.timestamp() * 1000)
