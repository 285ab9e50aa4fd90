"""Filters on the tunnel: ``saeta.v1.Condition`` to and from ``filters.Condition``. The
connector checks what arrives as strictly as the gateway checked what the browser sent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from saeta.core.filters import Condition, Scalar, parse_filter
from saeta.errors import BadRequest
from saeta.v1 import tunnel_pb2 as pb


def _value(v: Scalar) -> pb.FilterValue:
    if isinstance(v, bool):
        return pb.FilterValue(boolean=v)
    if isinstance(v, int):
        return pb.FilterValue(integer=v)
    if isinstance(v, float):
        return pb.FilterValue(number=v)
    return pb.FilterValue(text=v)


def to_proto(conditions: Sequence[Condition]) -> list[pb.Condition]:
    return [pb.Condition(column=c.column, op=c.op, values=[_value(v) for v in c.values]) for c in conditions]


def _scalar(v: pb.FilterValue) -> Scalar:
    which = v.WhichOneof("value")
    if which is None:
        raise BadRequest("a filter value is empty")
    value: Scalar = getattr(v, which)
    return value


def from_proto(conditions: Iterable[pb.Condition]) -> tuple[Condition, ...]:
    """The tunnel's conditions, shape-checked by the same rules as the browser's."""
    raw: list[list[Any]] = []
    for c in conditions:
        values = [_scalar(v) for v in c.values]
        if c.op in ("in", "not_in"):
            raw.append([c.column, c.op, values])
        elif values:
            raw.append([c.column, c.op, *values])
        else:
            raw.append([c.column, c.op])
    return parse_filter(raw)
