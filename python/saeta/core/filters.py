"""Row filters of the browser protocol (docs/protocol.md, "Filters"): their shape, checked
by the gateway before anything is sent down a tunnel, and their binding to a dataset's
columns, checked by the connector before anything is sent to a source.

A filter is a list of conditions, all of which a row must meet. A condition on a null
value is false, whatever the op, except ``is_null`` (SQL's semantics, kept by every
source). Values are never turned into SQL text: SQL sources bind them, file sources build
Arrow expressions from them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from saeta.errors import BadRequest

MAX_CONDITIONS = 64
MAX_IN_VALUES = 1000
# Values in a whole filter: each is one bound parameter, and SQL Server takes at most 2,100.
MAX_FILTER_VALUES = 2000
MAX_VALUE_CHARS = 4096

COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
SET_OPS = ("in", "not_in")
NULL_OPS = ("is_null", "not_null")
OPS = COMPARISONS + SET_OPS + NULL_OPS
ORDERED = ("<", "<=", ">", ">=")

Scalar = str | int | float | bool
_DECIMAL = re.compile(r"[+-]?(\d{1,76}(\.\d{0,76})?|\.\d{1,76})([eE][+-]?\d{1,4})?")


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition as the client sent it: shape checked, not yet bound to a dataset."""

    column: str
    op: str
    values: tuple[Scalar, ...]  # one for a comparison, 1..MAX_IN_VALUES for a set, none for a null test


class Kind(enum.Enum):
    """How a column can be compared: what the client's JSON value must be, and the
    value it is turned into."""

    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    STRING = "string"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"  # without time zone
    TIMESTAMP_TZ = "timestamp with time zone"
    UUID = "uuid"
    NONE = "not comparable"  # is_null / not_null only


BoundValue = int | float | decimal.Decimal | str | bool | dt.date | dt.datetime | uuid.UUID


@dataclass(frozen=True, slots=True)
class Bound:
    """A condition bound to a column: the values are of the column's kind."""

    column: str
    op: str
    kind: Kind
    values: tuple[BoundValue, ...]


# --------------------------------------------------------------------------- shape


