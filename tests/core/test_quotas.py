"""Quotas per tenant and per user, with the time passed in: rates refuse with the exact
time a retry can be admitted, concurrency frees as queries end, pacing holds the rate."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from saeta.core.quotas import IDLE_FORGET_SECONDS, QuotaCaps, QuotaExceeded, Quotas, TokenBucket

OFF = QuotaCaps(0, 0, 0, 0, 0, 0)


def caps(**on: int) -> QuotaCaps:
    return QuotaCaps(**{**{k: 0 for k in OFF.__dataclass_fields__}, **on})


def test_queries_per_minute_per_user_refuse_with_when() -> None:
    q = Quotas(caps(queries_per_minute_per_user=3))
    for _ in range(3):
        q.admit("acme", "ana", 0.0)
    with pytest.raises(QuotaExceeded, match="3 queries a minute per user") as over:
        q.admit("acme", "ana", 0.0)
    assert over.value.code == "QUOTA_EXCEEDED"
    assert over.value.retry_after == pytest.approx(20.0)  # one token every 60/3 s
    q.admit("acme", "bob", 0.0)  # another user has their own
    with pytest.raises(QuotaExceeded):
        q.admit("acme", "ana", 19.9)
    q.admit("acme", "ana", 20.0)


def test_the_tenants_rate_is_shared_by_its_users_only() -> None:
    q = Quotas(caps(queries_per_minute_per_tenant=2))
    q.admit("acme", "ana", 0.0)
    q.admit("acme", "bob", 0.0)
    with pytest.raises(QuotaExceeded, match="per tenant"):
        q.admit("acme", "carl", 0.0)
    q.admit("globex", "ana", 0.0)


def test_a_refused_query_counts_against_nothing() -> None:
    q = Quotas(caps(queries_per_minute_per_user=1, queries_per_minute_per_tenant=3))
    q.admit("acme", "ana", 0.0)
    for _ in range(5):
        with pytest.raises(QuotaExceeded, match="per user"):
            q.admit("acme", "ana", 0.0)
    q.admit("acme", "bob", 0.0)  # the tenant's bucket lost nothing to ana's refusals
    q.admit("acme", "carl", 0.0)
    assert q.running() == 4  # acme, ana, bob, carl


def test_concurrency_frees_as_queries_end() -> None:
    q = Quotas(caps(concurrent_queries_per_user=2, concurrent_queries_per_tenant=3))
    q.admit("acme", "ana", 0.0)
    q.admit("acme", "ana", 0.0)
    with pytest.raises(QuotaExceeded, match="2 queries at once per user") as over:
        q.admit("acme", "ana", 0.0)
    assert over.value.retry_after > 0
    q.admit("acme", "bob", 0.0)
    with pytest.raises(QuotaExceeded, match="3 queries at once per tenant"):
        q.admit("acme", "carl", 0.0)
    q.done("acme", "ana")
    q.admit("acme", "carl", 0.0)
    for user in ("ana", "bob", "carl"):
        q.done("acme", user)
    assert q.running() == 0


def test_off_admits_everything_and_never_paces() -> None:
    q = Quotas(OFF)
    for i in range(10_000):
        q.admit("acme", "ana", i * 1e-6)
    assert q.pace("acme", "ana", 10**12, 0.0) == 0.0


def test_pacing_waits_for_the_debt() -> None:
    q = Quotas(caps(bytes_per_second_per_tenant=1000))
    assert q.pace("acme", "ana", 1000, 0.0) == 0.0  # the burst: one second's worth
    assert q.pace("acme", "ana", 500, 0.0) == pytest.approx(0.5)
    assert q.pace("acme", "bob", 500, 0.0) == pytest.approx(1.0)  # the tenant's, shared
    assert q.pace("globex", "ana", 1000, 0.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 2.0), st.integers(1, 5000)), min_size=1, max_size=60))
def test_paced_sends_never_exceed_the_rate(sends: list[tuple[float, int]]) -> None:
    """Senders that each wait as told before sending: by any time, what went out is at
    most one burst plus the rate times the time elapsed."""
    rate = 1000
    q = Quotas(caps(bytes_per_second_per_user=rate))
    now = 0.0
    sent: list[tuple[float, int]] = []
    for gap, nbytes in sends:
        now += gap
        sent.append((now + q.pace("acme", "ana", nbytes, now), nbytes))
    sent.sort()
    total = 0
    for at, nbytes in sent:
        total += nbytes
        assert total <= rate + rate * at + 1e-6


def test_idle_buckets_are_forgotten() -> None:
    q = Quotas(caps(queries_per_minute_per_user=10))
    for i in range(1000):
        q.admit("acme", f"user-{i}", 0.0)
        q.done("acme", f"user-{i}")
    q.admit("acme", "late", IDLE_FORGET_SECONDS + 60.0)
    assert len(q._rate_user) == 1


def test_a_bucket_refills_up_to_its_capacity_only() -> None:
    b = TokenBucket(5, 1.0, 0.0)
    b.take(5, 0.0)
    assert b.wait_for(1, 0.0) == pytest.approx(1.0)
    assert b.wait_for(5, 1000.0) == 0.0
    assert b.wait_for(6, 1000.0) == pytest.approx(1.0)


def test_one_of_several_replicas_applies_its_share_of_the_tenant_quotas() -> None:
    quotas = Quotas(QuotaCaps(queries_per_minute_per_tenant=6, concurrent_queries_per_tenant=4))
    quotas.share(3)  # 2 a minute and 1 at once here: 6 and 3 (at most 4) over the three
    quotas.admit("acme", "u1", 0.0)
    with pytest.raises(QuotaExceeded, match="1 queries at once per tenant on this replica"):
        quotas.admit("acme", "u2", 0.0)
    quotas.done("acme", "u1")
    quotas.admit("acme", "u2", 0.0)
    quotas.done("acme", "u2")
    with pytest.raises(QuotaExceeded, match="2 queries a minute per tenant on this replica") as refused:
        quotas.admit("acme", "u3", 0.0)
    assert refused.value.retry_after == pytest.approx(30.0)  # one token every 60/2 s
    quotas.share(1)  # alone again: the whole quota, refilled at its whole rate
    quotas.admit("acme", "u3", 10.0)  # 10 s at 6 a minute: one token back
    quotas.done("acme", "u3")
    assert quotas.replicas == 1
