"""Arrow IPC payloads cut to the browser's frame size (``websocket.max_frame_bytes``).

A payload is whole encapsulated IPC record batch messages (the relay framed them), and
every browser frame holds whole messages too (docs/protocol.md), so a client can decode
frame by frame. Messages are grouped into pieces of at most ``limit`` bytes; a message
larger than that is its batch decoded (zero copy) and re-encoded as row slices that fit.
A single row larger than the limit cannot be sent: FrameTooLarge says so. Connectors
slice their batches with ``fitting_batches`` too.

Connectors told the limit (DoGetRequest.max_chunk_bytes) send messages that already fit,
so the common case is one length check and the payload as it came."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from saeta.errors import QueryFailed


class FrameTooLarge(QueryFailed):
    """One row of the data is larger than the browser's frame limit."""


def split_payload(payload: Any, schema: pa.Schema, limit: int) -> Iterator[Any]:
    """``payload``'s messages regrouped into pieces of at most ``limit`` bytes each, in
    order; their concatenation is an IPC stream body with the same rows."""
    if len(payload) <= limit:
        yield payload
        return
    group: list[pa.Buffer] = []
    size = 0
    for message in _messages(pa.py_buffer(payload)):
        for part in _fitting(message, schema, limit):
            if size + part.size > limit and group:
                yield _joined(group)
                group, size = [], 0
            group.append(part)
            size += part.size
    if group:
        yield _joined(group)


def _messages(buf: pa.Buffer) -> Iterator[pa.ipc.Message]:
    reader = pa.ipc.MessageReader.open_stream(buf)
    while True:
        try:
            yield reader.read_next_message()
        except StopIteration:
            return


def _fitting(message: pa.ipc.Message, schema: pa.Schema, limit: int) -> Iterator[pa.Buffer]:
    """``message`` as encapsulated bytes, or its batch as slices that each fit."""
    whole = message.serialize()
    if whole.size <= limit:
        yield whole
        return
    for _, encoded in fitting_batches(pa.ipc.read_record_batch(message, schema), limit):
        if encoded.size > limit:
            raise FrameTooLarge(
                f"a row of {encoded.size} bytes of Arrow does not fit in a browser frame "
                f"({limit} bytes of Arrow at most: the gateway's websocket.max_frame_bytes)"
            )
        yield encoded


def fitting_batches(batch: pa.RecordBatch, limit: int) -> Iterator[tuple[pa.RecordBatch, pa.Buffer]]:
    """``batch`` as row slices whose encapsulated messages (given with each) are at most
    ``limit`` bytes; a single row that is larger comes alone, over the limit."""
    encoded = batch.serialize()
    if encoded.size <= limit or batch.num_rows <= 1:
        yield batch, encoded
        return
    # Rows are not all the same size (strings): aim below the limit, cut again what misses.
    pieces = max(2, -(-encoded.size * 10 // (limit * 9)))
    step = -(-batch.num_rows // pieces)
    for start in range(0, batch.num_rows, step):
        yield from fitting_batches(batch.slice(start, step), limit)


def _joined(parts: list[pa.Buffer]) -> memoryview | bytes:
    if len(parts) == 1:
        return memoryview(parts[0])
    return b"".join(parts)
