"""The control plane killed, hung and back, with real processes: sessions the gateway has
checked keep working until their cache entry's time is up (never past their expiry), new
sessions are refused with the retryable close 1013 within the handshake bound, an open
session's queries meanwhile answer as before, and everything recovers by itself."""

from __future__ import annotations

import asyncio
import signal
import time

import pyarrow.parquet as pq
import pytest
from saeta.client import AsyncClient, SocketClosed
from saeta.demo_data import ventas

from tests.system.harness import Deployment, wait_for

pytestmark = pytest.mark.system


@pytest.fixture
def site(deployment: Deployment) -> Deployment:
    deployment.start_control_plane()
    # Checks cached for a minute; the handshake (session check included) bounded at 8 s.
    deployment.start_gateway(session_cache_seconds=60, websocket={"handshake_seconds": 8})
    data = deployment.root / "data"
    data.mkdir()
    pq.write_table(ventas(20_000), data / "v.parquet")
    deployment.start_connector("acme", {"v": {"type": "parquet", "path": "data/v.parquet"}})
    return deployment


async def _rows(client: AsyncClient) -> int:
    return (await client.query("v", ["id"])).num_rows


async def _refused_code(deployment: Deployment, session: str) -> int | None:
    client = await AsyncClient.connect(deployment.ws_url, session)
    closed = await asyncio.wait_for(client.wait_closed(), 30)
    await client.close()
    return closed.close_code


@pytest.mark.parametrize("fault", ["killed", "hung"])
def test_control_plane_down_or_hung(site: Deployment, fault: str) -> None:
    deployment = site
    cp = next(p for p in deployment.procs if p.name == "control-plane")
    known = deployment.session("acme")
    fresh = deployment.session("acme", user="u2")  # issued, never yet seen by the gateway

    async def main() -> None:
        async with await AsyncClient.connect(deployment.ws_url, known) as client:
            assert await _rows(client) == 20_000  # the gateway has now checked `known`
            if fault == "killed":
                cp.popen.send_signal(signal.SIGKILL)
                cp.popen.wait(10)
            else:
                cp.popen.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
            try:
                # The open session's queries go on while the check of a new one waits for a
                # control plane that does not answer (up to the 8 s handshake bound).
                refused = asyncio.ensure_future(_refused_code(deployment, fresh))
                await asyncio.sleep(0.2)  # the new socket's check is under way
                assert await _rows(client) == 20_000
                if fault == "hung":
                    assert not refused.done()  # answered while the hung check still waits
                assert await refused == 1013  # try again later
                # A new socket of the known session is still accepted from the cache.
                async with await AsyncClient.connect(deployment.ws_url, known) as again:
                    assert await _rows(again) == 20_000
            finally:
                if fault == "hung":
                    cp.popen.send_signal(signal.SIGCONT)

    asyncio.run(main())
    if fault == "killed":
        deployment.start_control_plane()
    # Back: the new session is accepted with no restart of anything else.
    wait_for(lambda: asyncio.run(_accepted(deployment, fresh)), 60, "new sessions to be accepted again")


async def _accepted(deployment: Deployment, session: str) -> bool:
    try:
        async with await AsyncClient.connect(deployment.ws_url, session) as client:
            return await _rows(client) == 20_000
    except (SocketClosed, OSError):
        return False


def test_a_cached_session_ends_at_its_expiry_while_the_control_plane_is_down(site: Deployment) -> None:
    """The cache (60 s here) never carries a session past its own expiry: with the control
    plane gone, its open socket answers until then and is closed with 4001 at it, and the
    same id is refused afterwards."""
    deployment = site
    cp = next(p for p in deployment.procs if p.name == "control-plane")
    issued = deployment.issue("acme", ttl=10)
    session, expires_at = str(issued["session_id"]), float(issued["expires_at"])

    async def main() -> None:
        async with await AsyncClient.connect(deployment.ws_url, session) as client:
            assert await _rows(client) == 20_000  # checked and cached
            cp.popen.send_signal(signal.SIGKILL)
            cp.popen.wait(10)
            if time.time() < expires_at - 1:
                assert await _rows(client) == 20_000  # still answered from the cache
            closed = await asyncio.wait_for(client.wait_closed(), expires_at - time.time() + 30)
            closed_at = time.time()
        assert closed.close_code == 4001, closed
        # Not before its expiry (the clock's whole second aside), and not long after.
        assert expires_at - 1 <= closed_at <= expires_at + 10, (closed_at, expires_at)
        assert await _refused_code(deployment, session) == 4001  # never from the cache again

    asyncio.run(main())
    gateway_log = next(p for p in deployment.procs if p.name == "gateway").text()
    assert "session no longer valid tenant=acme" in gateway_log and "token expired" in gateway_log


def test_readiness_follows_the_control_plane(site: Deployment) -> None:
    """A hung control plane (it accepts connections and answers nothing) makes the gateway
    not ready, saying why, and ready again once it answers: a load balancer then sends new
    sessions to gateways that can check them."""
    deployment = site
    cp = next(p for p in deployment.procs if p.name == "control-plane")
    assert deployment.readyz()[1]["control_plane"] == {"reachable": True}
    cp.popen.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: deployment.readyz()[0] == 503, 60, "the gateway to see the control plane hang")
        assert deployment.readyz()[1]["control_plane"] == {"reachable": False}
        assert deployment.readyz()[1]["connectors"] == 1  # everything else is fine
    finally:
        cp.popen.send_signal(signal.SIGCONT)
    wait_for(lambda: deployment.readyz()[0] == 200, 60, "the gateway to be ready again")
