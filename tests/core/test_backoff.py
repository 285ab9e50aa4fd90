"""Reconnect delays: exponential, capped, each jittered within [delay/2, delay], so that
connectors that lost the same gateway at the same moment come back spread out."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from saeta.core.backoff import Backoff


@given(st.floats(0.01, 10), st.floats(0.01, 600), st.integers(0, 2**32 - 1), st.integers(0, 60))
def test_each_delay_is_within_its_jitter_window(base: float, cap: float, seed: int, attempts: int) -> None:
    backoff = Backoff(base=base, cap=cap, rng=random.Random(seed))
    for attempt in range(attempts):
        delay = min(cap, base * 2**attempt)
        got = backoff.next_delay()
        assert delay / 2 <= got <= delay


def test_reset_starts_over() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=random.Random(3))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_twenty_connectors_that_failed_together_come_back_spread_out() -> None:
    # Twenty connectors, each with its own random source, after the same 3 failed attempts.
    fourth = []
    for seed in range(20):
        backoff = Backoff(base=1.0, cap=60.0, rng=random.Random(seed))
        for _ in range(3):
            backoff.next_delay()
        fourth.append(backoff.next_delay())
    assert all(4.0 <= d <= 8.0 for d in fourth)
    assert max(fourth) - min(fourth) > 2.0  # spread over more than half of the window
    assert len({round(d, 3) for d in fourth}) == 20
