"""CPU time and memory of other processes, read from /proc (Linux)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


@contextmanager
def peak_rss(pids: dict[str, int], every: float = 0.02) -> Iterator[dict[str, tuple[int, int]]]:
    """Samples each process's RSS every ``every`` seconds while the block runs; the dict
    it yields holds (RSS on entry, peak RSS) by name once the block is over."""
    seen = {name: [rss_bytes(pid)] * 2 for name, pid in pids.items()}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every):
            for name, pid in pids.items():
                seen[name][1] = max(seen[name][1], rss_bytes(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result: dict[str, tuple[int, int]] = {}
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        result.update({name: (base, peak) for name, (base, peak) in seen.items()})


async def settled_rss(pids: dict[str, int], seconds: float = 1.0, most: int = 60) -> dict[str, int]:
    """Each process's RSS once none has grown by a MiB over ``seconds`` (buffers are full,
    or memory is back), sampled at most ``most`` times."""
    last = {n: rss_bytes(p) for n, p in pids.items()}
    for _ in range(most):
        await asyncio.sleep(seconds)
        now = {n: rss_bytes(p) for n, p in pids.items()}
        if all(abs(now[n] - last[n]) < 1024 * 1024 for n in pids):
            return now
        last = now
    return last
