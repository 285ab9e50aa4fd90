"""TLS for browsers (docs/deployment.md): the gateway serving https and wss itself, to
Debian's Chromium (the certificate pinned by its key, so it is checked, not ignored) and to
the Python client; its certificate renewed without a restart (SIGHUP, and the poll); and
the gateway behind a real TLS-terminating HAProxy, whose X-Forwarded-Proto makes the page's
https origin its own.

No asyncio in this module: Playwright's sync API keeps its own event loop on this thread."""

from __future__ import annotations

import base64
import hashlib
import shutil
import signal
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from saeta import certs
from saeta.client import Client
from websockets.exceptions import InvalidMessage, InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.system.chromium import launch
from tests.system.harness import Deployment, big_dataset, free_port, terminate, wait_for

pytestmark = pytest.mark.system
playwright_sync = pytest.importorskip("playwright.sync_api")  # a dev dependency: always there in CI
ROWS = 400_000  # big_dataset's one file


def web_certs(dep: Deployment) -> Path:
    """A CA of the browsers' (not the connectors' one) and a server certificate for
    localhost from it, in ROOT/web/."""
    web = dep.root / "web"
    certs.init_ca(web)
    return web


def start(dep: Deployment, **https: Any) -> Path:
    web = web_certs(dep)
    dep.start_control_plane()
    dep.web_ca = web / "ca.crt"
    dep.start_gateway(https={"cert": str(web / "server.crt"), "key": str(web / "server.key"), **https})
    dep.start_connector("acme", {"ventas": big_dataset(dep.root, "v.parquet") | {"path": "data/v.parquet"}})
    return web


