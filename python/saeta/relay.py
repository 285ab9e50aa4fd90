"""The relay seam: the per-byte functions of the gateway, from the Rust extension
``saeta._relay`` when it is built, else from the pure-Python twin ``saeta._relay_py``.

This is the one place that imports the native module. Both implementations expose the
same functions with the same contracts:

- ``locate_payload(message) -> (offset, length)`` of ArrowChunk.data in a raw message;
- ``scan_ipc(data) -> ScanTuple`` of whole encapsulated Arrow IPC messages;
- ``check_schema_message(data)``: exactly one schema message;
- ``uuid_text(data) -> (text, offsets)``: a column of 16-byte UUIDs as the buffers of a
  string column (the connector's PostgreSQL source); ``interval_text`` the same for
  month-day-nano intervals, as ISO 8601 durations;
- ``classify_chunk(message) -> (is_end, offset, length, rows_or_records, codec,
  declared)``: the end marker
  or checked record batches, located and checked in one call per tunnel message, the one
  classification of both DoGet servers (grpcio's path calls it; the data plane calls the
  same Rust function); the gateway sends a view of ``message[offset:offset + length]``,
  so no relayed byte is copied. ``codec`` is the one Arrow body codec of the
  batches that are compressed (0 none, 1 LZ4 frame, 2 ZSTD; two in one message are
  refused) and ``declared`` the bytes their bodies declare they decompress to, read from
  the headers and length prefixes only, so the gateway bounds a decompression before
  anything is allocated.

The extension also holds the data plane (``DataServer``): DoGet served from Rust, each
message located and checked there (see saeta.gateway.data_plane).

Each raises ``saeta.errors.RelayError`` with a stable code on bad input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal, Protocol

from saeta import _relay_py

_native: Relay | None
try:
    from saeta import _relay

    _native = _relay
except ImportError:  # the extension is not built: the twin serves alone
    _native = None

RelayName = Literal["rust", "python", "auto"]
Buffer = bytes | bytearray | memoryview


class Relay(Protocol):
    """What both implementations are (modules satisfy it: saeta._relay, typed by its
    checked stub, and saeta._relay_py); the gateway and the connector hold a Relay."""

    IMPLEMENTATION: str

    def locate_payload(self, message: Buffer, /) -> tuple[int, int]: ...
    def scan_ipc(self, data: Buffer, /) -> tuple[int, int, int, int, int, int, bool]: ...
    def check_schema_message(self, data: Buffer, /) -> None: ...
    def classify_chunk(self, message: Buffer, /) -> tuple[bool, int, int, int, int, int]: ...
    def json_array_to_lines(self, data: Buffer, max_depth: int, /) -> bytes: ...
    def uuid_text(self, data: Buffer, /) -> tuple[bytes, bytes]: ...
    def interval_text(self, data: Buffer, /) -> tuple[bytes, bytes]: ...


EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class IpcScan:
    """What ``scan_ipc`` found in a byte string of Arrow IPC messages."""

    messages: int
    schemas: int
    dictionary_batches: int
    record_batches: int
    rows: int
    body_bytes: int
    eos: bool


def frame_header(stream_id: int, flags: int = 0) -> bytes:
    """The browser frame's 8-byte header (stream id, flags; little-endian u32 each)."""
    return struct.pack("<II", stream_id, flags)


def available() -> list[str]:
    """Names of the implementations that can be loaded here."""
    return ["rust", "python"] if _native is not None else ["python"]


def load(name: RelayName = "auto") -> Relay:
    """The implementation module for ``name``; "auto" prefers Rust.

    Raises ImportError when "rust" is asked for and the extension is not built."""
    if name == "python":
        return _relay_py
    if _native is None:
        if name == "rust":
            raise ImportError("saeta._relay (the Rust extension) is not built")
        return _relay_py
    native: Relay = _native
    return native


def scan(data: bytes | memoryview, impl: Relay | None = None) -> IpcScan:
    """``scan_ipc`` as a typed result."""
    return IpcScan(*(impl or load()).scan_ipc(data))


IMPLEMENTATION: str = load().IMPLEMENTATION
