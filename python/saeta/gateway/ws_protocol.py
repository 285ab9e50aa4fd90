"""uvicorn's websockets-sansio protocol plus one ASGI extension, ``saeta.websocket.send_parts``:
a binary message given as several buffers (our 8-byte frame header and a view of the
tunnel message's payload) goes out as one WebSocket frame, its header written first and
each buffer handed to the transport as it is. websockets' own send joins header and
payload into a new bytes object: a copy of every relayed byte the gateway does not need.

Only unmasked, uncompressed server frames are written this way (the gateway turns
permessage-deflate off); anything else falls back to the library's path."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Opcode
from websockets.protocol import State

EXTENSION = "saeta.websocket.send_parts"
Buffer = bytes | bytearray | memoryview

_FIN = 0x80


def frame_header(length: int) -> bytes:
    """RFC 6455 header of an unmasked, final binary frame of ``length`` payload bytes."""
    if length < 126:
        return struct.pack("!BB", _FIN | Opcode.BINARY, length)
    if length < 65536:
        return struct.pack("!BBH", _FIN | Opcode.BINARY, 126, length)
    return struct.pack("!BBQ", _FIN | Opcode.BINARY, 127, length)


class PartsWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if self.handshake_initiated and not self.close_sent:
            self.scope["extensions"][EXTENSION] = {"send": self.send_parts}

    async def send_parts(self, parts: Sequence[Buffer]) -> None:
        """Sends the concatenation of ``parts`` as one binary message."""
        await self.writable.wait()
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        if self.conn.extensions:
            await self.send({"type": "websocket.send", "bytes": b"".join(parts)})
            return
        self.transport.write(frame_header(sum(len(p) for p in parts)))
        for part in parts:
            self.transport.write(part)