def served_serial(dep: Deployment) -> int:
    """The serial of the certificate a new handshake is given (checked against the web CA)."""
    ctx = dep.web_context()
    assert ctx is not None
    with socket.create_connection(("127.0.0.1", dep.http_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def spki_pin(cert: Path) -> str:
    """Chromium's --ignore-certificate-errors-spki-list value for ``cert``."""
    key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_browser_and_python_client_over_https(deployment: Deployment) -> None:
    dep = deployment
    web = start(dep)
    session = dep.session("acme")
    # The Python client over wss, the certificate checked against the web CA.
    with Client.connect(dep.ws_url, session, ssl=dep.web_context()) as client:
        assert client.query("ventas").num_rows == ROWS
    # Every answer over https says HSTS.
    page = httpx.get(f"{dep.web_url()}/healthz", verify=dep.web_context())
    assert page.headers["strict-transport-security"] == "max-age=31536000"
    # The port speaks TLS only: a plain socket is not upgraded.
    with pytest.raises(InvalidMessage):  # the server's TLS alert is no HTTP answer
        ws_connect(f"ws://127.0.0.1:{dep.http_port}/stream/{session}", open_timeout=5).close()
    # Chromium, the certificate pinned by its key: a page over https, its socket over wss.
    with playwright_sync.sync_playwright() as p:
        chromium = launch(p, f"--ignore-certificate-errors-spki-list={spki_pin(web / 'server.crt')}")
        try:
            context = chromium.new_context(viewport={"width": 1500, "height": 1000})
            tab = context.new_page()
            answer = tab.goto(f"{dep.web_url()}/?session={session}")
            assert answer is not None and answer.status == 200
            assert answer.headers["strict-transport-security"] == "max-age=31536000"
            tab.wait_for_function("() => window.saeta && window.saeta.state === 'open'", timeout=60_000)
            panel = tab.locator("[data-testid=panel]").nth(0)
            panel.locator("[data-testid=dataset]").select_option("ventas")
            playwright_sync.expect(panel).to_have_attribute("data-state", "ready")
            panel.locator("[data-testid=limit]").fill("1000")
            panel.locator("[data-testid=run]").click()
            playwright_sync.expect(panel).to_have_attribute("data-state", "done", timeout=120_000)
            assert panel.get_attribute("data-rows") == "1000"
            assert tab.evaluate("window.location.protocol") == "https:"
            context.close()
        finally:
            chromium.close()
        # Without the pin the same Chromium refuses the page: the certificate really is checked.
        chromium = launch(p)
        try:
            tab = chromium.new_page()
            with pytest.raises(playwright_sync.Error, match="ERR_CERT_AUTHORITY_INVALID"):
                tab.goto(f"{dep.web_url()}/healthz")
        finally:
            chromium.close()


def test_a_renewed_certificate_is_served_without_a_restart(deployment: Deployment) -> None:
    dep = deployment
    web = start(dep, reload_seconds=3600)  # the poll is too slow to matter: SIGHUP reloads
    gateway = next(p for p in dep.procs if p.name == "gateway")
    first = served_serial(dep)
    session = dep.session("acme")
    with Client.connect(dep.ws_url, session, ssl=dep.web_context()) as client:
        assert client.query("ventas", limit=10).num_rows == 10
        certs.init_ca(web)  # a renewal: a fresh server certificate and key from the same CA
        gateway.popen.send_signal(signal.SIGHUP)
        wait_for(lambda: served_serial(dep) != first, 20, "the renewed certificate to be served")
        # The socket opened under the old certificate goes on; the process is the same one.
        assert client.query("ventas", limit=10).num_rows == 10
    assert gateway.popen.poll() is None
    assert "https certificate reloaded" in gateway.text()


def test_the_certificate_is_polled_and_a_broken_renewal_keeps_the_old_one(deployment: Deployment) -> None:
    dep = deployment
    web = start(dep, reload_seconds=0.5)
    gateway = next(p for p in dep.procs if p.name == "gateway")
    first = served_serial(dep)
    certs.init_ca(web)
    wait_for(lambda: served_serial(dep) != first, 20, "the renewed certificate to be served")
    second = served_serial(dep)
    # A key that is not the certificate's: refused, the renewed certificate still served.
    (web / "server.key").write_bytes((dep.certs / "server.key").read_bytes())
    wait_for(lambda: "code=HTTPS_RELOAD_FAILED" in gateway.text(), 20, "the broken renewal to be refused")
    assert served_serial(dep) == second
    with Client.connect(dep.ws_url, dep.session("acme"), ssl=dep.web_context()) as client:
        assert client.query("ventas", limit=5).num_rows == 5


DEPLOYMENT_DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"


def documented_haproxy(port: int, pem: Path, backend_port: int) -> str:
    """docs/deployment.md's HAProxy configuration, its port, file and backend swapped."""
    text = DEPLOYMENT_DOC.read_text()
    config = text.split("```haproxy\n", 1)[1].split("```", 1)[0]
    swaps = {"bind :443 ": f"bind 127.0.0.1:{port} ", "/etc/haproxy/saeta.pem": str(pem),
             "127.0.0.1:8081": f"127.0.0.1:{backend_port}"}  # fmt: skip
    for old, new in swaps.items():
        assert old in config, old
        config = config.replace(old, new)
    return config


class TlsHAProxy:
    """HAProxy terminating TLS for one gateway, configured as docs/deployment.md says."""

    def __init__(self, root: Path, pem: Path, backend_port: int) -> None:
        binary = shutil.which("haproxy")
        if binary is None:
            raise RuntimeError("haproxy is not installed: run `make setup` (it installs Debian's haproxy)")
        self.port = free_port()
        cfg = root / "haproxy-tls.cfg"
        cfg.write_text(documented_haproxy(self.port, pem, backend_port))
        self.log_path = root / "haproxy-tls.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen([binary, "-db", "-f", str(cfg)], stdout=self.log, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        terminate(self.proc)
        self.log.close()


def proxied_socket_refusal(url: str, port: int, session: str, ctx: ssl.SSLContext) -> int | None:
    """A browser-like handshake (Origin https://localhost:PORT) through the proxy: None
    when it becomes a socket (the own-origin check believed the proxy's scheme), else the
    HTTP status it was refused with."""
    try:
        with ws_connect(f"{url}/stream/{session}", ssl=ctx, origin=f"https://localhost:{port}", open_timeout=30):  # type: ignore[arg-type]
            return None
    except InvalidStatus as exc:
        return exc.response.status_code


@pytest.mark.parametrize("trusted", [True, False])
def test_behind_a_tls_terminating_proxy(deployment: Deployment, trusted: bool) -> None:
    dep = deployment
    web = web_certs(dep)
    pem = web / "haproxy.pem"
    pem.write_bytes((web / "server.crt").read_bytes() + (web / "server.key").read_bytes())
    dep.start_control_plane()
    # Not trusted: the proxy's address is not in forwarded_allow_ips, so its headers are not believed.
    dep.start_gateway(**({} if trusted else {"forwarded_allow_ips": ["192.0.2.1"]}))
    proxy = TlsHAProxy(dep.root, pem, dep.http_port)
    try:
        ctx = ssl.create_default_context(cafile=web / "ca.crt")
        base = f"https://localhost:{proxy.port}"
        wait_for(lambda: _answers(f"{base}/healthz", ctx), 20, "haproxy")
        healthz = httpx.get(f"{base}/healthz", verify=ctx)
        session = dep.session("acme")
        refused = proxied_socket_refusal(f"wss://localhost:{proxy.port}", proxy.port, session, ctx)
        if trusted:
            assert refused is None, (refused, dep.logs(), proxy.text())
            assert healthz.headers["strict-transport-security"] == "max-age=31536000"
        else:
            assert refused == 403
            assert "strict-transport-security" not in healthz.headers
            assert "code=ORIGIN_REFUSED" in dep.logs()
    finally:
        proxy.stop()


def _answers(url: str, ctx: ssl.SSLContext) -> bool:
    try:
        return httpx.get(url, verify=ctx, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_plain_http_beyond_loopback_is_said_at_start(deployment: Deployment) -> None:
    """Bound to every address without TLS: one WARNING line names the risk. (Only the
    bind changes; every request here still goes to 127.0.0.1.)"""
    dep = deployment
    dep.start_control_plane()
    gateway = dep.start_gateway(host="0.0.0.0")
    wait_for(lambda: "code=HTTP_PLAINTEXT" in gateway.text(), 10, "the plaintext warning")
    gateway.stop()
    quiet = dep.start_gateway(name="quiet", http_port=free_port(), grpc_port=free_port())
    assert "code=HTTP_PLAINTEXT" not in quiet.text()


def test_the_control_plane_over_https(deployment: Deployment) -> None:
    """The control plane's https: sessions issued and checked over TLS, HSTS on its answers."""
    dep = deployment
    web = web_certs(dep)
    dep.cp_ca = web / "ca.crt"
    cp = dep.start_control_plane(https={"cert": str(web / "server.crt"), "key": str(web / "server.key")})
    assert "code=HTTP_PLAINTEXT" not in cp.text()
    ctx = ssl.create_default_context(cafile=dep.cp_ca)
    healthz = httpx.get(f"{dep.cp_url}/healthz", verify=ctx)
    assert healthz.headers["strict-transport-security"] == "max-age=31536000"
    # The gateway checks sessions against the https control plane, whose CA it is given.
    dep.start_gateway(control_plane_ca=str(dep.cp_ca))
    session = dep.session("acme")
    status, body = dep.readyz()
    assert status == 200 and body["control_plane"]["reachable"] is True, body
    dep.start_connector("acme", {"ventas": big_dataset(dep.root, "v.parquet") | {"path": "data/v.parquet"}})
    with Client.connect(dep.ws_url, session) as client:
        assert client.query("ventas", limit=3).num_rows == 3
