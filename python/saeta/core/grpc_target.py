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
