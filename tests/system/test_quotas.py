"""Quotas per tenant and per user, with real processes: a user past their queries a minute
is refused QUOTA_EXCEEDED with when to retry, over all their sessions, while another user
of the tenant is served; a tenant over its bytes a second is paced, never cut.
benchmarks/tenant_flood.py measures a flooding tenant's neighbour."""

from __future__ import annotations

import asyncio
import time

import pyarrow.parquet as pq
import pytest
from saeta.client import AsyncClient, ServerError
from saeta.demo_data import ventas

from tests.system.harness import Deployment

pytestmark = pytest.mark.system


def _serve(dep: Deployment, rows: int, **gateway: object) -> None:
    data = dep.root / "data"
    data.mkdir()
    pq.write_table(ventas(rows), data / "ventas.parquet")
    dep.start_control_plane()
    dep.start_gateway(**gateway)
    for tenant in ("acme", "globex"):
        dep.start_connector(tenant, {"ventas": {"type": "parquet", "path": "data/ventas.parquet"}})


def test_a_user_past_their_queries_a_minute_is_refused_with_when(deployment: Deployment) -> None:
    _serve(deployment, 1000, quotas={"queries_per_minute_per_user": 5})
    ana = [deployment.session("acme", user="ana") for _ in range(2)]
    bob = deployment.session("acme", user="bob")

    async def main() -> tuple[ServerError, ServerError, int]:
        async with (
            await AsyncClient.connect(deployment.ws_url, ana[0]) as first,
            await AsyncClient.connect(deployment.ws_url, ana[1]) as second,
            await AsyncClient.connect(deployment.ws_url, bob) as other,
        ):
            for client in (first, second, first, second, first):
                assert (await client.query("ventas", columns=["id"])).num_rows == 1000
            refused = []
            for client in (first, second):  # the quota is the user's, over their sessions
                with pytest.raises(ServerError) as err:
                    await client.query("ventas", columns=["id"])
                refused.append(err.value)
            rows = (await other.query("ventas", columns=["id"])).num_rows
            return refused[0], refused[1], rows

    one, two, bobs = asyncio.run(main())
    for err in (one, two):
        assert err.code == "QUOTA_EXCEEDED" and "5 queries a minute per user" in err.message
        # One query's token comes back every 12 s; the first five went within seconds.
        assert err.retry_after is not None and 0 < err.retry_after <= 12
    assert bobs == 1000
    assert "query refused code=QUOTA_EXCEEDED tenant=acme" in deployment.procs[1].text()


def test_a_tenant_over_its_bytes_a_second_is_paced_not_cut(deployment: Deployment) -> None:
    rate = 4_000_000
    _serve(deployment, 400_000, quotas={"bytes_per_second_per_tenant": rate})

    async def read(tenant: str) -> tuple[int, int, float]:
        async with await AsyncClient.connect(deployment.ws_url, deployment.session(tenant)) as client:
            started = time.monotonic()
            table = await client.query("ventas")
            # Arrow's buffers: at most what the IPC stream carried (it adds metadata and padding).
            return table.num_rows, table.nbytes, time.monotonic() - started

    async def main() -> list[tuple[int, int, float]]:
        return await asyncio.gather(read("acme"), read("acme"))

    (rows_a, bytes_a, secs_a), (rows_b, bytes_b, secs_b) = asyncio.run(main())
    assert rows_a == rows_b == 400_000  # nothing cut
    assert bytes_a + bytes_b > 4 * rate
    # Two readers of one tenant share its rate: past the one-second burst, the streams
    # cannot have gone faster than the rate, whatever the machine (a slower one is slower).
    assert max(secs_a, secs_b) >= (bytes_a + bytes_b - rate) / rate
    rows_g, _, _ = asyncio.run(read("globex"))
    assert rows_g == 400_000
