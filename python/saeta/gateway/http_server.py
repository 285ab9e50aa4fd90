"""The gateway's uvicorn server on http_port: its edge protocols (deadlines, head limits,
the unauthenticated cap), TLS when ``https`` is configured, the proxies whose forwarded
headers are believed, and HSTS (docs/deployment.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import uvicorn

from saeta.config import GatewayConfig
from saeta.core import browser_protocol as bp
from saeta.gateway.http_protocol import MAX_HEAD_BYTES, edge_protocols, unauthenticated_cap
from saeta.web_tls import ReloadingContext, with_hsts


class Server(uvicorn.Server):
    """uvicorn without its own signal handling: the gateway owns SIGTERM/SIGINT/SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def build(cfg: GatewayConfig, app: Any, tls: ReloadingContext | None) -> Server:
    http_protocol, ws_protocol = edge_protocols(
        cfg.handshake_seconds, unauthenticated_cap(cfg.max_unauthenticated_connections)
    )
    config = uvicorn.Config(
        with_hsts(app, cfg.https.hsts_seconds),
        host=cfg.host,
        port=cfg.http_port,
        http=http_protocol,
        ws=ws_protocol,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        ws_max_size=bp.MAX_TEXT_FRAME_BYTES,
        ws_per_message_deflate=False,
        ws_ping_interval=cfg.ping_interval_seconds,
        ws_ping_timeout=cfg.ping_timeout_seconds,
        # Believed from these peers only: X-Forwarded-Proto (the own-origin check, HSTS) and
        # X-Forwarded-For (the loopback checks of /readyz and /metrics, the logs).
        proxy_headers=bool(cfg.forwarded_allow_ips),
        forwarded_allow_ips=list(cfg.forwarded_allow_ips),
        access_log=False,  # paths carry session ids, which never reach a log
        log_config=None,
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    config.load()
    if tls is not None:
        config.ssl = tls.context  # the reloading context, which uvicorn's own files option cannot give
    return Server(config)
