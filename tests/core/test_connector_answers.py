"""A connector's Control messages, sorted without a tunnel: each answer names its
request, errors are typed and bounded, and heartbeats are echoed."""

from __future__ import annotations

import pytest
from saeta.core.connector_answers import (
    MAX_ERROR_CHARS,
    Described,
    Echo,
    Failed,
    SnapshotSize,
    error_from_connector,
    sort_message,
)
from saeta.v1 import tunnel_pb2 as pb


def test_each_answer_names_its_request() -> None:
    info = pb.FlightInfoResponse(request_id="r1", total_records=3)
    assert sort_message(pb.ConnectorMessage(flight_info=info)) == Described("r1", info)
    done = sort_message(pb.ConnectorMessage(snapshot_done=pb.SnapshotDone(request_id="r2", rows=-5)))
    assert done == SnapshotSize("r2", 0)  # a negative count is no rows
    beat = pb.Heartbeat(sent_unix_ms=7)
    assert sort_message(pb.ConnectorMessage(heartbeat=beat)) == Echo(pb.GatewayMessage(heartbeat=beat))
    assert sort_message(pb.ConnectorMessage(register=pb.RegisterRequest(tenant_id="acme"))) is None
    assert sort_message(pb.ConnectorMessage()) is None


@pytest.mark.parametrize(
    ("code", "typed"),
    [
        ("DATASET_NOT_FOUND", "DATASET_NOT_FOUND"),
        ("QUERY_FAILED", "QUERY_FAILED"),
        ("CONNECTOR_OFFLINE", "CONNECTOR_OFFLINE"),
        ("TIMEOUT", "TIMEOUT"),
        ("BAD_REQUEST", "BAD_REQUEST"),
        ("INTERNAL", "QUERY_FAILED"),  # a code the browser must not be told as is
        ("SOMETHING_NEW", "QUERY_FAILED"),
    ],
)
def test_errors_are_typed_by_code(code: str, typed: str) -> None:
    answer = sort_message(pb.ConnectorMessage(error=pb.QueryError(request_id="r", code=code, message="why")))
    assert isinstance(answer, Failed) and answer.request_id == "r"
    assert (answer.error.code, answer.error.message) == (typed, "why")


def test_error_messages_are_bounded_and_never_empty() -> None:
    long = error_from_connector(pb.QueryError(code="QUERY_FAILED", message="x" * 5000))
    assert len(long.message) == MAX_ERROR_CHARS
    assert error_from_connector(pb.QueryError(code="QUERY_FAILED")).message == "the connector refused the query"
