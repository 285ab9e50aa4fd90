"""The ``https`` section and ``forwarded_allow_ips`` of the gateway's and the control
plane's config (docs/configuration.md, docs/deployment.md): TLS on the HTTP port, and the
proxies whose forwarded headers are believed."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from saeta.config._base import _Section

DEFAULT_HSTS_SECONDS = 31_536_000  # one year; no includeSubDomains (other hosts are not ours to pin)
LOOPBACK_PROXIES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class HttpsConfig:
    """Absent (``cert`` None): the port speaks plain HTTP. ``reload_seconds``: how often
    the files are read again for a renewed certificate (SIGHUP reads them at once)."""

    cert: Path | None = None
    key: Path | None = None
    reload_seconds: float = 60.0
    hsts_seconds: int = DEFAULT_HSTS_SECONDS

    @property
    def enabled(self) -> bool:
        return self.cert is not None


def https_section(root: _Section) -> HttpsConfig:
    sec = root.section("https")
    cert = sec.readable_file("cert", None)
    key = sec.readable_file("key", None)
    if (cert is None) != (key is None):
        raise sec.fail("cert" if key is not None else "key", "cert and key go together")
    cfg = HttpsConfig(
        cert=cert,
        key=key,
        reload_seconds=sec.number("reload_seconds", HttpsConfig.reload_seconds, 0.2, 86400),
        hsts_seconds=sec.integer("hsts_seconds", DEFAULT_HSTS_SECONDS, 0, 2 * DEFAULT_HSTS_SECONDS),
    )
    sec.check_unknown()
    return cfg


def forwarded_allow_ips(root: _Section) -> tuple[str, ...]:
    """Addresses or networks of the proxies whose ``X-Forwarded-Proto`` and
    ``X-Forwarded-For`` are believed (the scheme and the client's address); [] believes
    none. ``*`` is refused: any client could then claim any address."""
    values: tuple[str, ...] = root.str_list("forwarded_allow_ips", LOOPBACK_PROXIES)
    for i, value in enumerate(values):
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise root.fail(
                f"forwarded_allow_ips[{i}]", f"expected an IP address or network (10.0.0.0/8), got {value!r}"
            ) from None
    return values
