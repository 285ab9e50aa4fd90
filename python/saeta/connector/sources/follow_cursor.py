"""Followers' cursors (tunnel.proto's ResumePoint.cursor), sans I/O: where a subscription's
follower stood as a range of its rows began, made by this connector and handed back to it
to resume (docs/tunnel.md, "Resumable subscriptions"). The gateway never reads one; it
travels, signed, inside a browser's resume token, so it names no path: a file is the
first 12 hex digits of its path's SHA-256.

A cursor comes back from outside (through the gateway) and is checked as such: bounded,
strict JSON of the expected shape; anything else is RESUME_UNAVAILABLE, and the client
follows the dataset again from its snapshot."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from saeta.connector.sources.base import MAX_CURSOR_BYTES
from saeta.core.filters import BoundValue
from saeta.core.resume_token import ResumeUnavailable

VERSION = 1
MAX_FILES = 10_000
MAX_OFFSET = 2**62


def path_key(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class FileState:
    key: str  # path_key of the file
    inode: int
    pos: int  # bytes read, just after a newline
    snap_end: int  # where its snapshot ends while it is being read; -1 once it is done


@dataclass(frozen=True, slots=True)
class FileCursor:
    live: bool  # the snapshot is over: only what is appended, and new files, are left
    files: tuple[FileState, ...]  # the CSV and JSON Lines files followed
    done: tuple[str, ...]  # keys of whole files (Parquet, JSON arrays) read
    at: str  # key of the file whose range begins here


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode()


def _refused(what: str) -> ResumeUnavailable:
    return ResumeUnavailable(f"the subscription cannot be resumed: {what}; follow it again from its snapshot")


def _loads(raw: bytes, kind: str) -> dict[str, Any]:
    if not 0 < len(raw) <= MAX_CURSOR_BYTES:
        raise _refused("its cursor is empty or too long")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _refused("its cursor is not this connector's") from None
    if not isinstance(value, dict) or value.get("v") != VERSION or value.get("t") != kind:
        raise _refused("its cursor is not of this dataset's kind")
    return value


def _int(value: object, lo: int = 0, hi: int = MAX_OFFSET) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise _refused("its cursor is malformed")
    return value


def _key(value: object) -> str:
    if not isinstance(value, str) or len(value) != 12 or any(c not in "0123456789abcdef" for c in value):
        raise _refused("its cursor is malformed")
    return value


def encode_files(cursor: FileCursor) -> bytes:
    return _dumps(
        {
            "v": VERSION,
            "t": "files",
            "l": cursor.live,
            "f": [[f.key, f.inode, f.pos, f.snap_end] for f in cursor.files],
            "d": list(cursor.done),
            "a": cursor.at,
        }
    )


def decode_files(raw: bytes) -> FileCursor:
    value = _loads(raw, "files")
    files, done, live = value.get("f"), value.get("d"), value.get("l")
    if not isinstance(files, list) or not isinstance(done, list) or not isinstance(live, bool):
        raise _refused("its cursor is malformed")
    if len(files) + len(done) > MAX_FILES:
        raise _refused("its cursor is malformed")
    states = []
    for entry in files:
        if not isinstance(entry, list) or len(entry) != 4:
            raise _refused("its cursor is malformed")
        states.append(FileState(_key(entry[0]), _int(entry[1]), _int(entry[2]), _int(entry[3], -1)))
    keys = [s.key for s in states] + [_key(k) for k in done]
    if len(set(keys)) != len(keys):
        raise _refused("its cursor is malformed")
    return FileCursor(live, tuple(states), tuple(keys[len(states) :]), _key(value.get("a")))


# A database cursor's last value, by its Python type (as the driver gave it).
def _value_text(value: BoundValue) -> list[str]:
    if isinstance(value, bool):
        raise TypeError("a boolean cursor has no order")
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", value.hex()]
    if isinstance(value, decimal.Decimal):
        return ["dec", str(value)]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, dt.datetime):  # before date: a datetime is a date
        return ["ts", value.isoformat()]
    if isinstance(value, dt.date):
        return ["date", value.isoformat()]
    raise TypeError(f"a cursor value of type {type(value).__name__}")


def _value_of(tag: object, text: object) -> BoundValue:
    if not isinstance(tag, str) or not isinstance(text, str):
        raise _refused("its cursor is malformed")
    try:
        if tag == "int":
            return int(text)
        if tag == "float":
            return float.fromhex(text)
        if tag == "dec":
            return decimal.Decimal(text)
        if tag == "str":
            return text
        if tag == "ts":
            return dt.datetime.fromisoformat(text)
        if tag == "date":
            return dt.date.fromisoformat(text)
    except (ValueError, decimal.InvalidOperation, OverflowError):
        raise _refused("its cursor is malformed") from None
    raise _refused("its cursor is malformed")


def encode_table(column: str, last: BoundValue | None) -> bytes | None:
    """A database follower's cursor: the cursor column and the largest value sent so far
    (None: the table was empty); None when the value has no text form here."""
    try:
        text = None if last is None else _value_text(last)
    except TypeError:
        return None
    return _dumps({"v": VERSION, "t": "table", "c": column, "x": text})


def decode_table(raw: bytes, column: str) -> BoundValue | None:
    """The last value of a database follower's cursor on ``column`` (None: none yet)."""
    value = _loads(raw, "table")
    if value.get("c") != column:
        raise _refused("the dataset's live.cursor column changed")
    text = value.get("x")
    if text is None:
        return None
    if not isinstance(text, list) or len(text) != 2:
        raise _refused("its cursor is malformed")
    return _value_of(text[0], text[1])
