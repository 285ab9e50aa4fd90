"""The WebSocket Origin allowlist (cross-site WebSocket hijacking): exact matches only,
checked before the upgrade. Sans I/O."""

from __future__ import annotations

MAX_ORIGIN_CHARS = 512


def normalize_origin(origin: str) -> str:
    """Origins compare as the browser sends them: scheme://host[:port], no path. Scheme and
    host are case-insensitive; nothing else is rewritten (no default-port folding)."""
    scheme, sep, rest = origin.partition("://")
    return f"{scheme.lower()}{sep}{rest.lower()}"


def own_origin(host_header: str | None, secure: bool) -> str | None:
    """The origin of a page this gateway served itself, from the request's Host header."""
    if not host_header or len(host_header) > MAX_ORIGIN_CHARS:
        return None
    return normalize_origin(f"{'https' if secure else 'http'}://{host_header}")


def origin_allowed(
    origin: str | None, allowed: tuple[str, ...], host_header: str | None, secure: bool, hosts: tuple[str, ...] = ()
) -> bool:
    """True when a handshake with this Origin header may upgrade.

    - No Origin header: not a browser (browsers always send one on WebSocket handshakes),
      so cross-site hijacking does not apply; allowed.
    - ``allowed`` empty: only the gateway's own origin (the dashboard it serves), and only
      when the Host header names this gateway (a loopback name or one of ``hosts``): a
      DNS-rebinding page has an Origin that matches the Host it sends, under its own name.
    - ``allowed`` set: exactly those origins ("null" is never accepted)."""
    if origin is None:
        return True
    if len(origin) > MAX_ORIGIN_CHARS or origin == "null":
        return False
    candidate = normalize_origin(origin)
    if allowed:
        return candidate in {normalize_origin(a) for a in allowed}
    return host_allowed(host_header, hosts) and candidate == own_origin(host_header, secure)


# Names a service bound to loopback is reached by; a Host header naming anything else on
# such a service is a DNS-rebinding page's (its name now resolves to 127.0.0.1).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def host_name(host_header: str | None) -> str | None:
    """The host of a Host header, lowercased, without its port or an IPv6 literal's
    brackets; None when there is none or it is malformed."""
    if not host_header or len(host_header) > MAX_ORIGIN_CHARS:
        return None
    value = host_header.strip().lower()
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name or None
    name, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return name or None


def host_allowed(host_header: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a request's Host header names this service: one of ``allowed`` (lowercase
    names) or a loopback name."""
    name = host_name(host_header)
    return name is not None and (name in LOOPBACK_NAMES or name in allowed)


def is_loopback_peer(address: str | None) -> bool:
    """Whether a connection's peer address is this machine's loopback."""
    if not address:
        return False
    return address == "::1" or address.startswith("127.") or address == "localhost"
