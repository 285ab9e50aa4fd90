"""Real-time revocation with real processes and a real redis-server: sessions pushed to
every gateway, resync after a Redis outage, fail-closed when stale, and certificate
revocation that cuts live tunnels without a restart.

Gateways here cache control-plane answers for 60 s, so only the push can explain a socket
closing within the tests' (generous) bounds."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from saeta import certs
from saeta.client import Client, ServerError
from saeta.demo_data import ventas
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.system.harness import Deployment, free_port, http_json, wait_for
from tests.system.redis_server import RedisServer

pytestmark = pytest.mark.system

CACHE = 60  # session_cache_seconds: far beyond every bound below


def _datasets(root: Path) -> dict[str, object]:
    data = root / "data"
    data.mkdir(exist_ok=True)
    pacsv.write_csv(ventas(2_000, seed=3).drop_columns(["fecha"]), data / "ventas.csv")
    return {"ventas": {"type": "csv", "path": "data/ventas.csv"}}


async def _closed_code(ws: ClientConnection, within: float) -> int | None:
    """Reads until the gateway closes the socket; its close code."""

    async def drain() -> None:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            pass

    await asyncio.wait_for(drain(), within)
    return ws.close_code


async def _open_code(url: str, within: float = 10) -> int | None:
    """Opens a socket and returns the close code if the gateway closes it at once, else None."""
    async with connect(url, compression=None) as ws:
        try:
            await asyncio.wait_for(ws.recv(), within)
        except ConnectionClosed:
            return ws.close_code
        except TimeoutError:
            return None
    return None


@pytest.fixture
def redis_deployment(deployment: Deployment, redis_server: RedisServer) -> Deployment:
    deployment.start_control_plane(redis_url=redis_server.url)
    deployment.start_gateway(redis_url=redis_server.url, session_cache_seconds=CACHE, revocation={"stale_seconds": 2})
    return deployment


def test_revocation_reaches_every_gateway_and_sticks(redis_deployment: Deployment, redis_server: RedisServer) -> None:
    dep = redis_deployment
    second_http = free_port()
    dep.start_gateway(
        name="gateway2",
        http_port=second_http,
        grpc_port=free_port(),
        redis_url=redis_server.url,
        session_cache_seconds=CACHE,
    )
    token = dep.session("acme")
    urls = [f"{dep.ws_url}/stream/{token}", f"ws://127.0.0.1:{second_http}/stream/{token}"]

    async def main() -> list[int | None]:
        sockets = [await connect(url, compression=None) for url in urls]
        await sockets[0].send('{"action":"list"}')  # proves the first one is up (no connector: an error frame)
        await sockets[0].recv()
        answer = await asyncio.to_thread(dep.revoke, token)
        assert answer["pushed"] is True
        return list(await asyncio.gather(*(_closed_code(ws, 10) for ws in sockets)))

    assert asyncio.run(main()) == [4003, 4003]
    for url in urls:  # and the id stays refused
        assert asyncio.run(_open_code(url)) == 4003
    assert "code=REVOCATION" not in dep.logs()


def test_missed_revocation_is_applied_on_resync_and_stale_state_fails_closed(
    redis_deployment: Deployment, redis_server: RedisServer
) -> None:
    dep = redis_deployment
    token = dep.session("acme")
    other = dep.session("acme", user="u2")
    admin = redis_server.client()

    async def main() -> None:
        ws = await connect(f"{dep.ws_url}/stream/{token}", compression=None)
        # Cut the gateway off Redis: password on, its connections killed; it cannot come back.
        admin.config_set("requirepass", "outage-password-0123")
        locked = redis_server.client("outage-password-0123")
        locked.client_kill_filter(_type="pubsub")
        locked.client_kill_filter(_type="normal", skipme=True)
        # Another control plane replica revokes meanwhile: the key is written, the push is lost.
        sid = _sid_of(token)
        locked.set(f"saeta:revoked:{sid}", "4102444800", exat=4102444800)
        # Past the stale bound, new sessions are refused with "try again later"...
        await asyncio.to_thread(wait_for, lambda: not _fresh(dep), 30, "revocation state to go stale")
        assert await _open_code(f"{dep.ws_url}/stream/{other}") == 1013
        # ...while the open socket stays: the revocation has not reached this gateway yet.
        assert not ws.close_code
        locked.config_set("requirepass", "")
        assert await _closed_code(ws, 15) == 4003  # the resync applied the missed revocation
        await asyncio.to_thread(wait_for, lambda: _fresh(dep), 30, "fresh revocation state")
        assert await _open_code(f"{dep.ws_url}/stream/{other}", within=1) is None  # accepted again

    asyncio.run(main())
    log = dep.procs[1].text()
    assert "code=REDIS_UNAVAILABLE" in log
    assert "revocation applied on resync" in log


def _fresh(dep: Deployment) -> bool:
    import urllib.error

    try:
        return bool(http_json(f"http://127.0.0.1:{dep.http_port}/readyz")["revocation"]["fresh"])
    except urllib.error.HTTPError:
        return False


def _sid_of(token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


def _revoke_cert(dep: Deployment, target: str, *extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "saeta", "certs", "revoke", target, "--dir", str(dep.certs), *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def test_certificate_revocation_cuts_the_live_tunnel_and_refuses_new_handshakes(deployment: Deployment) -> None:
    dep = deployment
    dep.start_control_plane()
    dep.start_gateway()
    datasets = _datasets(dep.root)
    dep.start_connector("acme", datasets)
    dep.start_connector("globex", datasets)
    with Client.connect(dep.ws_url, dep.session("acme")) as client:
        assert client.query("ventas").num_rows == 2_000

    out = _revoke_cert(dep, "acme")
    assert "revoked serial" in out
    wait_for(lambda: dep.connectors() == 1, 15, "the revoked tunnel to be cut")  # globex stays
    gateway_log = dep.procs[1].text()
    assert "tunnel cut code=CERT_REVOKED tenant=acme" in gateway_log
    with Client.connect(dep.ws_url, dep.session("acme")) as client, pytest.raises(ServerError) as err:
        client.query("ventas")
    assert err.value.code == "CONNECTOR_OFFLINE"
    # The connector keeps dialling and is refused at registration, with the reason.
    wait_for(lambda: "tunnel refused code=CERT_REVOKED tenant=acme" in dep.procs[1].text(), 15, "a refused handshake")
    with Client.connect(dep.ws_url, dep.session("globex")) as client:
        assert client.query("ventas").num_rows == 2_000
    # A new certificate for the tenant works again, without a gateway restart.
    certs.issue_client(dep.certs, "acme")
    wait_for(lambda: dep.connectors() == 2, 30, "acme back with its new certificate")


def test_certificate_revocation_pushed_through_redis(deployment: Deployment, redis_server: RedisServer) -> None:
    dep = deployment
    dep.start_control_plane(redis_url=redis_server.url)
    # This gateway cannot see the CA folder's CRL (another machine): only Redis can tell it.
    dep.start_gateway(
        redis_url=redis_server.url,
        tls={
            "ca_cert": "certs/ca.crt",
            "server_cert": "certs/server.crt",
            "server_key": "certs/server.key",
            "crl": str(dep.root / "elsewhere" / "crl.pem"),
        },
    )
    dep.start_connector("acme", _datasets(dep.root))
    out = _revoke_cert(dep, "acme", "--redis-url", redis_server.url)
    assert "pushed to every gateway" in out
    wait_for(lambda: dep.connectors() == 0, 15, "the revoked tunnel to be cut")
    assert http_json(f"http://127.0.0.1:{dep.http_port}/readyz")["revoked_certificates"] == 1


def test_forged_crl_is_ignored(deployment: Deployment, tmp_path: Path) -> None:
    dep = deployment
    dep.start_control_plane()
    dep.start_gateway()
    dep.start_connector("acme", _datasets(dep.root))
    rogue = tmp_path / "rogue"
    certs.init_ca(rogue)
    certs.issue_client(rogue, "acme")
    certs.revoke(rogue, "acme")
    (dep.certs / "crl.pem").write_bytes((rogue / "crl.pem").read_bytes())
    wait_for(lambda: "code=CRL_INVALID" in dep.procs[1].text(), 15, "the forged CRL to be refused")
    assert dep.connectors() == 1
