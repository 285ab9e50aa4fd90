"""One user cannot stall their tenant or take the gateway's memory: the attack that did
(one session, four sockets, sixteen queries each on a 16-partition dataset, nothing read)
now holds at most the session's share of the connector's data calls, bounded memory, and
another user of the same tenant gets a whole answer beside it. benchmarks/one_user.py
measures the same attack with and without the limits."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from benchmarks.one_user import MiB, attack, other_user, start
from benchmarks.procstat import rss_bytes, settled_rss
from tests.system.harness import BIG_FILE_ROWS, Deployment

pytestmark = pytest.mark.system
PARTITIONS_PER_SESSION = 16  # the gateway's default limits.max_partitions_per_session
# Measured (benchmarks/stuck_sessions.py): about 8 MiB per stuck data call in the gateway
# and 15 in the connector. Without the limits this attack held 256 calls (2.5 and 4.8 GB).
PER_CALL_MIB = {"gateway": 24, "connector": 48}
CONSTANT_MIB = {"gateway": 64, "connector": 96}


def test_one_session_cannot_stall_its_tenant_or_take_the_memory(deployment: Deployment) -> None:
    gateway, connector = start(deployment)
    pids = {"gateway": gateway.popen.pid, "connector": connector.popen.pid}
    attacker = f"{deployment.ws_url}/stream/{deployment.session('acme', user='attacker')}"
    victim = f"{deployment.ws_url}/stream/{deployment.session('acme', user='victim')}"

    async def main() -> tuple[dict[str, float], int, float]:
        await other_user(victim)  # warm-up
        base = {n: rss_bytes(p) for n, p in pids.items()}
        async with AsyncExitStack() as stack:
            assert await attack(stack, attacker, sockets=4, queries=16) == 4
            held = await settled_rss(pids)
            rows, seconds = await other_user(victim)
        return {n: (held[n] - base[n]) / MiB for n in pids}, rows, seconds

    grown, rows, seconds = asyncio.run(main())
    print(
        f"\none session, 4 sockets x 16 queries read nothing: gateway +{grown['gateway']:.0f} MiB, connector "
        f"+{grown['connector']:.0f} MiB; another user read {rows:,} rows in {seconds:.2f} s beside it"
    )
    assert rows == BIG_FILE_ROWS  # whole, not TIMEOUT
    for name in pids:
        bound = PARTITIONS_PER_SESSION * PER_CALL_MIB[name] + CONSTANT_MIB[name]
        assert grown[name] < bound, f"{name} grew {grown[name]:.0f} MiB (bound {bound})"
