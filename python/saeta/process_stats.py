"""What a process holds right now (asyncio tasks, threads, open file descriptors, RSS),
logged as one line on SIGUSR1 so that an operator, or a churn benchmark, can check that a
long-running gateway or connector returns to its baseline."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import threading
from pathlib import Path

log = logging.getLogger("saeta.process")
STATS_SIGNAL = getattr(signal, "SIGUSR1", None)  # not on Windows


def snapshot() -> dict[str, int]:
    """Counts for the running event loop's process; fds and RSS where /proc has them.
    ``executor_threads`` are the threads of asyncio's default executor (``asyncio_N``):
    started on demand up to its cap and then kept, so they are counted apart;
    ``py_objects`` counts what the garbage collector tracks and ``arrow_kib`` what Arrow's
    memory pool holds, to tell a leak of Python objects or of buffers from the allocator's
    own growth in RSS."""
    threads = threading.enumerate()
    stats = {
        "tasks": len(asyncio.all_tasks()),
        "threads": len(threads),
        "executor_threads": sum(t.name.startswith("asyncio_") for t in threads),
    }
    stats["py_objects"] = len(gc.get_objects())  # objects the collector tracks: a leak of Python objects grows it
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        stats["arrow_kib"] = arrow.total_allocated_bytes() // 1024
    proc = Path("/proc/self")
    if proc.is_dir():
        stats["fds"] = len(os.listdir(proc / "fd"))
        stats["rss_kib"] = int((proc / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    return stats


def log_snapshot() -> None:
    log.info("process stats %s", " ".join(f"{k}={v}" for k, v in snapshot().items()))


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Logs a snapshot on each SIGUSR1 (where the platform has it)."""
    if STATS_SIGNAL is not None:
        loop.add_signal_handler(STATS_SIGNAL, log_snapshot)
