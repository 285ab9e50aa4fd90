"""uvicorn's h11 protocol with a deadline on the first request: a connection that has not
sent a whole request line and headers within the deadline is closed. Without it, idle or
slow-loris connections hold sockets forever (uvicorn only times out keep-alive idles)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("saeta.gateway.http")


def deadline_protocol(seconds: float) -> type[H11Protocol]:
    class DeadlineH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._deadline = self.loop.call_later(seconds, self._first_request_deadline)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _first_request_deadline(self) -> None:
            self._deadline = None
            if self.headers is None and not self.transport.is_closing():
                log.info("code=HANDSHAKE_TIMEOUT closed a connection that sent no request within %.1f s", seconds)
                self.transport.close()

    return DeadlineH11Protocol
