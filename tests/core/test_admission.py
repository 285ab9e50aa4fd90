from __future__ import annotations

import pytest
from saeta.core.admission import Unauthenticated


def test_the_oldest_makes_room_past_the_cap() -> None:
    gate: Unauthenticated[str] = Unauthenticated(2)
    assert gate.admit("a") is None and gate.admit("b") is None
    assert gate.admit("c") == "a"
    assert gate.admit("d") == "b"
    assert len(gate) == 2


def test_released_connections_are_not_counted() -> None:
    gate: Unauthenticated[str] = Unauthenticated(2)
    gate.admit("a")
    gate.admit("b")
    gate.release("a")
    gate.release("a")  # twice: a no-op
    assert gate.admit("c") is None and len(gate) == 2
    assert gate.admit("b") is None  # admitting one already counted evicts nothing


def test_a_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Unauthenticated(0)
