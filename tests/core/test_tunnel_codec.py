"""The tunnel's hand encoding and the typed abort of a data call."""

from __future__ import annotations

from saeta.core.tunnel_codec import Abort, encode_arrow_chunk
from saeta.v1 import tunnel_pb2 as pb


def test_an_abort_says_its_status_as_a_value() -> None:
    refused = Abort("invalid Arrow data", invalid_data=True)
    assert refused.status_message == "INVALID_DATA: invalid Arrow data"
    stopped = Abort("query stopped")
    assert (stopped.invalid_data, stopped.status_message) == (False, "query stopped")
    # A reason that merely looks like the prefix is not invalid data.
    assert not Abort("INVALID_DATA: looks like it").invalid_data


def test_hand_encoding_is_protobufs() -> None:
    parts = [b"\x01" * 200, b"", b"\x02" * 3]
    assert encode_arrow_chunk(parts) == pb.ArrowChunk(data=b"".join(parts)).SerializeToString()
    assert encode_arrow_chunk([]) == b""
