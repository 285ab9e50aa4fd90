"""uvicorn's websockets-sansio protocol plus one ASGI extension, ``saeta.websocket.send_parts``:
a binary message given as several buffers (our 8-byte frame header and a view of the
tunnel message's payload) goes out as one WebSocket frame, its header written first and
each buffer handed to the transport as it is. websockets' own send joins header and
payload into a new bytes object: a copy of every relayed byte the gateway does not need.

Only unmasked, uncompressed server frames are written this way (the gateway turns
permessage-deflate off); anything else falls back to the library's path.

Closing is bounded too. asyncio closes a transport only once its write buffer has drained,
so a peer that reads nothing (its receive window stays shut) would hold the connection,
its buffers and its task forever, whatever close code was sent. Here a transport that is
still open ``close_timeout`` (10 s) after it was closed is aborted, and a second extension,
``saeta.websocket.abort``, lets the gateway drop a connection it has given up on at once."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Opcode
from websockets.protocol import State

EXTENSION = "saeta.websocket.send_parts"
ABORT_EXTENSION = "saeta.websocket.abort"
Buffer = bytes | bytearray | memoryview

_FIN = 0x80


def frame_header(length: int) -> bytes:
    """RFC 6455 header of an unmasked, final binary frame of ``length`` payload bytes."""
    if length < 126:
        return struct.pack("!BB", _FIN | Opcode.BINARY, length)
    if length < 65536:
        return struct.pack("!BBH", _FIN | Opcode.BINARY, 126, length)
    return struct.pack("!BBQ", _FIN | Opcode.BINARY, 127, length)


class _BoundedCloseTransport:
    """The connection's transport, whose close() aborts it if it is still open
    ``linger`` seconds later (its buffer never drained). Everything else is delegated."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, linger: float) -> None:
        self._transport, self._loop, self._linger = transport, loop, linger
        self._abort_timer: asyncio.TimerHandle | None = None

    def close(self) -> None:
        self._transport.close()
        if self._abort_timer is None:
            self._abort_timer = self._loop.call_later(self._linger, self._transport.abort)

    def lost(self) -> None:
        if self._abort_timer is not None:
            self._abort_timer.cancel()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class PartsWebSocketProtocol(WebSocketsSansIOProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        super().connection_made(_BoundedCloseTransport(transport, self.loop, self.close_timeout))  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if isinstance(self.transport, _BoundedCloseTransport):
            self.transport.lost()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if self.handshake_initiated and not self.close_sent:
            self.scope["extensions"][EXTENSION] = {"send": self.send_parts}
            self.scope["extensions"][ABORT_EXTENSION] = {"abort": self.abort}

    def abort(self) -> None:
        """Drops the connection now, whatever is left in its buffers."""
        self.transport.abort()

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
