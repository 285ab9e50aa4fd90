from __future__ import annotations

import asyncio
import sys

import pytest
from saeta import memory_trim


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_glibc_trim_is_found_and_runs() -> None:
    assert memory_trim.TRIM is not None
    assert memory_trim.TRIM() in (0, 1)  # 1: memory was given back
    memory_trim.give_back()


def test_the_heap_is_trimmed_only_after_transfers_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory_trim, "give_back", lambda: calls.append(1))

    async def main() -> None:
        loop = asyncio.create_task(memory_trim.trim_while_running(0.01))
        await asyncio.sleep(0.1)
        assert calls == []  # nothing ended: an idle process is not walked
        memory_trim.transfer_ended()
        await asyncio.sleep(0.1)
        assert calls == [1, 1]  # that round and the next, not every round after
        memory_trim.transfer_ended()
        memory_trim.transfer_ended()
        await asyncio.sleep(0.1)
        assert calls == [1, 1, 1, 1]
        loop.cancel()

    asyncio.run(main())


def test_zero_seconds_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_trim, "give_back", lambda: pytest.fail("trimmed"))
    asyncio.run(asyncio.wait_for(memory_trim.trim_while_running(0), 1))
