"""Peak memory is about sessions x a per-session amount + a constant, whatever the
dataset's size: eight sessions that read nothing, each with a query on a 4M-row dataset
(about 240 MB of Arrow each, 1.9 GB in all), leave the gateway and the connector holding
a few MiB per session, because flow control stops the source instead of buffering.
benchmarks/stuck_sessions.py measures the slope (docs/performance.md)."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.procstat import rss_bytes
from benchmarks.stuck_sessions import MiB, start, stuck, table, warm
from tests.system.harness import Deployment

pytestmark = pytest.mark.system
SESSIONS = 8
# Measured: about 3 MiB per stuck session in the gateway and 10 in the connector, after
# 30-50 MiB for the first (docs/performance.md). The bounds leave room for a noisy machine.
PER_SESSION_MIB = {"gateway": 8, "connector": 24}
CONSTANT_MIB = {"gateway": 64, "connector": 96}


def test_stuck_sessions_hold_a_bounded_amount_each_whatever_the_dataset_size(deployment: Deployment) -> None:
    gateway, connector = start(deployment, table(deployment.root), copies=4)
    pids = {"gateway": gateway.popen.pid, "connector": connector.popen.pid}
    url = f"{deployment.ws_url}/stream/{deployment.session('acme')}"
    asyncio.run(warm(url))
    base = {n: rss_bytes(p) for n, p in pids.items()}
    held, _ = asyncio.run(stuck(url, SESSIONS, pids))
    for name in pids:
        grown = (held[name] - base[name]) / MiB
        print(f"\n{name}: +{grown:.1f} MiB with {SESSIONS} stuck sessions")
        bound = SESSIONS * PER_SESSION_MIB[name] + CONSTANT_MIB[name]
        assert grown < bound, f"{name} grew {grown:.1f} MiB with {SESSIONS} stuck sessions (bound {bound})"
