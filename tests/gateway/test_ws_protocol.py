"""The send_parts extension writes the same bytes websockets would for the joined
message; a connection whose peer reads nothing is still closed, by an abort."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from saeta.gateway.ws_protocol import _BoundedCloseTransport, frame_header
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


def test_a_close_that_cannot_drain_is_an_abort_after_the_linger() -> None:
    """A peer that reads nothing: asyncio alone would wait forever to flush the buffer
    before closing; the bounded transport aborts it once the linger is over."""

    async def main() -> float:
        loop = asyncio.get_running_loop()
        lost = loop.create_future()

        class Recorder(asyncio.Protocol):
            def connection_lost(self, exc: Exception | None) -> None:
                lost.set_result(None)

        peers: list[asyncio.StreamWriter] = []

        async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peers.append(writer)

        server = await asyncio.start_server(never_read, "127.0.0.1", 0, limit=1024)
        port = server.sockets[0].getsockname()[1]
        try:
            raw, _ = await loop.create_connection(Recorder, "127.0.0.1", port)
            transport = _BoundedCloseTransport(raw, loop, linger=0.5)
            while raw.get_write_buffer_size() == 0:  # until the peer's window is shut
                transport.write(b"x" * (1 << 20))
                await asyncio.sleep(0.01)
            started = loop.time()
            transport.close()
            await asyncio.wait_for(lost, 30)
            return loop.time() - started
        finally:
            for peer in peers:
                peer.close()
            server.close()
            await server.wait_closed()

    seconds = asyncio.run(main())
    assert seconds >= 0.5  # the linger, then the abort
