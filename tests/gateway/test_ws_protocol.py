"""The send_parts extension writes the same bytes websockets would for the joined message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from saeta.gateway.ws_protocol import frame_header
from websockets.frames import Frame, Opcode


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, (1 << 32) + 5])
def test_header_lengths_match_websockets(length: int) -> None:
    header = frame_header(length)
    # websockets serialises header + payload; build a frame of the same length lazily.
    expected = Frame(Opcode.BINARY, b"\0" * min(length, 1 << 20)).serialize(mask=False)
    if length <= 1 << 20:
        assert header + b"\0" * length == expected
    else:
        assert header[:2] == bytes([0x82, 127])
        assert int.from_bytes(header[2:], "big") == length


@given(st.lists(st.binary(max_size=300), max_size=5))
def test_parts_frame_equals_joined_frame(parts: list[bytes]) -> None:
    joined = b"".join(parts)
    assert frame_header(len(joined)) + joined == Frame(Opcode.BINARY, joined).serialize(mask=False)
