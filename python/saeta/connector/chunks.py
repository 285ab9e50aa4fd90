"""Record batches to tunnel messages: encapsulated IPC messages coalesced up to a byte
target, each group sent as one serialized ArrowChunk (one join, no protobuf object)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa

from saeta.core.frame_split import fitting_batches
from saeta.core.tunnel_codec import encode_arrow_chunk


@dataclass(frozen=True, slots=True)
class Flush:
    """Among the batches: closes the message being filled, then goes out as a message of
    its own (a subscription's resume point: no data message spans two ranges)."""

    message: bytes


def chunk_messages(
    batches: Iterable[pa.RecordBatch | Flush], target_bytes: int, max_bytes: int = 0
) -> Iterator[tuple[bytes, int]]:
    """Yields (serialized ArrowChunk, rows) with whole batches, about ``target_bytes``
    each: a group closes once it reaches the target, so a single large batch still goes
    alone, and many small ones share a message. With ``max_bytes`` (the gateway's
    DoGetRequest.max_chunk_bytes; 0 = none) no message's data is larger: groups close
    before it, and larger batches go as row slices that fit (a single row larger than it
    goes alone, and the gateway refuses it). A Flush goes out as is, with 0 rows."""
    if max_bytes > 0:
        target_bytes = min(target_bytes, max_bytes)
    parts: list[pa.Buffer] = []
    size = rows = 0
    for batch in batches:
        if isinstance(batch, Flush):
            if parts:
                yield encode_arrow_chunk(parts), rows
                parts, size, rows = [], 0, 0
            yield batch.message, 0
            continue
        pieces = fitting_batches(batch, max_bytes) if max_bytes > 0 else [(batch, batch.serialize())]
        for piece, buf in pieces:
            if max_bytes > 0 and parts and size + buf.size > max_bytes:
                yield encode_arrow_chunk(parts), rows
                parts, size, rows = [], 0, 0
            parts.append(buf)
            size += buf.size
            rows += piece.num_rows
            if size >= target_bytes:
                yield encode_arrow_chunk(parts), rows
                parts, size, rows = [], 0, 0
    if parts:
        yield encode_arrow_chunk(parts), rows


def skip_rows(batches: Iterator[pa.RecordBatch], skip: int) -> Iterator[pa.RecordBatch]:
    """``batches`` without their first ``skip`` rows (resumption: DoGetRequest.skip_rows);
    closing it closes ``batches``."""
    if skip <= 0:
        return batches
    return _skipped(batches, skip)


def _skipped(batches: Iterator[pa.RecordBatch], skip: int) -> Iterator[pa.RecordBatch]:
    try:
        for batch in batches:
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            yield batch.slice(skip) if skip else batch
            skip = 0
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
