"""What of gateway/app.py's Gateway a query's answer outside a socket uses (POST /query,
the Flight endpoint): the config, the relay, the data calls, the router, the session
validator, the session's and tenant's limits, whether the gateway is draining, its
metrics, and what a query's end is told to (metrics and the audit log)."""

from __future__ import annotations

from typing import Protocol

from saeta.config import GatewayConfig
from saeta.core.session_limits import SessionLimits
from saeta.gateway.audit import Outcomes
from saeta.gateway.browser import SocketLimits
from saeta.gateway.data_calls import DataCalls
from saeta.gateway.metrics import GatewayMetrics
from saeta.gateway.router import Router
from saeta.gateway.sessions import SessionValidator
from saeta.relay import Relay


class QueryParts(Protocol):
    cfg: GatewayConfig
    relay: Relay
    calls: DataCalls
    router: Router
    sessions: SessionValidator
    session_limits: SessionLimits
    socket_limits: SocketLimits
    draining: bool
    metrics: GatewayMetrics
    outcomes: Outcomes
