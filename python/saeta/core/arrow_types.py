"""Arrow data types named in config files (``options.column_types``)."""

from __future__ import annotations

import re

import pyarrow as pa

_SIMPLE = {
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float32": pa.float32(),
    "float": pa.float32(),
    "float64": pa.float64(),
    "double": pa.float64(),
    "string": pa.string(),
    "utf8": pa.string(),
    "large_string": pa.large_string(),
    "binary": pa.binary(),
    "date32": pa.date32(),
    "date": pa.date32(),
}
_TIMESTAMP = re.compile(r"timestamp\[(s|ms|us|ns)(?:,\s*tz=([A-Za-z0-9_+\-/:]+))?\]")
_DECIMAL = re.compile(r"decimal(?:128)?\((\d{1,2}),\s*(-?\d{1,2})\)")


def parse_type(text: str) -> pa.DataType:
    """``int64``, ``float64``, ``string``, ``timestamp[ms]``, ``timestamp[us, tz=UTC]``,
    ``decimal128(12, 2)``, ... Raises ValueError naming the accepted forms."""
    name = text.strip().lower() if not text.strip().startswith("timestamp") else text.strip()
    if name in _SIMPLE:
        return _SIMPLE[name]
    if m := _TIMESTAMP.fullmatch(name):
        return pa.timestamp(m.group(1), tz=m.group(2))
    if m := _DECIMAL.fullmatch(name):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    raise ValueError(
        f"unknown type {text!r}; use one of {', '.join(sorted(_SIMPLE))}, "
        "timestamp[s|ms|us|ns(, tz=ZONE)], decimal128(P, S)"
    )


def json_readable(t: pa.DataType) -> pa.DataType:
    """The type Arrow's JSON reader is asked for: dates as timestamps (it parses date-time
    strings but not date strings), cast to the date type after reading."""
    return pa.timestamp("s") if pa.types.is_date(t) else t
