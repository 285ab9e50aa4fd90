"""Bound filter conditions as a pyarrow.dataset expression, so the scan itself filters
(and skips Parquet row groups whose statistics rule them out). Null semantics are SQL's:
a condition on a null value is false, except ``is_null``."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from saeta.core.filters import Bound, BoundValue, Kind


def _scalar_type(kind: Kind, column: pa.DataType) -> pa.DataType | None:
    """The type values are given as; None to let Arrow infer it (decimals: the value's
    own precision, which Arrow compares exactly with the column's)."""
    if kind is Kind.INTEGER:
        return pa.uint64() if column == pa.uint64() else pa.int64()
    if kind is Kind.FLOAT:
        return pa.float64()
    if kind is Kind.DECIMAL:
        return None
    return column  # strings, booleans, dates, timestamps: the column's own type and zone


def _condition(b: Bound, column: pa.DataType) -> Any:
    field = ds.field(b.column)
    if b.op == "is_null":
        return field.is_null()
    if b.op == "not_null":
        return field.is_valid()
    values: list[BoundValue] = list(b.values)
    scalar_type = _scalar_type(b.kind, column)
    if scalar_type == pa.uint64():
        # Only unsigned 64-bit integers do not fit int64: a negative value is below them all.
        return _uint64_condition(b, field, values)
    return _compare(b.op, field, values, scalar_type)


def _compare(op: str, field: Any, values: Sequence[BoundValue], t: pa.DataType | None) -> Any:
    if op in ("in", "not_in"):
        found = field.isin(pa.array(values, type=t))
        return found if op == "in" else ~found & field.is_valid()
    value = pa.scalar(values[0], type=t)
    return {
        "=": lambda: field == value,
        "!=": lambda: field != value,
        "<": lambda: field < value,
        "<=": lambda: field <= value,
        ">": lambda: field > value,
        ">=": lambda: field >= value,
    }[op]()


def _uint64_condition(b: Bound, field: Any, values: list[BoundValue]) -> Any:
    kept = [v for v in values if isinstance(v, int) and v >= 0]
    never = ds.scalar(False)
    if b.op in ("in", "not_in"):
        if not kept:
            return never if b.op == "in" else field.is_valid()
        return _compare(b.op, field, kept, pa.uint64())
    if kept:
        return _compare(b.op, field, kept, pa.uint64())
    # A negative value: every non-null row is greater than it.
    return field.is_valid() if b.op in ("!=", ">", ">=") else never


def to_expression(bound: Sequence[Bound], schema: pa.Schema) -> Any:
    """The conjunction of ``bound``, None when there is no condition."""
    if not bound:
        return None
    return reduce(lambda a, b: a & b, (_condition(b, schema.field(b.column).type) for b in bound))
