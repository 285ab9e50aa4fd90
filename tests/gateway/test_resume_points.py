"""gateway/data_calls.py's resume_of: a connector's resume point (ArrowChunk.resume_at) is
checked before the gateway keeps it: bounded, nothing else in its message, a cursor of at
most MAX_CURSOR_BYTES, a skip that is not negative; anything else is TUNNEL_MESSAGE_INVALID."""

from __future__ import annotations

import pytest
from saeta.core.tunnel_codec import MAX_CURSOR_BYTES, MAX_RESUME_BYTES, RESUME_TAG
from saeta.errors import RelayError
from saeta.gateway.data_calls import Resume, resume_of
from saeta.v1 import tunnel_pb2 as pb


def point(cursor: bytes, skip: int, **more: object) -> bytes:
    return pb.ArrowChunk(resume_at=pb.ResumePoint(cursor=cursor, skip=skip), **more).SerializeToString()


def test_a_resume_point_is_read_and_an_empty_cursor_is_none() -> None:
    assert resume_of(point(b"c" * MAX_CURSOR_BYTES, 7)) == Resume(b"c" * MAX_CURSOR_BYTES, 7)
    assert resume_of(point(b"", 0)) == Resume(None, 0)
    assert point(b"", 0)[:1] == RESUME_TAG


@pytest.mark.parametrize(
    "raw",
    [
        point(b"c" * (MAX_CURSOR_BYTES + 1), 0),  # a cursor over its bound
        point(b"c", -1),  # a negative skip
        point(b"c", 0, end=True),  # something else in the message
        point(b"c", 0, data=b"x"),
        RESUME_TAG + b"\xff\xff",  # not a protobuf message
        # over the message's bound: a good point padded with an unknown field (15)
        point(b"c", 0)
        + b"\x7a"
        + bytes([0x80 | (MAX_RESUME_BYTES & 0x7F), MAX_RESUME_BYTES >> 7])
        + b"p" * MAX_RESUME_BYTES,
    ],
)
def test_anything_else_is_refused(raw: bytes) -> None:
    with pytest.raises(RelayError) as refused:
        resume_of(raw)
    assert refused.value.code == "TUNNEL_MESSAGE_INVALID"
