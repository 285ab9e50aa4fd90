"""Browser protocol v1 (docs/protocol.md): parsing the client's JSON text frames and
building the gateway's. Every limit here is part of the contract."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from saeta.core.aggregation import Aggregate, check_live, parse_aggregate
from saeta.core.filters import Condition, parse_filter
from saeta.core.paging import Page, parse_page
from saeta.core.text import has_lone_surrogate
from saeta.errors import BadRequest, SaetaError

PROTOCOL_VERSION = 1
MAX_TEXT_FRAME_BYTES = 64 * 1024  # client to gateway
# Gateway to client: no frame is larger than websocket.max_frame_bytes (this by default,
# the default of Python websockets' max_size too); a binary frame is an 8-byte header and
# whole Arrow IPC messages.
DEFAULT_MAX_FRAME_BYTES = 1024 * 1024
MIN_MAX_FRAME_BYTES = 64 * 1024
FRAME_HEADER_BYTES = 8
MAX_ID_CHARS = 128
MAX_DATASET_CHARS = 256
MAX_COLUMNS = 1024
MAX_COLUMN_CHARS = 256
MAX_LIMIT = 2**63 - 1
MAX_RESUME_TOKEN_CHARS = 4096  # core/resume_token.py
MAX_CODECS = 8  # a query's "compression": at most this many names,
MAX_CODEC_CHARS = 16  # each at most this long

# WebSocket close codes (docs/protocol.md, "Close codes").
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_SESSION_INVALID = 4001
CLOSE_REVOKED = 4003
CLOSE_TOO_SLOW = 4008  # the client took nothing for websocket.stalled_seconds
CLOSE_TOO_MANY_SOCKETS = 4029  # the session has limits.max_sockets_per_session open already


@dataclass(frozen=True, slots=True)
class ListDatasets:
    pass


@dataclass(frozen=True, slots=True)
class RunQuery:
    id: str
    dataset: str
    columns: tuple[str, ...] | None
    limit: int | None
    filter: tuple[Condition, ...] = ()
    ordered: bool = False  # partitions one after the other, in order (else several at once)
    resumable: bool = False  # checkpoints with resume tokens (docs/protocol.md, "Resuming")
    resume: Resume | None = None  # resume from this token, whose rows the client has
    aggregate: Aggregate | None = None  # aggregation at the source (docs/protocol.md, "Aggregation")
    page: Page | None = None  # sort and offset at the source (docs/protocol.md, "Pages")
    compression: tuple[str, ...] = ()  # IPC body codecs the client decodes (docs/protocol.md, "Compression")


@dataclass(frozen=True, slots=True)
class Resume:
    """A query's ``resume``: the last token the client committed, and its row count."""

    token: str
    rows: int


@dataclass(frozen=True, slots=True)
class Subscribe:
    """A live query: the snapshot, then new rows as the source grows, until unsubscribed."""

    id: str
    dataset: str
    columns: tuple[str, ...] | None
    filter: tuple[Condition, ...] = ()
    resumable: bool = False  # checkpoints with resume tokens (docs/protocol.md, "Resuming")
    resume: Resume | None = None  # resume from this token, whose rows the client has
    aggregate: Aggregate | None = None  # a live aggregate (docs/protocol.md, "Live aggregates")
    compression: tuple[str, ...] = ()  # IPC body codecs the client decodes (docs/protocol.md, "Compression")


@dataclass(frozen=True, slots=True)
class CancelQuery:
    id: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    id: str


ClientAction = ListDatasets | RunQuery | Subscribe | CancelQuery | Unsubscribe


