"""A peer replica's refusal as the typed error it was there (peer.proto: the saeta code
rides in the status's trailing metadata), for the calls of gateway/peer_link.py and
gateway/peer_direct.py."""

from __future__ import annotations

import logging
import time

import grpc
import grpc.aio

from saeta.core.connector_answers import error_from_connector
from saeta.core.throttle import LogThrottle
from saeta.errors import ConnectorOffline, QueryTimeout, SaetaError
from saeta.gateway.peer_server import ERROR_CODE_KEY
from saeta.v1 import tunnel_pb2 as pb

log = logging.getLogger("saeta.gateway.peer")

# A replica whose certificate its peers refuse would log it on every forwarded query.
REFUSED_LOG = LogThrottle(burst=5, window=60.0)


def peer_error(exc: grpc.aio.AioRpcError) -> SaetaError:
    """A peer's refusal as the typed error it was there; a call that broke without one (the
    replica is unreachable, or died) as CONNECTOR_OFFLINE."""
    if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return QueryTimeout("the gateway replica holding the tenant's tunnel did not answer in time")
    code = dict(exc.trailing_metadata() or ()).get(ERROR_CODE_KEY)
    if isinstance(code, str) and code:
        if code == "PEER_REFUSED":
            if REFUSED_LOG.allow(time.monotonic()):
                log.error(
                    "code=PEER_REFUSED a peer replica refused this replica's certificate: %s%s",
                    exc.details(),
                    REFUSED_LOG.note(),
                )
            return ConnectorOffline("the gateway replica holding the tenant's tunnel refused this replica")
        return error_from_connector(pb.QueryError(code=code, message=exc.details() or ""))
    return ConnectorOffline(f"the gateway replica holding the tenant's tunnel is unreachable ({exc.code().name})")
