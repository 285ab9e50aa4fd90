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
    batches: Iterable[pa.RecordBatch | Flush], target_bytes: int, max_bytes: int = 0, codec: str = ""
) -> Iterator[tuple[bytes, int]]:
    """Yields (serialized ArrowChunk, rows) with whole batches, about ``target_bytes``
    each: a group closes once it reaches the target, so a single large batch still goes
    alone, and many small ones share a message. With ``max_bytes`` (the gateway's
    DoGetRequest.max_chunk_bytes; 0 = none) no message's data is larger: groups close
    before it, and larger batches go as row slices that fit (a single row larger than it
    goes alone, and the gateway refuses it). A Flush goes out as is, with 0 rows.

    With ``codec`` ("lz4" or "zstd", one the gateway accepted on this call) the record
    batches' bodies are compressed (compressed_messages)."""
    if codec:
        yield from compressed_messages(batches, target_bytes, max_bytes, codec)
        return
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


def compressed_messages(
    batches: Iterable[pa.RecordBatch | Flush], target_bytes: int, max_bytes: int, codec: str
) -> Iterator[tuple[bytes, int]]:
    """chunk_messages with each batch's body compressed by ``codec``: batches grouped while
    their uncompressed buffers stay under about ``target_bytes`` (and each batch sliced to
    ``max_bytes`` uncompressed, so that what the gateway decompresses fits a browser frame
    as an uncompressed message would), each group written by one IPC stream writer into one
    buffer: the bodies compressed there, no other copy before the join."""
    options = pa.ipc.IpcWriteOptions(compression=codec)
    group: list[pa.RecordBatch] = []
    size = rows = 0
    for batch in batches:
        if isinstance(batch, Flush):
            if group:
                yield _compressed(group, options), rows
                group, size, rows = [], 0, 0
            yield batch.message, 0
            continue
        for piece in _slices(batch, max_bytes):
            piece_size = piece.nbytes  # what the slice references, not its parent's buffers
            if max_bytes > 0 and group and size + piece_size > max_bytes:
                yield _compressed(group, options), rows
                group, size, rows = [], 0, 0
            group.append(piece)
            size += piece_size
            rows += piece.num_rows
            if size >= target_bytes:
                yield _compressed(group, options), rows
                group, size, rows = [], 0, 0
    if group:
        yield _compressed(group, options), rows


def _slices(batch: pa.RecordBatch, max_bytes: int) -> Iterator[pa.RecordBatch]:
    """``batch`` as row slices of at most about ``max_bytes`` of buffers (0: whole), sized
    by ``nbytes``: the ranges a slice references (get_total_buffer_size counts a slice's
    parent buffers whole, and every slice would look as large as the batch)."""
    size = batch.nbytes
    if max_bytes <= 0 or size <= max_bytes or batch.num_rows <= 1:
        yield batch
        return
    pieces = max(2, -(-size * 10 // (max_bytes * 9)))
    step = -(-batch.num_rows // pieces)
    for start in range(0, batch.num_rows, step):
        yield from _slices(batch.slice(start, step), max_bytes)


def _compressed(group: list[pa.RecordBatch], options: pa.ipc.IpcWriteOptions) -> bytes:
    """One ArrowChunk of ``group``'s record batch messages, bodies compressed: written as
    an IPC stream, less its schema message and its end-of-stream marker."""
    schema = group[0].schema
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=options) as writer:
        for batch in group:
            writer.write_batch(batch)
    stream = sink.getvalue()
    head = _schema_bytes(schema, options)
    return encode_arrow_chunk([memoryview(stream)[head : stream.size - len(EOS)]])


EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def _schema_bytes(schema: pa.Schema, options: pa.ipc.IpcWriteOptions) -> int:
    """How many bytes a stream writer spends on ``schema`` before the first batch."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=options):
        pass
    return int(sink.getvalue().size) - len(EOS)


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
