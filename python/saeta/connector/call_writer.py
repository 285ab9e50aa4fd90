"""What the connector writes to a DoGet call: a source's blocking batches read on a thread
of their own, written while holding a read slot only while the source works; and a
subscription's call, the snapshot then each poll's new rows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from saeta.connector.chunks import Flush
from saeta.connector.sources.base import Follower, Mark
from saeta.v1 import tunnel_pb2 as pb


class BlockingReader:
    """Runs a blocking iterator on its own thread, one item per await, and closes it on
    that same thread (a generator cannot be closed while another thread runs it)."""

    def __init__(self, it: Iterator[tuple[bytes, int]]) -> None:
        self._it = it
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="saeta-read")
        self._closed = False

    async def next(self) -> tuple[bytes, int] | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, next, self._it, None)

    def close(self) -> None:
        """Closes the iterator on its thread; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self._it, "close", None)
        if close is not None:
            self._pool.submit(close)
        self._pool.shutdown(wait=False)


async def write_all(call: Any, reader: BlockingReader, slots: asyncio.Semaphore) -> tuple[int, int]:
    """Writes every message ``reader`` gives to the data call; (rows, bytes) written.
    A read slot is held while the source makes the next message, never while a write
    waits for the gateway: a browser that reads slowly, or not at all, holds back its own
    query only, not the connector's other queries."""
    rows = nbytes = 0
    while True:
        async with slots:
            item = await reader.next()
        if item is None:
            break
        message, n = item
        await call.write(message)
        rows += n
        nbytes += len(message)
    return rows, nbytes


def resume_message(mark: Mark) -> bytes:
    point = pb.ResumePoint(cursor=mark.cursor or b"", skip=mark.skip)
    return pb.ArrowChunk(resume_at=point).SerializeToString()


def marked(follower: Follower, batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch | Flush]:
    """``batches`` with the follower's resume points among them, when it records marks."""
    if not follower.marks.on:
        return batches
    return (Flush(resume_message(b)) if isinstance(b, Mark) else b for b in follower.marks.interleave(batches))


async def write_followed(
    call: Any,
    follower: Follower,
    encode: Callable[[Iterable[pa.RecordBatch | Flush]], Iterator[tuple[bytes, int]]],
    slots: asyncio.Semaphore,
    snapshot_done: Callable[[int], None],
) -> None:
    """A subscription's data call: the snapshot (then ``snapshot_done`` with its rows),
    then each poll's new rows, until the call ends or the source fails. Every write waits
    for the gateway's flow control, so a slow browser slows the polls instead of filling
    memory. With ``follower.marks.on``, a resume point goes before each range's rows."""
    reader = BlockingReader(encode(marked(follower, follower.snapshot())))
    try:
        rows, _ = await write_all(call, reader, slots)
    finally:
        reader.close()
    snapshot_done(rows)

    def poll() -> tuple[list[bytes], bool]:  # on a worker thread: reading and encoding
        batches, more = follower.poll()
        return [message for message, _ in encode(marked(follower, batches))], more

    while True:
        messages, more = await asyncio.to_thread(poll)
        for message in messages:
            await call.write(message)
        if not more:
            await asyncio.sleep(follower.poll_seconds)
