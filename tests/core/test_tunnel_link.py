"""A tunnel's protocol state without a tunnel: which answers settle which request, what
a close does, the bounded command queue, and that a connector cannot grow the table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from saeta.core.tunnel_link import BACKLOG_REASON, TunnelLink
from saeta.errors import ConnectorOffline, DatasetNotFound
from saeta.v1 import tunnel_pb2 as pb


def info(request_id: str, rows: int = 7) -> pb.ConnectorMessage:
    return pb.ConnectorMessage(flight_info=pb.FlightInfoResponse(request_id=request_id, total_records=rows))


def error(request_id: str, code: str = "DATASET_NOT_FOUND") -> pb.ConnectorMessage:
    return pb.ConnectorMessage(error=pb.QueryError(request_id=request_id, code=code, message="no such"))


def snapshot(request_id: str, rows: int) -> pb.ConnectorMessage:
    return pb.ConnectorMessage(snapshot_done=pb.SnapshotDone(request_id=request_id, rows=rows))


def ask(request_id: str) -> pb.GetFlightInfoRequest:
    return pb.GetFlightInfoRequest(path=["ventas"], request_id=request_id)


def test_a_described_request_gets_its_answer_once() -> None:
    link = TunnelLink()
    request = link.describe("r1", ask("r1"))
    sent = link.take()
    assert sent is not None and sent.get_flight_info.request_id == "r1"
    assert link.take() is None
    assert link.receive(info("r1", 7)) is request
    assert request.info is not None and request.info.total_records == 7
    assert link.receive(info("r1", 9)) is None  # a second answer changes nothing
    assert request.info.total_records == 7


def test_an_error_fails_the_request_and_the_first_error_stays() -> None:
    link = TunnelLink()
    request = link.describe("r1", ask("r1"))
    assert link.receive(error("r1")) is request
    assert isinstance(request.error, DatasetNotFound)
    assert link.receive(error("r1", "QUERY_FAILED")) is None
    assert isinstance(request.error, DatasetNotFound)
    assert link.receive(info("r1")) is None  # a FlightInfo after the error is not taken
    assert request.info is None


def test_answers_for_requests_never_opened_are_dropped() -> None:
    link = TunnelLink()
    assert link.receive(info("made-up")) is None
    assert link.receive(error("made-up")) is None
    assert link.receive(snapshot("made-up", 3)) is None
    watched = link.open("w")
    assert link.receive(info("w")) is None  # opened, but no GetFlightInfo was asked for it
    assert watched.info is None
    link.forget("w")
    assert link.receive(error("w")) is None


def test_a_snapshot_size_is_kept_once_and_never_negative() -> None:
    link = TunnelLink()
    request = link.open("s")
    assert link.receive(snapshot("s", -5)) is request
    assert request.snapshot_rows == 0
    assert link.receive(snapshot("s", 9)) is None


def test_close_fails_every_open_request_and_later_ones_at_once() -> None:
    link = TunnelLink()
    answered = link.describe("a", ask("a"))
    link.receive(error("a"))
    waiting = link.describe("b", ask("b"))
    failed = link.close("tunnel ended")
    assert failed == [waiting]  # the one already failed keeps its own error
    assert isinstance(waiting.error, ConnectorOffline)
    assert isinstance(answered.error, DatasetNotFound)
    assert link.close("again") == [] and link.close_reason == "tunnel ended"
    assert isinstance(link.open("late").error, ConnectorOffline)
    with pytest.raises(ConnectorOffline):
        link.describe("later", ask("later"))
    with pytest.raises(ConnectorOffline):
        link.send(pb.GatewayMessage(cancel=pb.CancelRequest(request_id="a")))


def test_heartbeats_are_echoed_only_while_open() -> None:
    link = TunnelLink()
    beat = pb.ConnectorMessage(heartbeat=pb.Heartbeat(sent_unix_ms=5))
    assert link.receive(beat) is None
    echoed = link.take()
    assert echoed is not None and echoed.heartbeat.sent_unix_ms == 5
    link.close("gone")
    link.receive(beat)
    link.cancel("x")
    assert link.take() is None


def test_a_connector_that_reads_nothing_is_closed_at_the_queue_cap() -> None:
    link = TunnelLink(max_outbox=10)
    beat = pb.ConnectorMessage(heartbeat=pb.Heartbeat(sent_unix_ms=1))
    waiting = link.describe("r", ask("r"))
    for _ in range(9):
        link.receive(beat)
    assert not link.closed and link.queued == 10
    link.receive(beat)
    assert link.close_reason == BACKLOG_REASON
    assert isinstance(waiting.error, ConnectorOffline)
    assert link.queued == 10  # what was queued before the close is still given, in order
    first = link.take()
    assert first is not None and first.HasField("get_flight_info")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["info", "error", "snapshot", "forget"]), st.sampled_from(["a", "b", "zz"])),
        max_size=30,
    )
)
def test_the_table_holds_only_what_the_gateway_opened(steps: list[tuple[str, str]]) -> None:
    """Whatever a connector sends, the requests held are among those the gateway opened
    and did not forget, and each settles at most once per kind."""
    link = TunnelLink()
    opened = {rid: link.describe(rid, ask(rid)) for rid in ("a", "b")}
    seen: dict[tuple[str, str], int] = {}
    for kind, rid in steps:
        if kind == "forget":
            link.forget(rid)
            opened.pop(rid, None)
            continue
        message = {"info": info(rid), "error": error(rid), "snapshot": snapshot(rid, 3)}[kind]
        changed = link.receive(message)
        if changed is not None:
            assert rid in opened and changed is opened[rid]
            seen[(rid, kind)] = seen.get((rid, kind), 0) + 1
    assert set(link._requests) == set(opened)
    assert all(count == 1 for count in seen.values())
