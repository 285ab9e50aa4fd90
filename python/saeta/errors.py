"""The one exception hierarchy of saeta.

Every refusal is a ``SaetaError`` with a stable ``code``: the same code reaches the
operator's log line, the browser's error frame and the gRPC status message, so a failure
can be followed end to end (docs/protocol.md lists the codes the browser can see).
"""

from __future__ import annotations


class SaetaError(Exception):
    """Base class. ``code`` is stable and greppable; ``message`` is for humans and never
    contains a session id or a secret."""

    code: str = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ConfigError(SaetaError):
    """A configuration file is missing, unreadable or invalid; names the file and key."""

    code = "CONFIG_INVALID"


class BadRequest(SaetaError):
    """A browser message that is not valid protocol v1."""

    code = "BAD_REQUEST"


class Unauthorized(SaetaError):
    """A session that is forged, expired, unknown or revoked."""

    code = "UNAUTHORIZED"


class SessionRevoked(Unauthorized):
    """A session the control plane revoked."""

    code = "SESSION_REVOKED"


class ControlPlaneUnavailable(SaetaError):
    """The control plane could not answer; retryable."""

    code = "CONTROL_PLANE_UNAVAILABLE"


class RevocationStale(ControlPlaneUnavailable):
    """The gateway's revocation state is older than its bound (Redis unreachable): new
    sessions are refused until it is fresh again (fail closed). Retryable."""

    code = "REVOCATION_STALE"


class DatasetNotFound(SaetaError):
    """No such dataset for this session: missing, not allowed, or another tenant's."""

    code = "DATASET_NOT_FOUND"


class ConnectorOffline(SaetaError):
    """The tenant's connector is not connected, or went away mid-query."""

    code = "CONNECTOR_OFFLINE"


class QueryFailed(SaetaError):
    """The connector or the relay could not complete the query."""

    code = "QUERY_FAILED"


class DirectDataUnavailable(QueryFailed):
    """Direct data (docs/scaling.md): the connector cannot send a data call to the asking
    replica's data_address, or the holder's connector cannot send direct at all. Between
    replicas only: the asking replica then fetches the partition the relayed way."""

    code = "DIRECT_DATA_UNAVAILABLE"


class ResultTooLarge(QueryFailed):
    """An aggregate has more rows than the connector's bound (aggregation.max_result_rows),
    or needs more memory than it may take: fewer groups or buckets, or a page (limit and
    offset), are the way."""

    code = "RESULT_TOO_LARGE"


class QueryTimeout(SaetaError):
    """The connector did not answer within timeouts.query_seconds."""

    code = "TIMEOUT"


class QueryCancelled(SaetaError):
    """The query was cancelled by the client."""

    code = "CANCELLED"


class ClientTooSlow(SaetaError):
    """The browser took nothing for websocket.stalled_seconds: its socket is closed (4008)."""

    code = "CLIENT_TOO_SLOW"


class TooManyQueries(SaetaError):
    """The socket, or its session over all its sockets, already runs its maximum number of
    concurrent queries (or subscriptions)."""

    code = "TOO_MANY_QUERIES"


class TooManySockets(SaetaError):
    """The session already has its maximum number of sockets open (close 4029)."""

    code = "TOO_MANY_SOCKETS"


class SourceError(SaetaError):
    """A connector's data source could not be opened or read. ``message`` is what the
    browser is told (the dataset, the partition: never a path on the connector's host, a
    row's values or the driver's text); ``detail``, what went wrong exactly, goes to the
    connector's log only."""

    code = "SOURCE_ERROR"

    def __init__(self, message: str, *, detail: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.detail = detail


class CertificateError(SaetaError):
    """A certificate or key could not be made, read or used."""

    code = "CERTIFICATE_INVALID"


class CertificateRevoked(CertificateError):
    """The connector's certificate is on the CA's revocation list."""

    code = "CERT_REVOKED"


class TunnelRefused(SaetaError):
    """The gateway refused a connector's registration (wrong CN, bad certificate...)."""

    code = "TUNNEL_REFUSED"


class RelayError(SaetaError):
    """Raised by saeta._relay and its Python twin: a tunnel message or Arrow IPC bytes
    that are malformed (``TUNNEL_MESSAGE_INVALID``, ``IPC_FRAMING_INVALID``) or out of
    place (``IPC_SEQUENCE_INVALID``). Constructed as ``RelayError(code, message)``."""

    code = "IPC_FRAMING_INVALID"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class SqlUnsupported(BadRequest):
    """A Flight SQL statement the gateway cannot push down to the source whole (a join,
    a subquery, an unknown function, DDL or DML, several statements): refused before
    anything runs (docs/flight.md, "SQL")."""

    code = "SQL_UNSUPPORTED"


class FlightUnsupported(SaetaError):
    """A Flight call or command the gateway does not serve (DoPut, DoExchange, updates,
    transactions, Substrait plans)."""

    code = "FLIGHT_UNSUPPORTED"
