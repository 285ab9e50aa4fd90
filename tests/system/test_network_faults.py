"""A connector's network stalled (half-open) or reset mid-query, through a TCP proxy of the
tests' own: the browser gets CONNECTOR_OFFLINE within the heartbeat bound instead of a
hang, the connector reconnects by itself once the network is back, and the next query
works. The detection time is printed (-s) for the record."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from saeta.client import AsyncClient, ServerError

from tests.system.harness import BIG_ROWS, Deployment, Proc, big_dataset, wait_for
from tests.system.tcp_proxy import TcpProxy

pytestmark = pytest.mark.system
HEARTBEAT_SECONDS = 2  # the harness's gateway: a tunnel silent for 3 intervals + 5 s is dropped


@pytest.fixture
def proxied(deployment: Deployment) -> Iterator[tuple[Deployment, Proc, TcpProxy]]:
    deployment.start_control_plane()
    # DoGet on the tunnel's own port, so all of the connector's traffic crosses the proxy.
    deployment.start_gateway(data_port=None)
    big = big_dataset(deployment.root)
    proxy = TcpProxy(("127.0.0.1", deployment.grpc_port)).start()
    try:
        connector = deployment.start_connector("acme", {"big": big}, via_port=proxy.port, chunk_bytes=65536)
        yield deployment, connector, proxy
    finally:
        proxy.stop()


async def _query_until_fault(deployment: Deployment, fault: object) -> tuple[str, float, int]:
    async with await AsyncClient.connect(deployment.ws_url, deployment.session("acme")) as client:
        rows = 0
        faulted_at = 0.0
        with pytest.raises(ServerError) as err:
            async for batch in client.stream("big"):
                rows += batch.num_rows
                if rows >= 8192 and not faulted_at:
                    fault()  # type: ignore[operator]
                    faulted_at = time.monotonic()
        return err.value.code, time.monotonic() - faulted_at, rows


@pytest.mark.parametrize("fault", ["stall", "reset"])
def test_a_cut_network_gives_connector_offline_then_recovers(
    proxied: tuple[Deployment, Proc, TcpProxy], fault: str
) -> None:
    deployment, connector, proxy = proxied
    accepted = proxy.accepted
    code, seconds, rows = asyncio.run(_query_until_fault(deployment, getattr(proxy, fault)))
    print(f"\n{fault}: CONNECTOR_OFFLINE after {seconds:.2f} s ({rows:,} rows relayed)")
    assert code == "CONNECTOR_OFFLINE" and rows < BIG_ROWS
    # Slack for a loaded machine only: which mechanism ended it is checked below.
    assert seconds < 3 * HEARTBEAT_SECONDS + 5 + 20
    gateway = deployment.procs[1]
    if fault == "stall":  # (after a reset the connector is back at once: nothing to wait for)
        wait_for(lambda: deployment.connectors() == 0, 30, "the gateway to drop the tunnel")
        # The heartbeat watchdog, with its bound of 3 intervals + 5 s, dropped the silent
        # tunnel, not the query's timeout (TIMEOUT after timeouts.query_seconds) nor gRPC.
        silence = 3 * HEARTBEAT_SECONDS + 5
        assert "connector gone tenant=acme" in gateway.text()
        assert f"reason=no heartbeat for {silence}s" in gateway.text(), gateway.text()[-3000:]
    else:  # a reset ends the connection at once: no watchdog needed
        assert "reason=no heartbeat" not in gateway.text()
    proxy.resume()
    # The connector notices by itself (its own heartbeats go unanswered), dials again
    # through the proxy, and the next query works.
    wait_for(lambda: proxy.accepted > accepted and deployment.connectors() == 1, 60, "the connector to come back")

    async def again() -> int:
        async with await AsyncClient.connect(deployment.ws_url, deployment.session("acme")) as client:
            return (await client.query("big", ["id"], limit=1000)).num_rows

    assert asyncio.run(again()) == 1000
    assert connector.popen.poll() is None


def test_a_browser_that_vanishes_mid_query_is_dropped_and_its_query_stopped(deployment: Deployment) -> None:
    # Mid-query the socket is full of data the vanished browser never takes, so a ping
    # cannot even be written: the stall bound finds it (an idle one is found by ping:
    # tests/system/test_websocket_hardening.py).
    deployment.start_control_plane()
    gateway = deployment.start_gateway(
        websocket={"ping_interval_seconds": 1, "ping_timeout_seconds": 1, "stalled_seconds": 3}
    )
    connector = deployment.start_connector("acme", {"big": big_dataset(deployment.root)})
    proxy = TcpProxy(("127.0.0.1", deployment.http_port)).start()
    try:

        async def main() -> None:
            url = f"ws://127.0.0.1:{proxy.port}"
            client = await AsyncClient.connect(url, deployment.session("acme"), ping_interval=None)
            rows = 0
            async for batch in client.stream("big"):
                rows += batch.num_rows
                if rows >= 8192:
                    break  # the cancel never gets out: the network goes silent first
            proxy.stall()  # half-open: no FIN, no RST, nothing
            try:
                await asyncio.to_thread(
                    wait_for,
                    lambda: "code=CLIENT_TOO_SLOW" in gateway.text(),
                    60,
                    "the gateway to drop the silent socket",
                )
                await asyncio.to_thread(
                    wait_for,
                    lambda: "cancelled; source closed" in connector.text(),
                    60,
                    "the connector to stop reading",
                )
            finally:
                client.abandon()  # what is left of the vanished browser's side

        asyncio.run(main())
    finally:
        proxy.stop()
    # The premise held: the query was stopped, it never ran to its end.
    assert "query done" not in gateway.text()
