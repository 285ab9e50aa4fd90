"""core/presence.py: which replicas a lookup leaves, how long its answer is kept, and
what a refresh writes."""

from __future__ import annotations

from saeta.core.presence import (
    MAX_HOLDERS,
    Holder,
    HoldersCache,
    PresenceState,
    holders_key,
    live_holders,
    replica_key,
)


def test_keys() -> None:
    assert replica_key("r1") == "saeta:replica:r1"
    assert holders_key("acme") == "saeta:holders:acme"


def test_live_holders_freshest_first_without_self_lapsed_or_gone() -> None:
    members = [(b"old", 110.0), (b"self", 130.0), (b"lapsed", 99.0), (b"gone", 150.0), (b"new", 140.0)]
    addresses = [b"10.0.0.1:50051", b"10.0.0.9:50051", b"10.0.0.2:50051", None, "10.0.0.3:50051"]
    assert live_holders(members, addresses, 100.0, "self") == [
        Holder("new", "10.0.0.3:50051"),
        Holder("old", "10.0.0.1:50051"),
    ]


def test_live_holders_refuses_empty_or_oversized_addresses_and_is_bounded() -> None:
    assert live_holders([(b"r", 200.0)], [b""], 100.0, "x") == []
    assert live_holders([(b"r", 200.0)], [b"a" * 301], 100.0, "x") == []
    many = [(f"r{i}".encode(), 200.0 + i) for i in range(200)]
    assert len(live_holders(many, [b"h:1"] * 200, 100.0, "x")) == MAX_HOLDERS


def test_a_tenant_is_held_until_its_last_tunnel_goes() -> None:
    state = PresenceState("r1", "h:1", 9)
    assert state.tunnel_added("acme") is True
    assert state.tunnel_added("acme") is False
    assert state.tunnel_removed("acme") is False
    first = state.refresh(1000.0)
    assert (first.held, first.released, first.lapses, first.ttl_seconds) == (("acme",), (), 1009.0, 9)
    assert state.tunnel_removed("acme") is True
    second = state.refresh(1001.0)
    assert (second.held, second.released) == ((), ("acme",))
    assert state.refresh(1002.0).released == ()


def test_a_failed_refresh_writes_its_releases_with_the_next() -> None:
    state = PresenceState("r1", "h:1", 9)
    state.tunnel_added("acme")
    state.tunnel_added("globex")
    state.tunnel_removed("acme")
    state.tunnel_removed("globex")
    failed = state.refresh(1000.0)
    state.unwritten(failed)
    state.tunnel_added("globex")  # back before the next write: no longer released
    again = state.refresh(1001.0)
    assert (again.held, again.released) == (("globex",), ("acme",))
    assert sorted(state.leaving()) == ["globex"]


def test_holders_are_kept_a_second_and_forgotten_when_they_all_failed() -> None:
    cache = HoldersCache(seconds=1.0)
    b = [Holder("b", "10.0.0.2:50051")]
    assert cache.holders("acme", 10.0) is None
    cache.keep("acme", b, 10.0)
    assert cache.holders("acme", 10.9) == b
    assert cache.holders("acme", 11.0) is None  # lapsed: Redis is asked again
    cache.keep("acme", b, 20.0)
    cache.forget("acme")
    assert cache.holders("acme", 20.1) is None
    cache.keep("acme", [], 30.0)  # none found: not kept, a connector coming online is found at once
    assert cache.holders("acme", 30.1) is None and len(cache) == 0


def test_the_holders_cache_is_bounded() -> None:
    cache = HoldersCache(seconds=1.0, limit=100)
    for n in range(250):
        cache.keep(f"t{n}", [Holder("b", "h:1")], 0.0)
        assert len(cache) <= 100
    assert cache.holders("t249", 0.5) is not None
