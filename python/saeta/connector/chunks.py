"""Record batches to tunnel messages: encapsulated IPC messages coalesced up to a byte
target, each group sent as one serialized ArrowChunk (one join, no protobuf object)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from saeta.core.tunnel_codec import encode_arrow_chunk


def chunk_messages(batches: Iterable[pa.RecordBatch], target_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Yields (serialized ArrowChunk, rows) with whole batches, about ``target_bytes``
    each: a group closes once it reaches the target, so a single large batch still goes
    alone, and many small ones share a message."""
    parts: list[pa.Buffer] = []
    size = rows = 0
    for batch in batches:
        buf = batch.serialize()
        parts.append(buf)
        size += buf.size
        rows += batch.num_rows
        if size >= target_bytes:
            yield encode_arrow_chunk(parts), rows
            parts, size, rows = [], 0, 0
    if parts:
        yield encode_arrow_chunk(parts), rows
