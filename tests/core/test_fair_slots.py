from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from saeta.core.fair_slots import FairSlots


def test_an_owner_holds_at_most_its_share_and_the_total_is_never_passed() -> None:
    slots: FairSlots[str, int] = FairSlots(total=3, per_owner=2)
    assert slots.request("a", 1) and slots.request("a", 2)
    assert not slots.request("a", 3)  # a is at its own cap, though one slot is free
    assert slots.request("b", 4)  # b is not held back by a
    assert not slots.request("b", 5)  # the total is reached
    assert slots.in_use == 3 and slots.waiting() == 2


def test_freed_slots_go_round_robin_to_waiting_owners() -> None:
    slots: FairSlots[str, str] = FairSlots(total=2, per_owner=2)
    assert slots.request("hog", "h0") and slots.request("hog", "h1")
    for i in range(2, 6):
        assert not slots.request("hog", f"h{i}")
    assert not slots.request("quiet", "q0")  # queued after four of hog's
    assert slots.release("hog") == ["h2"]
    assert slots.release("hog") == ["q0"]  # its turn, though queued last
    assert slots.release("hog") == ["h3"]


def test_a_slot_freed_by_an_owner_at_its_cap_goes_to_another_owner() -> None:
    slots: FairSlots[str, str] = FairSlots(total=4, per_owner=1)
    assert slots.request("a", "a0")
    assert not slots.request("a", "a1")
    assert slots.request("b", "b0")
    assert slots.release("b") == []  # a waits for a slot of its own, not b's
    assert slots.release("a") == ["a1"]


def test_cancel_takes_back_only_a_queued_waiter() -> None:
    slots: FairSlots[str, str] = FairSlots(total=1, per_owner=1)
    assert slots.request("a", "a0")
    assert not slots.request("b", "b0")
    assert slots.cancel("b", "b0") and not slots.cancel("b", "b0")
    assert not slots.cancel("a", "a0")  # granted: the caller holds it and must release it
    assert slots.release("a") == []
    with pytest.raises(ValueError, match="without a slot"):
        slots.release("a")


@given(st.lists(st.tuples(st.sampled_from(["req", "rel", "can"]), st.integers(0, 3)), max_size=200))
def test_invariants_hold_whatever_the_order(ops: list[tuple[str, int]]) -> None:
    """Never more than the total or an owner's share in use; a granted waiter is never
    queued any more; no slot is lost (what is held adds up to what is in use)."""
    slots: FairSlots[int, int] = FairSlots(total=4, per_owner=2)
    queued: dict[int, list[int]] = {}
    held: dict[int, int] = {}
    next_waiter = 0
    for op, owner in ops:
        if op == "req":
            next_waiter += 1
            if slots.request(owner, next_waiter):
                held[owner] = held.get(owner, 0) + 1
            else:
                queued.setdefault(owner, []).append(next_waiter)
        elif op == "rel" and held.get(owner):
            held[owner] -= 1
            for waiter in slots.release(owner):
                who = next(o for o, ws in queued.items() if waiter in ws)
                queued[who].remove(waiter)
                held[who] = held.get(who, 0) + 1
        elif op == "can" and queued.get(owner):
            assert slots.cancel(owner, queued[owner].pop(0))
        assert slots.in_use == sum(held.values()) <= 4
        assert all(slots.held(o) == n <= 2 for o, n in held.items())
        assert slots.waiting() == sum(len(ws) for ws in queued.values())
        # Nothing waits while a slot it could take is free.
        if slots.in_use < 4:
            assert all(slots.held(o) >= 2 for o, ws in queued.items() if ws)
