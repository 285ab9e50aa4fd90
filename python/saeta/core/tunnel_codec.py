"""Hand-encoding of ``saeta.v1.ArrowChunk`` so the connector can send Arrow IPC bytes
with one join instead of a protobuf object and a second copy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

Buffer = Any  # bytes-like: bytes, a memoryview, the relay's Payload

# RegisterRequest.protocol_version: the tunnel protocol both sides speak (docs/tunnel.md).
TUNNEL_PROTOCOL_VERSION = 1
DATA_TAG = b"\x0a"  # field 1, wire type 2 (length-delimited)
# ArrowChunk.resume_at (field 5): a subscription's resume point, a message of its own.
RESUME_TAG = b"\x2a"
MAX_RESUME_BYTES = 2048  # as relay_ext/src/data_plane/call.rs bounds it
MAX_CURSOR_BYTES = 1536
# DoGet metadata naming the call (DoGetRequest.call_id), and the id `connector test`
# sends to check the data port: always refused with NOT_FOUND, logged as a probe.
CALL_ID_KEY = "saeta-call-id"
PROBE_CALL_ID = "probe"
# A data call the gateway aborts for what the connector sent (invalid Arrow, more rows than
# asked) ends with INVALID_ARGUMENT and a status message starting with this; any other
# abort (the query stopped) with CANCELLED.
INVALID_DATA = "INVALID_DATA"


@dataclass(frozen=True, slots=True)
class Abort:
    """Why the gateway ends a data call early, as a value (never parsed from text):
    ``invalid_data``, the connector's data was refused (INVALID_ARGUMENT); else the query
    no longer needs it (CANCELLED)."""

    reason: str
    invalid_data: bool = False

    @property
    def status_message(self) -> str:
        return f"{INVALID_DATA}: {self.reason}" if self.invalid_data else self.reason


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_arrow_chunk(parts: Sequence[Buffer]) -> bytes:
    """The serialized ArrowChunk whose ``data`` is the concatenation of ``parts``;
    byte-identical to ``ArrowChunk(data=b"".join(parts)).SerializeToString()``."""
    size = sum(len(p) for p in parts)
    if size == 0:
        return b""
    return b"".join([DATA_TAG, _varint(size), *parts])


# Arrow IPC body compression on the tunnel (docs/tunnel.md, "Compression"): the codecs by
# their names in RegisterRequest / DoGetRequest.compression, with their codes in
# saeta._relay.body_compression; auto's order of preference (zstd first: it took the
# suite's 2M-row table to 0.49 of its size against lz4's 0.72, at about the same speed).
CODEC_CODES = {"lz4": 1, "zstd": 2}
AUTO_CODECS = ("zstd", "lz4")
MAX_OFFERED_CODECS = 8  # more in a RegisterRequest are ignored


def available(codec: str) -> bool:
    """This process's Arrow can compress and decompress ``codec``."""
    return bool(pa.Codec.is_available(codec))


def offered_codecs(mode: str) -> list[str]:
    """What a connector with performance.compression ``mode`` offers at registration."""
    if mode == "off":
        return []
    wanted = AUTO_CODECS if mode == "auto" else (mode,)
    return [c for c in wanted if available(c)]


def accepted_codec(offered: Sequence[str], mode: str) -> str:
    """The codec a gateway with tunnels.compression ``mode`` accepts from a connector that
    offered ``offered``: its first known one this gateway can decompress; "" for none."""
    if mode == "off":
        return ""
    for codec in list(offered)[:MAX_OFFERED_CODECS]:
        if codec in CODEC_CODES and available(codec):
            return codec
    return ""
