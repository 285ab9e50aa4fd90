"""A short connect-query-cancel churn (benchmarks/churn.py runs the long one): every
cycle's query is answered, and the gateway's and connector's asyncio tasks, threads and
file descriptors come back to their baseline afterwards (asyncio's default executor
may only have grown up to its cap)."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.churn import COUNTS, EXECUTOR_CAP, quiet, run, settled, start
from tests.system.harness import Deployment

pytestmark = pytest.mark.system
CYCLES = 600


def test_connect_query_cancel_churn_returns_to_baseline(deployment: Deployment) -> None:
    gateway, connector = start(deployment, rows=200_000)
    urls = [f"{deployment.ws_url}/stream/{deployment.session('acme')}" for _ in range(8)]
    asyncio.run(run(urls, 100))  # warm-up: imports, allocator arenas
    base = {p.name: quiet(p) for p in (gateway, connector)}
    churn = asyncio.run(run(urls, CYCLES))
    # Every cycle ended: vanished, or its query answered (cancelled, or over just before).
    assert churn.cycles == CYCLES
    assert set(churn.ends) <= {"vanished", "CANCELLED", "end"}, churn.ends
    assert churn.ends["vanished"] == CYCLES // 3 and churn.ends["CANCELLED"] > 0, churn.ends
    # The DoGet of a query cancelled before it arrived is told so quietly, never logged
    # as the unknown call id a guessing connector would send.
    assert "code=UNKNOWN_CALL" not in gateway.text()
    for proc in (gateway, connector):
        after = settled(proc, base[proc.name], 60)
        print(f"\n{proc.name}: before {base[proc.name]}, after {CYCLES} cycles {after}")
        for key in COUNTS:
            assert after[key] <= base[proc.name][key], f"{proc.name} {key}: {base[proc.name]} -> {after}"
        assert after["executor_threads"] <= EXECUTOR_CAP, after
        grown_mib = (after["rss_kib"] - base[proc.name]["rss_kib"]) / 1024
        assert grown_mib < 64, f"{proc.name} RSS grew {grown_mib:.1f} MiB"
