"""The CA's certificate revocation list, as the gateway applies it: read from the CRL file
(watched, so `saeta certs revoke` takes effect without a restart) and from Redis (pushed by
`saeta certs revoke --redis-url`, for gateways on other machines). Every CRL must verify
against the CA before it counts; revocations only accumulate."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from saeta.core.x509_identity import load_crl_serials
from saeta.errors import CertificateError

log = logging.getLogger("saeta.gateway.crl")

POLL_SECONDS = 0.25

OnChange = Callable[[frozenset[int]], None]


class CrlWatcher:
    def __init__(self, path: Path, ca_pem: bytes, on_change: OnChange) -> None:
        self.path = path
        self._ca_pem = ca_pem
        self._on_change = on_change
        self.revoked: frozenset[int] = frozenset()
        self._stamp: tuple[int, int, int] | None = None

    def is_revoked(self, serial: int | None) -> bool:
        return serial is not None and serial in self.revoked

    def accept(self, pem: bytes, source: str) -> None:
        """Applies a CRL from ``source`` (a path or "redis"); an invalid one is logged and
        ignored, keeping what was already revoked."""
        try:
            serials = load_crl_serials(pem, self._ca_pem)
        except CertificateError as err:
            log.error("code=CRL_INVALID ignored the CRL from %s: %s", source, err.message)
            return
        added = serials - self.revoked
        if not added:
            return
        self.revoked = self.revoked | added
        log.info("code=CRL_LOADED %d certificates revoked (+%d) from %s", len(self.revoked), len(added), source)
        self._on_change(self.revoked)

    def accept_pushed(self, pem: bytes | None) -> None:
        if pem:
            self.accept(pem, "redis")

    def poll(self) -> None:
        """Reloads the file when its identity, size or mtime changed."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp = None
            return
        except OSError as exc:
            log.warning("code=CRL_UNREADABLE %s: %s", self.path, exc)
            return
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return
        try:
            pem = self.path.read_bytes()
        except OSError as exc:
            log.warning("code=CRL_UNREADABLE %s: %s", self.path, exc)
            return
        self._stamp = stamp
        self.accept(pem, str(self.path))

    async def run(self) -> None:
        while True:
            self.poll()
            await asyncio.sleep(POLL_SECONDS)
