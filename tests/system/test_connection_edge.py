"""Every port of a real gateway bounds what a connection that has not authenticated yet may
hold and for how long: oversized request heads are answered (431, 414, 400) and closed,
every request on a kept-alive connection has the deadline, the number of such connections
is capped (the oldest makes room), and the tunnel and data ports drop a connection that
does not finish its TLS handshake. With the process's file descriptors held low, a flood
of strangers leaves /healthz and a real session working."""

from __future__ import annotations

import base64
import os
import socket
import time
import urllib.request
from contextlib import ExitStack

import pytest
from saeta.client import Client

from tests.system.harness import Deployment, Proc, wait_for

pytestmark = pytest.mark.system
DEADLINE = 1.0  # websocket.handshake_seconds of these gateways


def _upgrade(path: str, *headers: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(port: int, request: bytes, seconds: float = 20) -> tuple[bytes, bool]:
    """What the gateway answers ``request`` with, and whether it then closed the connection."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        sock.settimeout(seconds)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except TimeoutError:
            return got, False
        except ConnectionResetError:
            pass
        return got, True


def _closed_by_peer_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


@pytest.fixture
def gateway(deployment: Deployment) -> tuple[Deployment, Proc]:
    deployment.start_control_plane()
    gw = deployment.start_gateway(websocket={"handshake_seconds": DEADLINE})
    return deployment, gw


def test_oversized_request_heads_are_answered_and_closed(gateway: tuple[Deployment, Proc]) -> None:
    dep, gw = gateway
    stream = f"/stream/{dep.session('acme')}"
    cases = [
        (_upgrade(stream, "Cookie: c=" + "x" * 9000), b"HTTP/1.1 431"),  # one header over 8 KiB
        (_upgrade(stream + "?" + "q" * 9000), b"HTTP/1.1 414"),  # the request line
        (_upgrade(stream, *[f"X-Pad-{i}: y" for i in range(200)]), b"HTTP/1.1 431"),  # too many headers
        (_upgrade(stream, *[f"X-Pad-{i}: {'y' * 900}" for i in range(20)]), b"HTTP/1.1 431"),  # head > 16 KiB
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"z" * 20000 + b"\r\n\r\n", b"HTTP/1.1 431"),
        (_upgrade(stream, "Bad header line"), b"HTTP/1.1 400"),  # malformed
    ]
    for request, status in cases:
        answer, closed = _answer(dep.http_port, request)
        assert answer.startswith(status) and closed, (request[:60], answer[:60], closed)
    # The same session, with headers of a sane size, is served.
    with Client.connect(dep.ws_url, dep.session("acme")) as client:
        with pytest.raises(Exception, match="CONNECTOR_OFFLINE"):
            client.list()
    assert "code=BAD_HANDSHAKE" in gw.text()


def test_every_request_on_a_kept_alive_connection_has_the_deadline(gateway: tuple[Deployment, Proc]) -> None:
    dep, gw = gateway
    for second in (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", dep.http_port)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(10)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            # A second request trickled, a byte every 0.3 s (each byte restarts uvicorn's
            # keep-alive timer): closed once the deadline passes, long before it is done.
            started = time.monotonic()
            sock.settimeout(0.3)
            closed = False
            for byte in (second + b"x" * 200)[:200]:
                try:
                    sock.send(bytes([byte]))
                    if sock.recv(4096) == b"":
                        closed = True
                        break
                except TimeoutError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
            waited = time.monotonic() - started
            assert closed and waited < 30, (second[:20], waited)
    assert "code=HANDSHAKE_TIMEOUT" in gw.text()


def _fds(proc: Proc) -> int:
    return len(os.listdir(f"/proc/{proc.popen.pid}/fd"))


def test_strangers_cannot_take_every_file_descriptor(deployment: Deployment) -> None:
    """Under a limit of 600 open files (the cap becomes 150), 700 connections that never
    send a whole request: the gateway's descriptors stay bounded, the oldest strangers are
    dropped, and /healthz and a real session are served all along."""
    deployment.start_control_plane()
    (deployment.root / "data").mkdir()
    (deployment.root / "data" / "v.csv").write_text("id\n1\n2\n3\n")
    # A long deadline: here only the cap can free the descriptors.
    gw = deployment.start_gateway(websocket={"handshake_seconds": 120}, max_files=600)
    deployment.start_connector("acme", {"v": {"type": "csv", "path": "data/v.csv"}})
    assert "lowered to 150" in gw.text()
    session = deployment.session("acme")
    base = _fds(gw)
    with ExitStack() as stack:
        socks = []
        for _ in range(700):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", deployment.http_port)))
            sock.sendall(b"GET /stream/x HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finishes its head
            socks.append(sock)
        wait_for(lambda: _fds(gw) - base <= 150 + 10, 30, "the gateway to drop the oldest strangers")
        held = _fds(gw) - base
        with urllib.request.urlopen(f"http://127.0.0.1:{deployment.http_port}/healthz", timeout=10) as resp:
            assert resp.read() == b"ok"
        with Client.connect(deployment.ws_url, session) as client:
            assert client.query("v").num_rows == 3
        dropped = sum(_closed_by_peer_within(s, 0.01) for s in socks[:100])
    print(f"\n700 strangers under a 600-file limit: the gateway held {held} more descriptors")
    assert dropped == 100  # the oldest were dropped for the newer ones
    assert "code=TOO_MANY_UNAUTHENTICATED" in gw.text()


@pytest.mark.parametrize("port", ["grpc", "data"])
def test_tunnel_ports_drop_a_connection_that_never_finishes_its_handshake(
    gateway: tuple[Deployment, Proc], port: str
) -> None:
    dep, _ = gateway
    number = dep.grpc_port if port == "grpc" else dep.data_port
    with socket.create_connection(("127.0.0.1", number)) as idle:
        # The harness's gateways: timeouts.connect_seconds = 5; grpc's own default is 120 s.
        started = time.monotonic()
        assert _closed_by_peer_within(idle, 60)
        waited = time.monotonic() - started
    print(f"\n{port} port: an idle stranger was dropped after {waited:.1f} s")
    assert waited < 30
