"""TLS on the gateway's and the control plane's HTTP port (docs/deployment.md): a server
context whose certificate is read again when its files change, without a restart; HSTS on
every answer given over https (directly, or behind a proxy that says so); and the start-up
warning of a port that speaks plain HTTP beyond this machine.

A renewed certificate is loaded into a new context, checked whole (the key matches the
certificate), and only then handed to new handshakes through the listening context's SNI
callback; a broken renewal leaves the old certificate in place, logged
``code=HTTPS_RELOAD_FAILED``. Connections already open keep the session they have."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from saeta.config.https import HttpsConfig
from saeta.core.origins import LOOPBACK_NAMES
from saeta.errors import SaetaError

log = logging.getLogger("saeta.https")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class ReloadingContext:
    """The listening context (``context``) and the certificate it currently serves."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert, self.key = cert, key
        self.digest = self._digest()
        self.current = self._load()  # refused at start: a gateway without its certificate does not start
        self.not_after = _not_after(self.cert)
        self.context = self.current
        self.context.sni_callback = self._pick
        log.info("https certificate loaded file=%s not_after=%s", cert, self.not_after.isoformat())

    def _pick(self, sslobj: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
        """Every handshake (SNI or not) is served the newest certificate loaded."""
        if self.current is not context:
            sslobj.context = self.current

    def _digest(self) -> bytes:
        try:
            return hashlib.sha256(self.cert.read_bytes() + b"\0" + self.key.read_bytes()).digest()
        except OSError as exc:
            raise SaetaError(f"cannot read the https certificate or key: {exc}", code="HTTPS_CERT_INVALID") from exc

    def _load(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        try:
            ctx.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise SaetaError(
                f"https certificate {self.cert} and key {self.key} do not load: {exc}", code="HTTPS_CERT_INVALID"
            ) from exc
        return ctx

    def reload(self) -> bool:
        """Reads the files again; True when a changed certificate now serves new handshakes."""
        try:
            digest = self._digest()
            if digest == self.digest:
                return False
            fresh = self._load()
            not_after = _not_after(self.cert)
        except (SaetaError, ValueError) as exc:
            log.warning("https certificate kept code=HTTPS_RELOAD_FAILED file=%s: %s", self.cert, exc)
            return False
        self.current, self.digest, self.not_after = fresh, digest, not_after
        log.info("https certificate reloaded file=%s not_after=%s", self.cert, not_after.isoformat())
        return True

    async def watch(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self.reload()


def _not_after(cert: Path) -> datetime:
    """The first certificate's expiry (the leaf's, in a chain file)."""
    try:
        leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError) as exc:
        raise SaetaError(f"https certificate {cert} is not PEM: {exc}", code="HTTPS_CERT_INVALID") from exc
    return leaf.not_valid_after_utc.astimezone(UTC)


def server_context(cfg: HttpsConfig) -> ReloadingContext | None:
    if cfg.cert is None or cfg.key is None:
        return None
    return ReloadingContext(cfg.cert, cfg.key)


def with_hsts(app: App, seconds: int) -> App:
    """Adds ``Strict-Transport-Security`` to every HTTP answer whose scheme is https (the
    connection's, or a trusted proxy's X-Forwarded-Proto). 0: no header."""
    if seconds <= 0:
        return app
    header = (b"strict-transport-security", f"max-age={seconds}".encode())

    async def hsts(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        await app(scope, receive, send_with_hsts)

    return hsts


def plaintext_beyond_loopback(host: str, https: bool) -> bool:
    """Whether an HTTP port bound to ``host`` without TLS is reachable from other machines."""
    if https:
        return False
    name = host.strip("[]").lower()
    return not (name in LOOPBACK_NAMES or name.startswith("127."))


def warn_if_plaintext(what: str, host: str, port: int, https: bool) -> None:
    if plaintext_beyond_loopback(host, https):
        log.warning(
            "%s serves plain HTTP on %s:%d code=HTTP_PLAINTEXT: session tokens and data cross the network "
            "unencrypted unless a TLS-terminating proxy is in front; give https.cert and https.key "
            "(docs/deployment.md)",
            what,
            host,
            port,
        )
