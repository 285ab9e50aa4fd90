"""What a Flight descriptor asks for, sans I/O (docs/flight.md, "Descriptors"): a PATH of
one dataset's name (all its rows and columns), or a CMD of saeta's query JSON — the
socket's query message without its ``action`` and ``id`` (columns, filter, aggregate,
sort, offset, limit, ordered), checked by the same parser. A CMD that is not JSON is a
Flight SQL command (gateway/flight_sql.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from saeta.core import browser_protocol as bp
from saeta.errors import BadRequest

QUERY_KEYS = frozenset({"dataset", "columns", "filter", "aggregate", "sort", "offset", "limit", "ordered"})
FLIGHT_ID = "flight"


def path_query(path: Sequence[str]) -> bp.RunQuery:
    if len(path) != 1 or not path[0] or len(path[0]) > bp.MAX_DATASET_CHARS:
        raise BadRequest("a Flight path names one dataset: [NAME]")
    return bp.RunQuery(FLIGHT_ID, path[0], None, None)


def is_json(cmd: bytes) -> bool:
    return cmd.lstrip()[:1] == b"{"


def json_query(cmd: bytes) -> bp.RunQuery:
    """The query a CMD descriptor's JSON asks for; BadRequest names the first problem."""
    if len(cmd) > bp.MAX_TEXT_FRAME_BYTES:
        raise BadRequest(f"a query command is at most {bp.MAX_TEXT_FRAME_BYTES} bytes")
    try:
        obj = json.loads(cmd)
    except (ValueError, RecursionError):
        raise BadRequest("the command is not valid JSON") from None
    if not isinstance(obj, dict):
        raise BadRequest("the command must be a JSON object")
    unknown = sorted(set(obj) - QUERY_KEYS)
    if unknown:
        raise BadRequest(f"the command has an unknown key {unknown[0]!r}")
    try:
        q = bp.parse_client_message(json.dumps({**obj, "action": "query", "id": FLIGHT_ID}))
    except bp.RequestError as err:
        raise BadRequest(err.message) from None
    assert isinstance(q, bp.RunQuery)
    return q
