"""One audit line's fields for one query (docs/audit.md), sans I/O: who asked (tenant,
user, the session's fingerprint, never its token), what (dataset, columns, the filter's
shape, the aggregate's and the page's shape, the limit), and what came of it (rows, bytes,
outcome code, duration). Filter *values* are left out: they can be personal data (an
e-mail, a customer id), and the shape (column and operator) is what an audit asks."""

from __future__ import annotations

from typing import Any

from saeta.core.aggregation import Aggregate
from saeta.core.browser_protocol import RunQuery, Subscribe
from saeta.core.filters import Condition
from saeta.core.paging import Page


def filter_shape(conditions: tuple[Condition, ...]) -> list[list[str | int]]:
    """``[column, op]`` per condition; ``[column, op, n]`` for a set of n values."""
    shape: list[list[str | int]] = []
    for c in conditions:
        shape.append([c.column, c.op, len(c.values)] if c.op in ("in", "not_in") else [c.column, c.op])
    return shape


def aggregate_shape(agg: Aggregate | None) -> dict[str, Any] | None:
    if agg is None:
        return None
    return {
        "group_by": list(agg.group_by),
        "bucket": None if agg.bucket is None else agg.bucket.column,
        "measures": [[m.op, m.column] for m in agg.measures],
    }


def page_shape(page: Page | None, agg: Aggregate | None) -> dict[str, Any] | None:
    sort = page.sort if page is not None else (agg.sort if agg is not None else ())
    offset = page.offset if page is not None else (agg.offset if agg is not None else 0)
    if not sort and not offset:
        return None
    return {"sort": [[k.column, "desc" if k.desc else "asc"] for k in sort], "offset": offset}


def query_fields(q: RunQuery | Subscribe) -> dict[str, Any]:
    """What was asked, as JSON-ready fields."""
    page = q.page if isinstance(q, RunQuery) else None
    return {
        "kind": "subscribe" if isinstance(q, Subscribe) else "query",
        "query_id": q.id,
        "dataset": q.dataset,
        "columns": None if q.columns is None else list(q.columns),
        "filter": filter_shape(q.filter),
        "aggregate": aggregate_shape(q.aggregate),
        "page": page_shape(page, q.aggregate),
        "limit": q.limit if isinstance(q, RunQuery) else None,
        "resumed": q.resume is not None,
    }


def record(
    q: RunQuery | Subscribe,
    *,
    transport: str,
    tenant: str,
    user: str,
    session: str,
    replica: str,
    rows: int,
    nbytes: int,
    code: str,
    seconds: float,
) -> dict[str, Any]:
    """The whole line, less its timestamp (the shell's clock)."""
    return {
        "event": "query",
        "transport": transport,
        "tenant": tenant,
        "user": user,
        "session": session,
        "replica": replica,
        **query_fields(q),
        "rows": rows,
        "bytes": nbytes,
        "code": code,
        "duration_ms": round(seconds * 1000, 3),
    }
