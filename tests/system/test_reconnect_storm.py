"""Twenty connectors lose their gateway at once (a restart): each comes back by itself,
their reconnections spread out by the jittered backoff (tests/core/test_backoff.py proves
the jitter itself), and queries work again for every tenant."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from saeta.client import AsyncClient

from tests.system.harness import Deployment, wait_for

pytestmark = pytest.mark.system
CONNECTORS = 20
_RECONNECTING = re.compile(r"reconnecting in (\d+\.\d+)s")
_REGISTERED = re.compile(r"^(\S+ \S+) gateway INFO saeta.gateway.tunnel: connector registered tenant=(t\d+)")


def _registrations(text: str) -> dict[str, dt.datetime]:
    out = {}
    for line in text.splitlines():
        m = _REGISTERED.match(line)
        if m:
            out[m.group(2)] = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
    return out


def test_twenty_connectors_come_back_after_a_gateway_restart(deployment: Deployment) -> None:
    deployment.start_control_plane()
    first = deployment.start_gateway()
    tenants = [f"t{i:02d}" for i in range(CONNECTORS)]
    (deployment.root / "data").mkdir()
    (deployment.root / "data" / "x.csv").write_text("id\n1\n2\n")
    for tenant in tenants:
        cfg = deployment.connector_config(
            tenant, {"x": {"type": "csv", "path": "data/x.csv"}}, reconnect_delay=1.0, max_reconnect_delay=4.0
        )
        deployment.spawn(f"connector-{tenant}", "connector", "run", "--config", str(cfg))
    wait_for(lambda: deployment.connectors() == CONNECTORS, 120, "every connector to register")

    connectors = [p for p in deployment.procs if p.name.startswith("connector-")]
    logged = {p.name: len(p.text()) for p in connectors}
    first.stop()
    second = deployment.start_gateway()
    wait_for(lambda: deployment.connectors() == CONNECTORS, 120, "every connector to come back")
    times = sorted(_registrations(second.text()).values())
    assert len(times) == CONNECTORS
    spread = (times[-1] - times[0]).total_seconds()
    print(f"\n{CONNECTORS} connectors re-registered over {spread:.2f} s")
    assert spread > 0.1  # not in one step
    # What the jitter promises: each connector's first delay after the loss is its own
    # uniform draw in [reconnect_delay / 2, reconnect_delay] = [0.5, 1.0] s. Twenty draws
    # all within a quarter of a second of each other have a chance under 1 in 10,000.
    firsts = []
    for p in connectors:
        m = _RECONNECTING.search(p.text()[logged[p.name] :])
        assert m, p.name
        firsts.append(float(m.group(1)))
    assert all(0.5 <= d <= 1.0 for d in firsts), firsts
    assert max(firsts) - min(firsts) > 0.25 and len(set(firsts)) >= CONNECTORS - 3, firsts

    async def query(tenant: str) -> int:
        async with await AsyncClient.connect(deployment.ws_url, deployment.session(tenant)) as client:
            return (await client.query("x")).num_rows

    async def main() -> list[int]:
        return await asyncio.gather(*(query(t) for t in tenants))

    assert asyncio.run(main()) == [2] * CONNECTORS
