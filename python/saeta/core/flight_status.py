"""saeta's error codes as gRPC statuses on the Flight endpoint (docs/flight.md, "Errors"),
sans I/O (status names; the shell makes them grpc.StatusCode). The status's message is
always ``CODE: message``: the code a socket's client sees in its error frame, for a
Flight client and the operator's grep alike."""

from __future__ import annotations

from saeta.errors import SaetaError

STATUS: dict[str, str] = {
    "UNAUTHORIZED": "UNAUTHENTICATED",
    "SESSION_REVOKED": "UNAUTHENTICATED",
    "TICKET_REFUSED": "PERMISSION_DENIED",
    "DATASET_NOT_FOUND": "NOT_FOUND",
    "BAD_REQUEST": "INVALID_ARGUMENT",
    "SQL_UNSUPPORTED": "INVALID_ARGUMENT",
    "FLIGHT_UNSUPPORTED": "UNIMPLEMENTED",
    "CONNECTOR_OFFLINE": "UNAVAILABLE",
    "CONTROL_PLANE_UNAVAILABLE": "UNAVAILABLE",
    "REVOCATION_STALE": "UNAVAILABLE",
    "GATEWAY_DRAINING": "UNAVAILABLE",
    "GATEWAY_UNAVAILABLE": "UNAVAILABLE",
    "TIMEOUT": "DEADLINE_EXCEEDED",
    "TOO_MANY_QUERIES": "RESOURCE_EXHAUSTED",
    "QUOTA_EXCEEDED": "RESOURCE_EXHAUSTED",
    "CLIENT_TOO_SLOW": "RESOURCE_EXHAUSTED",
    "RESULT_TOO_LARGE": "RESOURCE_EXHAUSTED",
    "CANCELLED": "CANCELLED",
    "SCHEMA_CHANGED": "FAILED_PRECONDITION",
    "SOURCE_ERROR": "INTERNAL",
    "QUERY_FAILED": "INTERNAL",
}


def status_of(err: SaetaError) -> tuple[str, str]:
    """The name of the gRPC status code (grpc.StatusCode's) and the message for ``err``;
    INTERNAL for a code not listed."""
    return STATUS.get(err.code, "INTERNAL"), f"{err.code}: {err.message}"
