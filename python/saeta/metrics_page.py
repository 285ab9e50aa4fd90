"""``GET /metrics`` of the gateway and the control plane (docs/metrics.md): Prometheus'
text format of a registry, to the peers ``metrics_access`` allows."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from saeta.core.origins import is_loopback_peer


def metrics_response(request: Request, registry: CollectorRegistry, access: str) -> Response:
    """``access``: ``loopback`` (this machine; behind a proxy, the client X-Forwarded-For
    names), ``everyone`` or ``off``; others get 403."""
    peer = request.client.host if request.client else None
    if access == "off" or (access == "loopback" and not is_loopback_peer(peer)):
        return PlainTextResponse("metrics are not served to this address (metrics_access)\n", status_code=403)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
