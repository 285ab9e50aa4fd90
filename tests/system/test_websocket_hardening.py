"""The WebSocket edge of a real gateway: Origin allowlist before the upgrade, the deadline
for connections that never send a request, ping/pong for peers that vanish, and the
dashboard's page headers."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.system.harness import Deployment

pytestmark = pytest.mark.system


@pytest.fixture
def gateway(deployment: Deployment) -> Deployment:
    deployment.start_control_plane()
    deployment.start_gateway(
        websocket={"handshake_seconds": 1, "ping_interval_seconds": 0.5, "ping_timeout_seconds": 1}
    )
    return deployment


def _handshake_status(dep: Deployment, origin: str | None) -> int:
    async def main() -> int:
        headers = {"Origin": origin} if origin else {}
        try:
            async with connect(
                f"{dep.ws_url}/stream/{dep.session('acme')}", compression=None, additional_headers=headers, origin=None
            ):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    return asyncio.run(main())


def test_origin_allowlist_defaults_to_the_gateways_own_origin(gateway: Deployment) -> None:
    own = f"http://127.0.0.1:{gateway.http_port}"
    assert _handshake_status(gateway, own) == 101
    assert _handshake_status(gateway, None) == 101  # not a browser
    for foreign in (
        "http://evil.example",
        f"http://127.0.0.1:{gateway.http_port + 1}",
        "null",
        f"https://127.0.0.1:{gateway.http_port}",
    ):
        assert _handshake_status(gateway, foreign) == 403, foreign
    assert "socket refused code=ORIGIN_REFUSED" in gateway.procs[1].text()


def _rebound_status(dep: Deployment, name: str) -> int:
    """A handshake as a DNS-rebinding page sends it: to the gateway's address, under the
    page's own name in both Host and Origin (its name now resolves to the gateway)."""

    async def main() -> int:
        uri = f"ws://{name}:{dep.http_port}/stream/{dep.session('acme')}"
        try:
            async with connect(
                uri, compression=None, origin=f"http://{name}:{dep.http_port}", host="127.0.0.1", port=dep.http_port
            ):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    return asyncio.run(main())


def test_a_rebound_host_is_not_the_gateways_own_origin(deployment: Deployment) -> None:
    deployment.start_control_plane()
    deployment.start_gateway()
    assert _rebound_status(deployment, "evil.example") == 403
    assert "socket refused code=ORIGIN_REFUSED origin='http://evil.example:" in deployment.procs[1].text()
    assert _rebound_status(deployment, "localhost") == 101
    # A name the operator gives the gateway (allowed_hosts) is its own.
    deployment.procs[1].stop()
    deployment.procs.pop(1)
    deployment.start_gateway(allowed_hosts=["tableros.example.com"])
    assert _rebound_status(deployment, "tableros.example.com") == 101
    assert _rebound_status(deployment, "evil.example") == 403


def test_configured_origins_are_matched_exactly(deployment: Deployment) -> None:
    deployment.start_control_plane()
    deployment.start_gateway(allowed_origins=["https://tableros.example.com"])
    assert _handshake_status(deployment, "https://tableros.example.com") == 101
    assert _handshake_status(deployment, "https://tableros.example.com.evil.io") == 403
    assert _handshake_status(deployment, f"http://127.0.0.1:{deployment.http_port}") == 403


def _closed_by_peer_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if sock.recv(65536) == b"":
                return True
    except (TimeoutError, ConnectionResetError):
        return False
    return False


def test_connection_that_sends_no_request_is_closed(gateway: Deployment) -> None:
    with socket.create_connection(("127.0.0.1", gateway.http_port)) as idle:
        assert _closed_by_peer_within(idle, 20)
    with socket.create_connection(("127.0.0.1", gateway.http_port)) as slow:
        slow.sendall(b"GET /stream/x HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finishes its headers
        assert _closed_by_peer_within(slow, 20)
    assert "code=HANDSHAKE_TIMEOUT" in gateway.procs[1].text()


def test_peer_that_stops_answering_pings_is_closed(gateway: Deployment) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", gateway.http_port)) as sock:
        sock.sendall(
            (
                f"GET /stream/{gateway.session('acme')} HTTP/1.1\r\nHost: 127.0.0.1:{gateway.http_port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        sock.settimeout(10)
        assert sock.recv(4096).startswith(b"HTTP/1.1 101")
        # A half-open peer: it reads (pings arrive) but never answers them.
        assert _closed_by_peer_within(sock, 30)


def test_dashboard_is_served_with_strict_headers(gateway: Deployment) -> None:
    for path in ("/", "/dashboard"):
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway.http_port}{path}", timeout=10) as resp:
            body = resp.read().decode()
            assert resp.status == 200
            assert "static/dashboard.js" in body
            assert resp.headers["Referrer-Policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
    for asset in ("dashboard.js", "saeta-client.js", "dashboard.css"):
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway.http_port}/static/{asset}", timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith(("text/javascript", "application/javascript", "text/css"))
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert len(resp.read()) > 1_000
