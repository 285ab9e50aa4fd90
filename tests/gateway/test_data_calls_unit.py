"""The gateway's table of expected data calls: claimed once; a call whose query ended
before its DoGet came is remembered (for its own tenant, once, and only so many)."""

from __future__ import annotations

import asyncio

from saeta.gateway.data_calls import ENDED_REMEMBERED, DataCalls


def test_calls_are_claimed_once_and_late_ones_of_ended_queries_are_recognised() -> None:
    async def main() -> None:
        calls = DataCalls()
        served = calls.expect("acme")
        assert calls.claim(served.call_id) is served
        assert calls.claim(served.call_id) is None
        calls.drop(served)  # claimed, then its query ended: nothing to remember
        assert not calls.ended_unclaimed(served.call_id, "acme")

        cancelled = calls.expect("acme")
        calls.drop(cancelled)  # its query ended before the DoGet came
        assert calls.claim(cancelled.call_id) is None
        assert not calls.ended_unclaimed(cancelled.call_id, "globex")  # another tenant's guess
        cancelled = calls.expect("acme")
        calls.drop(cancelled)
        assert calls.ended_unclaimed(cancelled.call_id, "acme")
        assert not calls.ended_unclaimed(cancelled.call_id, "acme")  # once
        assert not calls.ended_unclaimed("0" * 32, "acme")

        dropped = [calls.expect("acme") for _ in range(ENDED_REMEMBERED + 10)]
        for call in dropped:
            calls.drop(call)
        assert not calls.ended_unclaimed(dropped[0].call_id, "acme")  # the oldest are forgotten
        assert calls.ended_unclaimed(dropped[-1].call_id, "acme")

    asyncio.run(main())
