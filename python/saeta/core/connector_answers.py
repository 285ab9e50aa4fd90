"""What a connector says on its Control call, sorted for the gateway: a FlightInfo answer
to a request, a typed error for a request, a subscription's snapshot size, or a heartbeat
to echo. Sans-I/O: the shell (gateway/registry.py) holds the futures each answer settles."""

from __future__ import annotations

from dataclasses import dataclass

from saeta.core.resume_token import ResumeUnavailable
from saeta.errors import (
    ConnectorOffline,
    DatasetNotFound,
    DirectDataUnavailable,
    QueryFailed,
    QueryTimeout,
    ResultTooLarge,
    SaetaError,
)
from saeta.v1 import tunnel_pb2 as pb

# The most of a connector's error message the gateway passes on (it reaches browsers).
MAX_ERROR_CHARS = 1000
_ERRORS_BY_CODE: dict[str, type[SaetaError]] = {
    cls.code: cls
    for cls in (
        DatasetNotFound,
        QueryFailed,
        ConnectorOffline,
        QueryTimeout,
        ResumeUnavailable,
        DirectDataUnavailable,
        ResultTooLarge,
    )
}


def error_from_connector(err: pb.QueryError) -> SaetaError:
    """The connector's QueryError as a typed error (unknown codes become QUERY_FAILED,
    BAD_REQUEST stays BAD_REQUEST), its message bounded."""
    message = err.message[:MAX_ERROR_CHARS] or "the connector refused the query"
    if err.code == "BAD_REQUEST":
        return SaetaError(message, code="BAD_REQUEST")
    return _ERRORS_BY_CODE.get(err.code, QueryFailed)(message)


@dataclass(frozen=True, slots=True)
class Described:
    request_id: str
    info: pb.FlightInfoResponse


@dataclass(frozen=True, slots=True)
class Failed:
    request_id: str
    error: SaetaError


@dataclass(frozen=True, slots=True)
class SnapshotSize:
    request_id: str
    rows: int


@dataclass(frozen=True, slots=True)
class Echo:
    reply: pb.GatewayMessage


Answer = Described | Failed | SnapshotSize | Echo


def sort_message(msg: pb.ConnectorMessage) -> Answer | None:
    """The answer ``msg`` carries, or None for what the gateway does not act on here
    (a second ``register``, an unknown kind from a newer connector)."""
    kind = msg.WhichOneof("msg")
    if kind == "flight_info":
        return Described(msg.flight_info.request_id, msg.flight_info)
    if kind == "error":
        return Failed(msg.error.request_id, error_from_connector(msg.error))
    if kind == "snapshot_done":
        return SnapshotSize(msg.snapshot_done.request_id, max(0, msg.snapshot_done.rows))
    if kind == "heartbeat":
        return Echo(pb.GatewayMessage(heartbeat=msg.heartbeat))
    return None
