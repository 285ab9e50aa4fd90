"""saeta/web_tls.py without a server: the reloading context, HSTS on https answers only,
and which binds are said to be plaintext beyond this machine."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from saeta import certs
from saeta.errors import SaetaError
from saeta.web_tls import ReloadingContext, plaintext_beyond_loopback, with_hsts


def test_a_reload_swaps_only_a_whole_changed_pair(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = certs.init_ca(tmp_path)
    tls = ReloadingContext(files.cert, files.key)
    first = tls.current
    assert tls.context is first and not tls.reload()  # unchanged: nothing to do
    other = certs.init_ca(tmp_path / "other")
    files.key.write_bytes(other.key.read_bytes())  # a key that is not the certificate's
    assert not tls.reload() and tls.current is first
    assert "code=HTTPS_RELOAD_FAILED" in caplog.text
    certs.init_ca(tmp_path)  # a whole renewal
    assert tls.reload() and tls.current is not first
    assert tls.context is first  # the listening context stays; its SNI callback hands out the new one


def test_a_certificate_that_does_not_load_stops_the_start(tmp_path: Path) -> None:
    files = certs.init_ca(tmp_path)
    files.cert.write_text("not a certificate")
    with pytest.raises(SaetaError) as err:
        ReloadingContext(files.cert, files.key)
    assert err.value.code == "HTTPS_CERT_INVALID"


def _headers(scheme: str, seconds: int) -> list[tuple[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request"}

    asyncio.run(with_hsts(app, seconds)({"type": "http", "scheme": scheme}, receive, send))
    return list(sent[0]["headers"])


def test_hsts_on_https_answers_only() -> None:
    assert (b"strict-transport-security", b"max-age=600") in _headers("https", 600)
    assert all(name != b"strict-transport-security" for name, _ in _headers("http", 600))
    assert all(name != b"strict-transport-security" for name, _ in _headers("https", 0))


@pytest.mark.parametrize(
    ("host", "https", "plaintext"),
    [
        ("0.0.0.0", False, True),
        ("::", False, True),
        ("10.1.2.3", False, True),
        ("0.0.0.0", True, False),
        ("127.0.0.1", False, False),
        ("127.0.1.1", False, False),
        ("localhost", False, False),
        ("::1", False, False),
        ("[::1]", False, False),
    ],
)
def test_which_binds_are_plaintext_beyond_loopback(host: str, https: bool, plaintext: bool) -> None:
    assert plaintext_beyond_loopback(host, https) is plaintext


def test_tls_below_1_2_is_refused(tmp_path: Path) -> None:
    files = certs.init_ca(tmp_path)
    assert ReloadingContext(files.cert, files.key).current.minimum_version == ssl.TLSVersion.TLSv1_2
