"""gateway/checkpoints.py: a resume token checked before the connector is asked anything,
then against the partitions it names; RESUME_UNAVAILABLE when the source cannot resume or
its partitions changed."""

from __future__ import annotations

import pytest
from saeta.core import browser_protocol as bp
from saeta.core import resume_token as rt
from saeta.gateway.checkpoints import Resuming
from saeta.v1 import tunnel_pb2 as pb

SECRET = "checkpoints-test-secret-0123456789abcdef"
KEYS = rt.ResumeKeys(SECRET, rt.session_digest("sid"), 10_000)
TICKETS = ["a", "b", "c"]


def _query(resume: bp.Resume | None = None, resumable: bool = True) -> bp.RunQuery:
    return bp.RunQuery("q1", "ventas", None, None, (), False, resumable, resume)


def _token(position: rt.Position, tickets: list[str] = TICKETS) -> bp.Resume:
    query = rt.query_digest("q1", "ventas", None, None, False, ())
    token = rt.Token(KEYS.session, query, rt.partitions_digest(tickets), position, KEYS.expires_at)
    return bp.Resume(rt.sign(SECRET, token), position.rows)


def test_a_query_that_does_not_ask_has_no_resume_side() -> None:
    assert Resuming.asked(_query(resumable=False), KEYS, 0) is None
    assert Resuming.asked(bp.Subscribe("s1", "ventas", None), KEYS, 0) is None


def test_a_fresh_resumable_query_starts_from_the_beginning() -> None:
    resuming = Resuming.asked(_query(), KEYS, 0)
    assert resuming is not None and resuming.token is None
    assert resuming.progress(pb.FlightInfoResponse(resumable=True), TICKETS) is None
    assert resuming.able


def test_a_good_token_gives_its_position() -> None:
    position = rt.Position(2, ((1, 50),), 150)
    resuming = Resuming.asked(_query(_token(position)), KEYS, 0)
    assert resuming is not None
    progress = resuming.progress(pb.FlightInfoResponse(resumable=True), TICKETS)
    assert progress is not None and progress.position() == position


def test_a_row_count_that_is_not_the_tokens_is_refused_before_anything_is_asked() -> None:
    resume = _token(rt.Position(1, (), 10))
    with pytest.raises(rt.ResumeRefused):
        Resuming.asked(_query(bp.Resume(resume.token, 11)), KEYS, 0)


def test_a_source_that_cannot_resume_or_changed_partitions_is_unavailable() -> None:
    resuming = Resuming.asked(_query(_token(rt.Position(1, (), 10))), KEYS, 0)
    assert resuming is not None
    with pytest.raises(rt.ResumeUnavailable, match="cannot resume"):
        resuming.progress(pb.FlightInfoResponse(resumable=False), TICKETS)
    with pytest.raises(rt.ResumeUnavailable, match="partitions changed"):
        resuming.progress(pb.FlightInfoResponse(resumable=True), [*TICKETS, "d"])
