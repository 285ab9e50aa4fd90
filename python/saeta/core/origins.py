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


def origin_allowed(origin: str | None, allowed: tuple[str, ...], host_header: str | None, secure: bool) -> bool:
    """True when a handshake with this Origin header may upgrade.

    - No Origin header: not a browser (browsers always send one on WebSocket handshakes),
      so cross-site hijacking does not apply; allowed.
    - ``allowed`` empty: only the gateway's own origin (the dashboard it serves).
    - ``allowed`` set: exactly those origins ("null" is never accepted)."""
    if origin is None:
        return True
    if len(origin) > MAX_ORIGIN_CHARS or origin == "null":
        return False
    candidate = normalize_origin(origin)
    if allowed:
        return candidate in {normalize_origin(a) for a in allowed}
    return candidate == own_origin(host_header, secure)
