"""Memory given back to the system once it is free. glibc's malloc keeps what a burst
freed in its arenas (one per thread that allocated: the event loop, grpc's and the data
plane's threads), and Arrow's pool keeps its own, so after a burst of stuck queries a
gateway stayed at its peak RSS with nothing in use. ``malloc_trim(0)`` returns the free
pages of every arena, ``release_unused`` Arrow's. Where malloc is not glibc's, only
Arrow's pool is asked (docs/decisions.md, "Memory given back")."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger("saeta.memory")


def _glibc_trim() -> Callable[[], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)  # CDLL: the GIL is released during the call
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def call() -> int:
        return int(trim(0))

    return call


TRIM = _glibc_trim()
_transfers_ended = 0


def transfer_ended() -> None:
    """Called as a data call ends (the memory it held is free now): the next round trims."""
    global _transfers_ended
    _transfers_ended += 1


def give_back() -> None:
    """Arrow's pool (mimalloc in pyarrow's wheels) returns its unused pages, then glibc's
    malloc returns the free pages of every arena."""
    import pyarrow as pa  # (imported by then in both processes)

    pa.default_memory_pool().release_unused()
    if TRIM is not None:
        TRIM()


async def trim_while_running(every: float) -> None:
    """Every ``every`` seconds, gives memory back if data calls ended since the last round,
    and once more the round after: what a call held is freed a moment after it ends (its
    reader thread, grpc's buffers), sometimes after the first round. An idle process is not
    walked again and again. It runs on a thread: with a large heap it takes a while, and
    ctypes releases the GIL around malloc_trim."""
    if every <= 0:
        return
    seen = _transfers_ended
    rounds = 0
    while True:
        await asyncio.sleep(every)
        if _transfers_ended != seen:
            seen = _transfers_ended
            rounds = 2
        if rounds:
            rounds -= 1
            await asyncio.to_thread(give_back)