class RequestError(BadRequest):
    """A bad client message; ``request_id`` is the message's id when it had a usable one."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


def _string(obj: dict[str, Any], key: str, max_chars: int, rid: str | None) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise RequestError(f"'{key}' must be a non-empty string", rid)
    if len(value) > max_chars:
        raise RequestError(f"'{key}' is longer than {max_chars} characters", rid)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _request_id(obj: dict[str, Any]) -> str | None:
    value = obj.get("id")
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS:
        return value
    return None


def parse_client_message(text: str | bytes) -> ClientAction:
    """Parses one client text frame. Raises RequestError (code BAD_REQUEST)."""
    if len(text) > MAX_TEXT_FRAME_BYTES:
        raise RequestError(f"message larger than {MAX_TEXT_FRAME_BYTES} bytes")
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise RequestError("message is not valid JSON") from None
    if not isinstance(obj, dict):
        raise RequestError("message must be a JSON object")
    if has_lone_surrogate(obj):
        id_ = obj.get("id")
        ok_id = isinstance(id_, str) and not has_lone_surrogate(id_)
        raise RequestError("message holds invalid Unicode (a lone surrogate)", _request_id(obj) if ok_id else None)
    rid = _request_id(obj)
    action = obj.get("action")
    if action == "list":
        return ListDatasets()
    if action == "cancel":
        return CancelQuery(_string(obj, "id", MAX_ID_CHARS, rid))
    if action == "unsubscribe":
        return Unsubscribe(_string(obj, "id", MAX_ID_CHARS, rid))
    if action not in ("query", "subscribe"):
        raise RequestError("unknown action; expected list, query, subscribe, cancel or unsubscribe", rid)
    qid = _string(obj, "id", MAX_ID_CHARS, rid)
    dataset = _string(obj, "dataset", MAX_DATASET_CHARS, qid)
    columns = obj.get("columns")
    if columns is not None:
        if not isinstance(columns, list) or len(columns) > MAX_COLUMNS:
            raise RequestError(f"'columns' must be a list of at most {MAX_COLUMNS} names", qid)
        for col in columns:
            if not isinstance(col, str) or not col or len(col) > MAX_COLUMN_CHARS:
                raise RequestError("each column must be a non-empty string", qid)
        if len(set(columns)) != len(columns):
            raise RequestError("'columns' names a column twice", qid)
        columns = tuple(columns)
    conditions: tuple[Condition, ...] = ()
    if obj.get("filter") is not None:
        try:
            conditions = parse_filter(obj["filter"])
        except BadRequest as exc:
            raise RequestError(exc.message, qid) from None
    aggregate = None
    if obj.get("aggregate") is not None:
        if columns is not None:
            raise RequestError("'columns' does not apply with 'aggregate' (the result's columns are its own)", qid)
        try:
            aggregate = parse_aggregate(obj["aggregate"])
            if action == "subscribe":
                check_live(aggregate)
        except BadRequest as exc:
            raise RequestError(exc.message, qid) from None
    page = None
    if obj.get("sort") is not None or obj.get("offset") is not None:
        if aggregate is not None:
            raise RequestError("'sort' and 'offset' go inside 'aggregate' for an aggregate", qid)
        if action == "subscribe":
            raise RequestError("'sort' and 'offset' do not apply to a subscription", qid)
        try:
            page = parse_page(obj.get("sort"), obj.get("offset"))
        except BadRequest as exc:
            raise RequestError(exc.message, qid) from None
    resumable = obj.get("resumable", False)
    if not isinstance(resumable, bool):
        raise RequestError("'resumable' must be true or false", qid)
    resume = _resume(obj.get("resume"), qid)
    compression = _codecs(obj.get("compression"), qid)
    if resume is not None and not resumable:
        raise RequestError("'resume' needs 'resumable': true", qid)
    if action == "subscribe":
        for key in ("limit", "ordered"):
            if key in obj:
                raise RequestError(f"'{key}' does not apply to a subscription", qid)
        return Subscribe(qid, dataset, columns, conditions, resumable, resume, aggregate, compression)
    limit = obj.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= MAX_LIMIT):
        raise RequestError("'limit' must be a non-negative integer", qid)
    ordered = obj.get("ordered", False)
    if not isinstance(ordered, bool):
        raise RequestError("'ordered' must be true or false", qid)
    return RunQuery(qid, dataset, columns, limit, conditions, ordered, resumable, resume, aggregate, page, compression)


def _codecs(value: Any, qid: str) -> tuple[str, ...]:
    """A query's ``compression``: the IPC body codecs its client decodes, as listed (names
    this gateway does not know are kept and never match: a newer client's list still
    parses)."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_CODECS:
        raise RequestError(f"'compression' must be a list of at most {MAX_CODECS} codec names", qid)
    for name in value:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_CODEC_CHARS:
            raise RequestError(f"each 'compression' codec must be a string of 1-{MAX_CODEC_CHARS} characters", qid)
    return tuple(value)


def _resume(value: Any, qid: str) -> Resume | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"token", "rows"}:
        raise RequestError('\'resume\' must be {"token": STR, "rows": INT}', qid)
    token, rows = value["token"], value["rows"]
    if not isinstance(token, str) or not 0 < len(token) <= MAX_RESUME_TOKEN_CHARS:
        raise RequestError(f"'resume.token' must be a string of 1-{MAX_RESUME_TOKEN_CHARS} characters", qid)
    if not isinstance(rows, int) or isinstance(rows, bool) or not 0 <= rows <= MAX_LIMIT:
        raise RequestError("'resume.rows' must be a non-negative integer", qid)
    return Resume(token, rows)


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def datasets_frame(datasets: list[dict[str, Any]]) -> str:
    return _dumps({"type": "datasets", "datasets": datasets})


def info_frame(
    qid: str,
    stream: int,
    fields: list[dict[str, str]],
    partitions: int,
    total_records: int | None,
    resumable: bool | None = None,
    resumed_rows: int | None = None,
) -> str:
    frame: dict[str, Any] = {
        "type": "info",
        "id": qid,
        "stream": stream,
        "schema": {"fields": fields},
        "partitions": partitions,
        "total_records": total_records,
    }
    if resumable is not None:  # the query asked for checkpoints
        frame["resumable"] = resumable
    if resumed_rows is not None:
        frame["resumed_rows"] = resumed_rows
    return _dumps(frame)


def checkpoint_frame(qid: str, rows: int, frames: int, token: str | None) -> str:
    """``token`` None: the stream cannot be resumed from here (a subscription's rows that
    its source cannot read again, until a later checkpoint says otherwise)."""
    return _dumps({"type": "checkpoint", "id": qid, "rows": rows, "frames": frames, "token": token})


def snapshot_frame(qid: str, rows: int) -> str:
    return _dumps({"type": "snapshot", "id": qid, "rows": rows})


def end_frame(qid: str, rows: int, nbytes: int) -> str:
    return _dumps({"type": "end", "id": qid, "rows": rows, "bytes": nbytes})


def error_frame(qid: str | None, code: str, message: str, retry_after: float | None = None) -> str:
    frame: dict[str, Any] = {"type": "error", "id": qid, "code": code, "message": message}
    if retry_after is not None:
        frame["retry_after_ms"] = max(1, math.ceil(retry_after * 1000))
    return _dumps(frame)


def error_frame_for(qid: str | None, err: SaetaError) -> str:
    """The error frame for ``err``; with ``retry_after_ms`` when the error says when a
    retry can succeed (QUOTA_EXCEEDED)."""
    return error_frame(qid, err.code, err.message, getattr(err, "retry_after", None))
