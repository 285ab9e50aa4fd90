"""Filters on the tunnel: ``saeta.v1.Condition`` to and from ``filters.Condition``. The
connector checks what arrives as strictly as the gateway checked what the browser sent."""

from __future__ import annotations

from collections.abc import Sequence

from saeta.core.aggregation import Aggregate, parse_aggregate
from saeta.core.filters import MAX_CONDITIONS, Condition, Scalar, condition, whole_filter
from saeta.core.paging import Page, parse_page
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


def from_proto(conditions: Sequence[pb.Condition]) -> tuple[Condition, ...]:
    """The tunnel's conditions, checked by the same rules as the browser's, decoded once
    (straight from the message, not through the browser's JSON form)."""
    if len(conditions) > MAX_CONDITIONS:
        raise BadRequest(f"'filter' must be a list of at most {MAX_CONDITIONS} conditions")
    return whole_filter(
        [condition(c.column, c.op, [_scalar(v) for v in c.values], f"filter[{i}]") for i, c in enumerate(conditions)]
    )


def aggregate_to_proto(agg: Aggregate) -> pb.Aggregate:
    b = agg.bucket
    return pb.Aggregate(
        group_by=agg.group_by,
        bucket=None if b is None else pb.Bucket(column=b.column, width=b.width or 0.0, count=b.count or 0),
        measures=[pb.Measure(op=m.op, column=m.column or "", name=m.name) for m in agg.measures],
        sort=[pb.SortKey(column=k.column, desc=k.desc) for k in agg.sort],
        offset=agg.offset,
    )


def aggregate_from_proto(query: pb.Query) -> Aggregate | None:
    """The query's aggregate (None: a plain query), checked by the same rules as the
    browser's (core/aggregation.py's parse_aggregate, through its JSON form)."""
    if not query.HasField("aggregate"):
        return None
    a = query.aggregate
    obj: dict[str, object] = {
        "group_by": list(a.group_by),
        "measures": [{"op": m.op, "as": m.name, **({"column": m.column} if m.column else {})} for m in a.measures],
        "sort": [{"column": k.column, "desc": k.desc} for k in a.sort],
        "offset": a.offset,
    }
    if a.HasField("bucket"):
        b = a.bucket
        bucket: dict[str, object] = {"column": b.column}
        if b.count:
            bucket["count"] = b.count
        if b.width or not b.count:
            bucket["width"] = b.width
        obj["bucket"] = bucket
    return parse_aggregate(obj)


def page_from_proto(query: pb.Query) -> Page | None:
    """The query's page (None: none), checked by the browser's rules."""
    if not query.sort and not query.offset:
        return None
    sort = [{"column": k.column, "desc": k.desc} for k in query.sort] or None
    return parse_page(sort, query.offset)


def query_message(
    columns: tuple[str, ...] | None,
    limit: int | None,
    conditions: Sequence[Condition],
    follow: bool,
    resumable: bool = False,
    aggregate: Aggregate | None = None,
    page: Page | None = None,
) -> pb.Query:
    """A query's ``saeta.v1.Query``, as the tunnel and the peer calls carry it."""
    return pb.Query(
        columns=columns or (),
        limit=-1 if limit is None else limit,
        filter=to_proto(conditions),
        follow=follow,
        resumable=resumable,
        aggregate=None if aggregate is None else aggregate_to_proto(aggregate),
        sort=[] if page is None else [pb.SortKey(column=k.column, desc=k.desc) for k in page.sort],
        offset=0 if page is None else page.offset,
    )
