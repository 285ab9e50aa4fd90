"""A gRPC target string with its port replaced: the connector dials the gateway's data
plane at the host it was configured with and the port the gateway announces."""

from __future__ import annotations


def with_port(target: str, port: int) -> str:
    """``target`` ("host:port", "[v6]:port", "dns:///host:port", or no port) on ``port``."""
    head, sep, tail = target.rpartition(":")
    has_port = bool(sep) and tail.isdigit() and not head.endswith(("/", ":")) and head != ""
    if has_port and ("[" not in head or head.endswith("]")):
        return f"{head}:{port}"
    return f"{target}:{port}"


MAX_ADDRESS_CHARS = 255
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


def is_host_port(address: str) -> bool:
    """``address`` is "host:port" or "[v6]:port": a DNS name or IP literal, a port of
    1-65535, at most MAX_ADDRESS_CHARS characters, nothing else (no scheme, no path)."""
    if not 0 < len(address) <= MAX_ADDRESS_CHARS:
        return False
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or len(port) > 5:
        return False
    if host.startswith("[") and host.endswith("]"):
        inner = host[1:-1]
        return bool(inner) and all(c in "0123456789abcdefABCDEF:." for c in inner)
    return bool(host) and all(c in _HOST_CHARS for c in host) and not host.startswith(("-", "."))


def host_of(target: str) -> str:
    """The host name of a gRPC target ("host:port", "[v6]:port", "dns:///host:port" or a
    bare host): the name a server's certificate is checked against."""
    rest = target.split("///", 1)[1] if "///" in target else target
    if rest.startswith("["):
        return rest[1 : rest.find("]")] if "]" in rest else rest
    head, sep, tail = rest.rpartition(":")
    return head if sep and tail.isdigit() and head else rest
