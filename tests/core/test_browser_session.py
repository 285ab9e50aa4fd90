"""A browser socket's protocol state without a socket: what each client message is
turned into, the query table (running ids, per-socket cap), the session's caps over its
sockets, the quotas, and what ``finished`` releases."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from saeta.core import browser_protocol as bp
from saeta.core.browser_session import BrowserSession, Cancel, Ignore, ListDatasets, Send, Start, Stop
from saeta.core.quotas import QuotaCaps, Quotas
from saeta.core.session_limits import SessionCaps, SessionLimits

NO_QUOTAS = QuotaCaps(0, 0, 0, 0, 0, 0)
ROOMY = SessionCaps(sockets=4, queries=16, subscriptions=4)


def session(
    max_queries: int = 8,
    caps: SessionCaps = ROOMY,
    quotas: QuotaCaps = NO_QUOTAS,
    limits: SessionLimits | None = None,
) -> BrowserSession:
    return BrowserSession("sid", "acme", "ana", max_queries, limits or SessionLimits(caps), Quotas(quotas))


def query(qid: str, dataset: str = "ventas") -> str:
    return json.dumps({"action": "query", "id": qid, "dataset": dataset})


def subscribe(qid: str) -> str:
    return json.dumps({"action": "subscribe", "id": qid, "dataset": "ventas"})


def error_of(decision: object) -> dict[str, object]:
    assert isinstance(decision, Send), decision
    frame: dict[str, object] = json.loads(decision.text)
    assert frame["type"] == "error"
    return frame


def test_a_query_starts_and_its_id_is_taken_until_it_finishes() -> None:
    s = session()
    started = s.receive(query("q1"), 0.0)
    assert isinstance(started, Start) and isinstance(started.request, bp.RunQuery)
    assert started.request.id == "q1" and started.request.dataset == "ventas"
    again = error_of(s.receive(query("q1"), 0.0))
    assert again == {"type": "error", "id": "q1", "code": "BAD_REQUEST", "message": "a query with this id is running"}
    s.finished("q1")
    assert isinstance(s.receive(query("q1"), 0.0), Start)


def test_a_bad_message_is_answered_and_marked_for_the_log() -> None:
    s = session()
    decision = s.receive("{not json", 0.0)
    assert isinstance(decision, Send) and decision.refusal is not None
    kind, code, _ = decision.refusal
    assert (kind, code) == ("bad_request", "BAD_REQUEST")
    assert error_of(decision)["code"] == "BAD_REQUEST"
    assert s.running == 0


def test_list_cancel_and_unsubscribe() -> None:
    s = session()
    assert isinstance(s.receive('{"action":"list"}', 0.0), ListDatasets)
    assert isinstance(s.receive(query("q"), 0.0), Start)
    assert isinstance(s.receive(subscribe("live"), 0.0), Start)
    assert s.receive('{"action":"cancel","id":"q"}', 0.0) == Cancel("q")
    assert s.receive('{"action":"cancel","id":"live"}', 0.0) == Cancel("live")  # cancel ends a subscription too
    assert s.receive('{"action":"unsubscribe","id":"live"}', 0.0) == Stop("live")
    # No-ops: an id that is not running, and unsubscribing a plain query.
    assert s.receive('{"action":"cancel","id":"nope"}', 0.0) == Ignore()
    assert s.receive('{"action":"unsubscribe","id":"q"}', 0.0) == Ignore()
    s.finished("live")
    assert s.receive('{"action":"unsubscribe","id":"live"}', 0.0) == Ignore()


def test_the_socket_cap_refuses_the_next_query_until_one_finishes() -> None:
    s = session(max_queries=2)
    assert isinstance(s.receive(query("a"), 0.0), Start)
    assert isinstance(s.receive(query("b"), 0.0), Start)
    refused = error_of(s.receive(query("c"), 0.0))
    assert refused["code"] == "TOO_MANY_QUERIES" and "on one socket" in str(refused["message"])
    s.finished("a")
    assert isinstance(s.receive(query("c"), 0.0), Start)


def test_the_session_caps_hold_over_all_its_sockets() -> None:
    limits = SessionLimits(SessionCaps(sockets=4, queries=3, subscriptions=1))
    one, two = session(limits=limits), session(limits=limits)
    assert isinstance(one.receive(subscribe("s1"), 0.0), Start)
    assert "subscriptions at once" in str(error_of(two.receive(subscribe("s2"), 0.0))["message"])
    assert isinstance(two.receive(query("q1"), 0.0), Start)
    assert isinstance(one.receive(query("q2"), 0.0), Start)
    assert "over all its sockets" in str(error_of(two.receive(query("q3"), 0.0))["message"])
    one.finished("s1")
    assert isinstance(two.receive(subscribe("s2"), 0.0), Start)


def test_a_quota_refusal_counts_nothing_and_says_when_to_retry() -> None:
    limits = SessionLimits(SessionCaps(sockets=4, queries=16, subscriptions=4))
    s = session(limits=limits, quotas=QuotaCaps(2, 0, 0, 0, 0, 0))
    assert isinstance(s.receive(query("a"), 0.0), Start)
    assert isinstance(s.receive(query("b"), 0.0), Start)
    decision = s.receive(query("c"), 0.0)
    assert (
        isinstance(decision, Send)
        and decision.refusal is not None
        and decision.refusal[:2] == ("quota", "QUOTA_EXCEEDED")
    )
    frame = error_of(decision)
    assert frame["code"] == "QUOTA_EXCEEDED" and frame["retry_after_ms"] == 30_000
    assert s.running == 2
    s.finished("a")
    s.finished("b")
    assert limits.sessions() == 0  # the refused query left nothing counted


def test_finished_releases_once() -> None:
    limits = SessionLimits(SessionCaps(sockets=4, queries=1, subscriptions=1))
    s = session(limits=limits)
    assert isinstance(s.receive(query("a"), 0.0), Start)
    s.finished("a")
    s.finished("a")  # a second call, or one for an id never started, releases nothing
    s.finished("never")
    assert isinstance(s.receive(query("b"), 0.0), Start)
    assert "over all its sockets" in str(error_of(s.receive(query("c"), 0.0))["message"])


def test_stream_ids_count_up_and_wrap_without_zero() -> None:
    s = session()
    assert [s.next_stream() for _ in range(3)] == [1, 2, 3]
    s._stream = 2**32 - 1
    assert s.next_stream() == 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["query", "subscribe", "cancel", "unsubscribe", "finish"]), st.sampled_from("abcd")),
        max_size=40,
    )
)
def test_the_counts_always_match_the_running_queries(steps: list[tuple[str, str]]) -> None:
    """Whatever the order of starts, cancels and ends, what the session and quotas hold is
    exactly what runs, and nothing is left once all has finished."""
    limits = SessionLimits(SessionCaps(sockets=4, queries=3, subscriptions=2))
    quotas = Quotas(QuotaCaps(0, 0, 2, 0, 0, 0))
    s = BrowserSession("sid", "acme", "ana", 8, limits, quotas)
    running: set[str] = set()
    for kind, qid in steps:
        if kind == "finish":
            s.finished(qid)
            running.discard(qid)
        elif kind in ("cancel", "unsubscribe"):
            s.receive(json.dumps({"action": kind, "id": qid}), 0.0)
        else:
            text = query(qid) if kind == "query" else subscribe(qid)
            if isinstance(s.receive(text, 0.0), Start):
                assert qid not in running
                running.add(qid)
        assert s.running == len(running) <= 2  # the per-user concurrency quota
    for qid in list(running):
        s.finished(qid)
    assert limits.sessions() == 0 and quotas.running() == 0
