"""The HTTP port's edge, before anyone has proven who they are: uvicorn's h11 and
websockets-sansio protocols with a deadline and a bound on every connection.

- Every request (the first on a connection, and each one after on a kept-alive
  connection) must arrive whole within ``websocket.handshake_seconds``; a connection that
  sends nothing, trickles, or stops half-way is closed (HANDSHAKE_TIMEOUT). uvicorn itself
  times out only the idle gap between kept-alive requests, and restarts that on every byte.
- A head over the limits (16 KiB in all; for a WebSocket upgrade, websockets' 8 KiB per
  line and 128 headers too) is answered 431 or 414 (400 when malformed) and the
  connection closed. uvicorn left a WebSocket upgrade that websockets refused unanswered
  and open for ever.
- A WebSocket must be accepted by the gateway (its session checked) within the deadline
  plus the session check's own (same length), else it is dropped.
- Connections in any of these states are counted (core/admission.py): past
  ``limits.max_unauthenticated_connections`` the oldest is dropped for the new one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from saeta.core.admission import Unauthenticated
from saeta.core.throttle import LogThrottle
from saeta.gateway.ws_protocol import PartsWebSocketProtocol

log = logging.getLogger("saeta.gateway.http")

# The largest request head (request line and headers) the gateway reads; docs/protocol.md.
MAX_HEAD_BYTES = 16 * 1024
_TOO_LARGE_BODY = b"Request head larger than 16 KiB.\n"
TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY)
)
_EVICTION_LOG = LogThrottle(burst=5, window=10.0)
_TIMEOUT_LOG = LogThrottle(burst=20, window=10.0)


class _Edge:
    """What the two protocols share: the count of unauthenticated connections and the
    deadline. A connection evicted to make room is aborted (its descriptor freed at once)."""

    def __init__(self, seconds: float, cap: int) -> None:
        self.seconds = seconds
        self.pending: Unauthenticated[Any] = Unauthenticated(cap)

    def admit(self, conn: Any) -> None:
        evicted = self.pending.admit(conn)
        if evicted is not None:
            if _EVICTION_LOG.allow(asyncio.get_running_loop().time()):
                log.warning(
                    "code=TOO_MANY_UNAUTHENTICATED dropped the oldest of %d connections that have not "
                    "authenticated yet%s",
                    self.pending.cap,
                    _EVICTION_LOG.note(),
                )
            evicted.transport.abort()

    def timed_out(self, conn: Any, what: str) -> None:
        if _TIMEOUT_LOG.allow(asyncio.get_running_loop().time()):
            note = _TIMEOUT_LOG.note()
            log.info("code=HANDSHAKE_TIMEOUT closed a connection that %s within %.1f s%s", what, self.seconds, note)
        self.pending.release(conn)
        conn.transport.abort()


def edge_protocols(seconds: float, cap: int) -> tuple[type[H11Protocol], type[PartsWebSocketProtocol]]:
    """The HTTP and WebSocket protocol classes for uvicorn (``http=``, ``ws=``)."""
    edge = _Edge(seconds, cap)

    class EdgeWebSocketProtocol(PartsWebSocketProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _counted = True  # among the unauthenticated connections

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            edge.admit(self)
            # The head has arrived already (h11 read it); what is left is the session check,
            # bounded by the same deadline in the app: twice the deadline is a backstop.
            self._deadline = self.loop.call_later(2 * seconds + 1, self._accept_deadline)

        def connection_lost(self, exc: Exception | None) -> None:
            self._release()
            super().connection_lost(exc)

        def _release(self) -> None:
            self._counted = False
            edge.pending.release(self)
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _accept_deadline(self) -> None:
            self._deadline = None
            if not self.handshake_complete and not self.transport.is_closing():
                edge.timed_out(self, "was not accepted as a WebSocket")

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self.handshake_initiated and self.conn.handshake_exc is not None:
                self._refuse_head()

        def _refuse_head(self) -> None:
            """websockets refused the request head: its 414/431 answer (or a 400) goes out,
            and the connection is closed."""
            self.handshake_initiated = self.handshake_complete = self.close_sent = True
            self._release()
            answer = b"".join(self.conn.data_to_send())
            if not answer.startswith(b"HTTP/"):
                body = b"Failed to open a WebSocket connection: invalid HTTP request.\n"
                answer = (
                    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                )
            log.info("code=BAD_HANDSHAKE refused a WebSocket request: %s", self.conn.handshake_exc)
            self.transport.write(answer)
            self.transport.close()

        async def send(self, message: Any) -> None:
            await super().send(message)
            if self._counted and self.handshake_complete:  # accepted (session checked) or refused
                self._release()

    class EdgeH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _head_bytes = 0  # of the request head on its way in
        _tail = b""  # the last bytes of it seen, to find its end across packets

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            edge.admit(self)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            edge.pending.release(self)
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(seconds, self._head_deadline)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _receiving(self) -> bool:
            """A request is on its way in: its head, or its body (POST /query's, at most
            64 KiB, read by the app; no body is waited for past the deadline either)."""
            return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

        def _head_deadline(self) -> None:
            self._deadline = None
            if self._receiving() and not self.transport.is_closing():
                edge.timed_out(self, "sent no whole request")

        def data_received(self, data: bytes) -> None:
            if self._receiving():  # a request begins (or goes on): it has the deadline to arrive
                self._arm()
            if self.conn.their_state is h11.IDLE:
                # Only the head counts: a body (POST /query's) may come in the same packet.
                seen = self._tail + data
                end = seen.find(b"\r\n\r\n")
                self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
                self._tail = seen[-3:]
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._refuse_head()
                    return
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._head_bytes = 0
                self._tail = b""
            if not self._receiving():  # whole: the app answers it
                self._disarm()

        def _refuse_head(self) -> None:
            log.info("code=BAD_HANDSHAKE refused a request head over %d bytes", MAX_HEAD_BYTES)
            self._disarm()
            edge.pending.release(self)
            self.transport.write(TOO_LARGE)
            self.transport.close()

        def handle_websocket_upgrade(self, event: h11.Request) -> None:
            # The WebSocket protocol counts the connection from here on.
            self._disarm()
            edge.pending.release(self)
            super().handle_websocket_upgrade(event)

    return EdgeH11Protocol, EdgeWebSocketProtocol


def unauthenticated_cap(cap: int) -> int:
    """``limits.max_unauthenticated_connections``, within what the process may open: the
    soft limit on file descriptors is raised to the hard one, and the cap lowered to a
    quarter of it if need be, so that strangers can never hold every descriptor."""
    try:
        import resource  # (POSIX only)
    except ImportError:
        return cap
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    if soft != resource.RLIM_INFINITY and cap > soft // 4:
        log.warning(
            "limits.max_unauthenticated_connections %d lowered to %d: the process may open %d files (ulimit -n)",
            cap,
            max(1, soft // 4),
            soft,
        )
        cap = max(1, soft // 4)
    return cap
