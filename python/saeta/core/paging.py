"""A page of a plain query's rows, sorted and cut where the data is (docs/protocol.md,
"Pages"): ``sort`` and ``offset`` beside ``limit``. Its shape is checked by the gateway,
its fit (sort keys the dataset exposes, of a type with an order) by the connector, as
filters and aggregates are. Sans-I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from saeta.core.aggregation import MAX_NAME_CHARS, MAX_OFFSET, MAX_SORT_KEYS, ORDERABLE, Limits, SortKey
from saeta.core.filters import Kind
from saeta.errors import BadRequest, ResultTooLarge


@dataclass(frozen=True, slots=True)
class Page:
    sort: tuple[SortKey, ...] = ()
    offset: int = 0


def parse_page(sort: Any, offset: Any) -> Page | None:
    """A query's ``sort`` and ``offset`` (None when it has neither)."""
    if sort is None and offset is None:
        return None
    keys = []
    if sort is not None:
        if not isinstance(sort, list) or not 1 <= len(sort) <= MAX_SORT_KEYS:
            raise BadRequest(f"'sort' must be a list of 1-{MAX_SORT_KEYS} keys")
        for n, item in enumerate(sort):
            if not isinstance(item, dict) or not set(item) <= {"column", "desc"}:
                raise BadRequest(f'sort[{n}]: must be {{"column": NAME, "desc": BOOL}}')
            column, desc = item.get("column"), item.get("desc", False)
            if not isinstance(column, str) or not 0 < len(column) <= MAX_NAME_CHARS:
                raise BadRequest(f"sort[{n}].column: must be a column name of 1-{MAX_NAME_CHARS} characters")
            if not isinstance(desc, bool):
                raise BadRequest(f"sort[{n}].desc: must be true or false")
            keys.append(SortKey(column, desc))
    offset = 0 if offset is None else offset
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise BadRequest("'offset' must be a non-negative integer")
    return Page(tuple(keys), offset)


def bind_page(page: Page, kinds: Mapping[str, Kind], dataset: str) -> Page:
    """``page`` checked against the dataset's exposed columns: BadRequest names a sort key
    that is not one, or whose type has no order."""
    for n, key in enumerate(page.sort):
        kind = kinds.get(key.column)
        if kind is None:
            raise BadRequest(f"sort[{n}].column: dataset {dataset} has no column {key.column!r}")
        if kind not in ORDERABLE:
            raise BadRequest(f"sort[{n}].column: {key.column!r} is {kind.value}, which has no order")
    return page


def check_rows(page: Page, rows: int, limits: Limits) -> None:
    """Refuses a page of ``rows`` rows (asked for one past the bound): more than
    ``limits.max_rows`` (ResultTooLarge), or none after a non-zero offset (BadRequest)."""
    if rows > limits.max_rows:
        raise ResultTooLarge(
            f"a page holds at most {limits.max_rows} rows (the connector's aggregation.max_result_rows): "
            "ask for a smaller limit"
        )
    if page.offset and rows == 0:
        raise BadRequest(f"offset: {page.offset} is past the end of the rows")


def to_json(page: Page) -> dict[str, Any]:
    return {"sort": [{"column": k.column, "desc": k.desc} for k in page.sort] or None, "offset": page.offset}


def from_json(obj: Any) -> Page:
    """A ticket's page (``to_json``'s form), checked again."""
    if not isinstance(obj, dict):
        raise BadRequest("malformed ticket")
    page = parse_page(obj.get("sort"), obj.get("offset", 0))
    return page or Page()
