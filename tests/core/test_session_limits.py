from __future__ import annotations

from saeta.core.session_limits import SessionCaps, SessionLimits


def test_sockets_are_capped_per_session_and_freed() -> None:
    limits = SessionLimits(SessionCaps(sockets=2, queries=4, subscriptions=1))
    assert limits.open_socket("s") and limits.open_socket("s")
    assert not limits.open_socket("s")
    assert limits.open_socket("other")  # another session is not held back
    limits.close_socket("s")
    assert limits.open_socket("s")


def test_queries_and_subscriptions_are_capped_over_all_sockets() -> None:
    limits = SessionLimits(SessionCaps(sockets=8, queries=3, subscriptions=1))
    assert limits.start("s", subscription=True) is None
    refusal = limits.start("s", subscription=True)
    assert refusal is not None and "subscriptions" in refusal
    assert limits.start("s", subscription=False) is None and limits.start("s", subscription=False) is None
    refusal = limits.start("s", subscription=False)
    assert refusal is not None and "3 queries" in refusal
    limits.end("s", subscription=True)
    assert limits.start("s", subscription=True) is None


def test_a_session_holding_nothing_is_forgotten() -> None:
    limits = SessionLimits(SessionCaps(sockets=1, queries=1, subscriptions=1))
    assert limits.open_socket("s")
    assert limits.start("s", subscription=False) is None
    limits.close_socket("s")
    assert limits.sessions() == 1  # its query still runs
    limits.end("s", subscription=False)
    assert limits.sessions() == 0
    assert limits.start("x", subscription=False) is None and limits.sessions() == 1
    limits.end("x", subscription=False)
    assert limits.sessions() == 0