def _scalar(value: Any, where: str) -> Scalar:
    if isinstance(value, bool | int):
        if not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            raise BadRequest(f"{where}: integers must fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadRequest(f"{where}: numbers must be finite")
        return value
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise BadRequest(f"{where}: strings are at most {MAX_VALUE_CHARS} characters")
        return value
    raise BadRequest(f"{where}: a value must be a string, number or boolean")


def condition(column: Any, op: Any, values: Sequence[Any], where: str) -> Condition:
    """One condition from its parts, whatever form it came in (the browser's JSON list,
    the tunnel's message): the rules are the same. Raises BadRequest naming ``where``."""
    if not isinstance(column, str) or not column or len(column) > 256:
        raise BadRequest(f"{where}: the column must be a non-empty string")
    if op not in OPS:
        raise BadRequest(f"{where}: unknown op {str(op)[:16]!r}; expected one of {' '.join(OPS)}")
    if op in NULL_OPS:
        if values:
            raise BadRequest(f"{where}: {op} takes no value")
        return Condition(column, op, ())
    if op in SET_OPS:
        if not 1 <= len(values) <= MAX_IN_VALUES:
            raise BadRequest(f"{where}: {op} needs a list of 1 to {MAX_IN_VALUES} values")
    elif len(values) != 1:
        raise BadRequest(f"{where}: {op} needs a value" if not values else f"{where}: {op} takes one value")
    return Condition(column, op, tuple(_scalar(v, where) for v in values))


def whole_filter(conditions: Sequence[Condition]) -> tuple[Condition, ...]:
    """The limits of a filter as a whole (its conditions already checked one by one)."""
    if len(conditions) > MAX_CONDITIONS:
        raise BadRequest(f"'filter' must be a list of at most {MAX_CONDITIONS} conditions")
    if sum(len(c.values) for c in conditions) > MAX_FILTER_VALUES:
        raise BadRequest(f"'filter' holds more than {MAX_FILTER_VALUES} values in all")
    return tuple(conditions)


def parse_filter(raw: Any) -> tuple[Condition, ...]:
    """The ``filter`` of a query message: a list of ``[column, op, value]``. Raises
    BadRequest naming the first problem."""
    if not isinstance(raw, list) or len(raw) > MAX_CONDITIONS:
        raise BadRequest(f"'filter' must be a list of at most {MAX_CONDITIONS} conditions")
    out = []
    for i, cond in enumerate(raw):
        where = f"filter[{i}]"
        if not isinstance(cond, list) or not 2 <= len(cond) <= 3:
            raise BadRequest(f"{where} must be [column, op, value]")
        column, op, given = cond[0], cond[1], cond[2:]
        if op in NULL_OPS and given == [None]:
            given = []  # [column, "is_null", null] is accepted as [column, "is_null"]
        elif op in SET_OPS:
            if not given:
                raise BadRequest(f"{where}: {op} needs a value")
            if not isinstance(given[0], list):
                raise BadRequest(f"{where}: {op} needs a list of 1 to {MAX_IN_VALUES} values")
            given = given[0]
        out.append(condition(column, op, given, where))
    return whole_filter(out)


def to_json(conditions: Sequence[Condition]) -> list[list[Any]]:
    """The conditions in the protocol's JSON form (the inverse of parse_filter)."""
    out: list[list[Any]] = []
    for c in conditions:
        if c.op in NULL_OPS:
            out.append([c.column, c.op])
        elif c.op in SET_OPS:
            out.append([c.column, c.op, list(c.values)])
        else:
            out.append([c.column, c.op, c.values[0]])
    return out


# --------------------------------------------------------------------------- binding


def kind_of(t: pa.DataType) -> Kind:
    """The kind of an Arrow column as a file source holds it."""
    if pa.types.is_integer(t):
        return Kind.INTEGER
    if pa.types.is_floating(t):
        return Kind.FLOAT
    if pa.types.is_decimal(t):
        return Kind.DECIMAL
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return Kind.STRING
    if pa.types.is_boolean(t):
        return Kind.BOOLEAN
    if pa.types.is_date(t):
        return Kind.DATE
    if pa.types.is_timestamp(t):
        return Kind.TIMESTAMP_TZ if t.tz is not None else Kind.TIMESTAMP
    return Kind.NONE


def _value(kind: Kind, value: Scalar, where: str) -> BoundValue:
    wrong = BadRequest(f"{where}: expected {_EXPECTED[kind]}, got {json_type(value)}")
    if kind is Kind.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return value
    if kind is Kind.FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return float(value)
    if kind is Kind.BOOLEAN:
        if not isinstance(value, bool):
            raise wrong
        return value
    if kind is Kind.DECIMAL:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise wrong
        text = repr(value) if isinstance(value, float) else str(value)
        if not _DECIMAL.fullmatch(text):
            raise wrong
        return decimal.Decimal(text)
    if not isinstance(value, str):
        raise wrong
    if kind is Kind.STRING:
        return value
    try:
        if kind is Kind.UUID:
            return uuid.UUID(value)
        if kind is Kind.DATE:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError
            return dt.date.fromisoformat(value)
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        raise wrong from None
    if kind is Kind.TIMESTAMP and stamp.tzinfo is not None:
        raise BadRequest(f"{where}: the column has no time zone; give the value without an offset")
    if kind is Kind.TIMESTAMP_TZ and stamp.tzinfo is None:
        raise BadRequest(f"{where}: the column is in UTC; give the value with an offset (Z or +hh:mm)")
    return stamp


_EXPECTED = {
    Kind.INTEGER: "an integer",
    Kind.FLOAT: "a number",
    Kind.DECIMAL: "a number or a decimal string",
    Kind.STRING: "a string",
    Kind.BOOLEAN: "true or false",
    Kind.DATE: "a date string YYYY-MM-DD",
    Kind.TIMESTAMP: "an ISO 8601 date-time string",
    Kind.TIMESTAMP_TZ: "an ISO 8601 date-time string with an offset",
    Kind.UUID: "a UUID string",
    Kind.NONE: "no value",
}


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def bind(conditions: Sequence[Condition], kinds: Mapping[str, Kind], dataset: str) -> tuple[Bound, ...]:
    """``conditions`` checked against a dataset's exposed columns and their kinds, values
    converted. Raises BadRequest (unknown column, op not valid for the column, wrong
    value type) before anything reaches the source."""
    out = []
    for i, c in enumerate(conditions):
        where = f"filter[{i}] on {c.column!r}"
        kind = kinds.get(c.column)
        if kind is None:
            raise BadRequest(f"dataset {dataset} has no column {c.column!r}")
        if c.op not in NULL_OPS:
            if kind is Kind.NONE:
                raise BadRequest(f"{where}: the column can only be tested with is_null or not_null")
            if c.op in ORDERED and kind in (Kind.BOOLEAN, Kind.UUID):
                raise BadRequest(f"{where}: {kind.value} columns have no order; use = != in not_in")
        out.append(Bound(c.column, c.op, kind, tuple(_value(kind, v, where) for v in c.values)))
    return tuple(out)


def kinds_of(schema: pa.Schema) -> dict[str, Kind]:
    return {f.name: kind_of(f.type) for f in schema}
