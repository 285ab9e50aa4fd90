"""core/query_progress.py: partitions begin in order; a resumed query reads again the
ones its token lists as running, from their row counts, then those never begun."""

from __future__ import annotations

import pytest
from saeta.core.query_progress import Progress
from saeta.core.resume_token import Position, ResumeUnavailable


def test_partitions_begin_in_order_and_the_position_follows() -> None:
    p = Progress(3)
    assert p.begin() == (0, 0)
    assert p.begin() == (1, 0)
    p.sent(0, 10)
    p.sent(1, 5)
    assert p.position() == Position(2, ((0, 10), (1, 5)), 15)
    p.finished(0)
    assert p.position() == Position(2, ((1, 5),), 15)
    assert p.begin() == (2, 0)
    p.finished(1)
    p.finished(2)
    assert p.begin() is None
    assert p.position() == Position(3, (), 15)


def test_a_resumed_query_reads_the_running_partitions_again_from_their_rows() -> None:
    p = Progress(4, Position(3, ((0, 7), (2, 3)), 30))
    assert p.position() == Position(3, ((0, 7), (2, 3)), 30)
    assert p.begin() == (0, 7)
    p.sent(0, 1)
    assert p.position() == Position(3, ((0, 8), (2, 3)), 31)  # partition 2 still to read again
    assert p.begin() == (2, 3)
    assert p.begin() == (3, 0)
    assert p.begin() is None
    assert p.rows == 31


def test_a_token_naming_partitions_the_dataset_no_longer_has_cannot_resume() -> None:
    with pytest.raises(ResumeUnavailable):
        Progress(2, Position(3, (), 0))
    with pytest.raises(ResumeUnavailable):
        Progress(2, Position(2, ((5, 0),), 0))
