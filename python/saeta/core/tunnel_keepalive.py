"""HTTP/2 keepalive of the tunnel, one list for both ends: the connector pings every 20 s
and the gateway must accept pings that often (grpc answers too-frequent pings with
GOAWAY "too_many_pings"), so the two sides are set from the same values."""

from __future__ import annotations

KEEPALIVE_TIME_MS = 20_000
KEEPALIVE_TIMEOUT_MS = 10_000

KEEPALIVE_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
