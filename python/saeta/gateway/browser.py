"""One browser WebSocket (`/stream/{session_id}`): session check before anything else,
then the protocol v1 loop. What each client message means, and the socket's query table,
are decided in core/browser_session.py; this shell sends, starts and cancels.

Why one file: it is the whole shell of one socket (paced sends, the stall watchdog, the
close, the loop, the session's re-checks), each a few lines around core's decisions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from saeta.config import GatewayConfig
from saeta.core import browser_protocol as bp
from saeta.core.browser_session import (
    BINARY_REFUSED,
    BrowserSession,
    Cancel,
    Decision,
    ListDatasets,
    Send,
    Start,
    Stop,
)
from saeta.core.quotas import Quotas
from saeta.core.resume_token import ResumeKeys, session_digest
from saeta.core.session_info import SessionInfo
from saeta.core.session_limits import SessionLimits
from saeta.core.session_token import fingerprint
from saeta.core.throttle import LogThrottle
from saeta.errors import (
    ClientTooSlow,
    ConnectorOffline,
    ControlPlaneUnavailable,
    DatasetNotFound,
    QueryCancelled,
    QueryFailed,
    SaetaError,
    SessionRevoked,
    Unauthorized,
)
from saeta.gateway.audit import Outcomes
from saeta.gateway.call_slots import CallSlots
from saeta.gateway.data_calls import DataCalls
from saeta.gateway.query import QueryContext, run_query, run_subscription
from saeta.gateway.router import Router
from saeta.gateway.sessions import SessionValidator
from saeta.gateway.ws_protocol import ABORT_EXTENSION, EXTENSION, Buffer
from saeta.relay import Relay

log = logging.getLogger("saeta.gateway.browser")

CLOSE_TRY_AGAIN_LATER = 1013
# How long a close frame may wait to go out (a client that reads nothing leaves no room
# for it) before the connection is dropped without one.
CLOSE_FRAME_SECONDS = 5.0
# Lines a flood of bad requests (or of crashing queries) may write, gateway-wide: a burst
# per window, then one line saying how many were held back. Every request is still answered.
BAD_REQUEST_LOG = LogThrottle(burst=20, window=10.0)
CRASH_LOG = LogThrottle(burst=5, window=10.0)
QUOTA_LOG = LogThrottle(burst=20, window=10.0)


@dataclass(frozen=True)
class SocketLimits:
    """What a socket shares with the others: its session's counts over all its sockets, and
    its tenant's data-call slots (fairly shared among the tenant's sessions)."""

    sessions: SessionLimits
    slots: CallSlots
    quotas: Quotas


class BrowserSocket:
    def __init__(
        self,
        ws: WebSocket,
        token: str,
        session: SessionInfo,
        cfg: GatewayConfig,
        router: Router,
        calls: DataCalls,
        sessions: SessionValidator,
        relay: Relay,
        limits: SocketLimits,
        outcomes: Outcomes | None = None,
    ) -> None:
        self.ws, self.token, self.session = ws, token, session
        self.outcomes = outcomes
        self.cfg, self.router, self.calls, self.sessions, self.relay = cfg, router, calls, sessions, relay
        self.limits = limits
        self.fp = fingerprint(token)
        self.queries: dict[str, asyncio.Task[None]] = {}
        self.subscriptions: dict[str, asyncio.Event] = {}  # by id: set to unsubscribe
        self._send_lock = asyncio.Lock()
        self.state = BrowserSession(
            session.sid, session.tenant, session.user_id, cfg.max_queries_per_socket, limits.sessions, limits.quotas
        )
        self.closed = False
        self._closing: asyncio.Task[None] | None = None
        extension = ws.scope.get("extensions", {}).get(EXTENSION)
        self._write_parts: Callable[[Sequence[Buffer]], Awaitable[None]] | None = (
            extension["send"] if extension else None
        )
        abort = ws.scope.get("extensions", {}).get(ABORT_EXTENSION)
        self._abort: Callable[[], None] | None = abort["abort"] if abort else None

    async def send_text(self, text: str) -> None:
        async with self._send_lock, self._unless_stalled():
            await self.ws.send_text(text)

    async def send_parts(self, parts: Sequence[Buffer]) -> None:
        """One binary message made of ``parts``, written without joining them when the
        server offers the send_parts extension (ours does), else joined and sent; first
        paced to the tenant's and user's byte quotas."""
        wait = self.limits.quotas.pace(
            self.session.tenant, self.session.user_id, sum(len(p) for p in parts), time.monotonic()
        )
        if wait > 0:
            await asyncio.sleep(wait)
        async with self._send_lock, self._unless_stalled():
            if self._write_parts is not None:
                await self._write_parts(parts)
            else:
                await self.ws.send_bytes(b"".join(parts))

    @contextlib.asynccontextmanager
    async def _unless_stalled(self) -> AsyncIterator[None]:
        """A send that cannot go out for ``websocket.stalled_seconds`` (the client reads
        nothing: its socket stays full) closes the socket with 4008; its queries end, down
        to the connectors' readers. Flow control slows a slow client; this ends a stuck one."""
        try:
            async with asyncio.timeout(self.cfg.stalled_seconds):
                yield
        except TimeoutError:
            log.info(
                "socket stalled, closing code=CLIENT_TOO_SLOW tenant=%s session=%s: nothing taken for %gs",
                self.session.tenant,
                self.fp,
                self.cfg.stalled_seconds,
            )
            if self._closing is None:  # kept: the loop holds only a weak reference to a task
                self._closing = asyncio.get_running_loop().create_task(self.close(bp.CLOSE_TOO_SLOW, "client too slow"))
            raise ClientTooSlow(f"the client took nothing for {self.cfg.stalled_seconds:g}s") from None

    def _open(self) -> bool:
        """Not closed, nor being closed: worth sending to."""
        return not self.closed and self._closing is None

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        for task in self.queries.values():
            task.cancel()
        if self.ws.application_state != WebSocketState.CONNECTED:
            return
        with contextlib.suppress(Exception):  # anything else: the connection is already gone
            try:
                async with asyncio.timeout(CLOSE_FRAME_SECONDS):
                    await self.ws.close(code, reason)
            except TimeoutError:
                log.info(
                    "socket dropped tenant=%s session=%s: close %d not taken within %gs",
                    self.session.tenant,
                    self.fp,
                    code,
                    CLOSE_FRAME_SECONDS,
                )
                if self._abort is not None:
                    self._abort()

    async def run(self) -> None:
        watcher = asyncio.create_task(self._watch_session())
        try:
            while not self.closed:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    await self.send_text(BINARY_REFUSED)
                    continue
                await self._carry_out(self.state.receive(text, time.monotonic()))
        except (WebSocketDisconnect, ClientTooSlow):  # gone, or given up on (the close is under way)
            pass
        finally:
            if self._closing is not None:  # a close that this socket started itself (stalled, revoked)
                await asyncio.gather(self._closing, return_exceptions=True)
            self.closed = True
            watcher.cancel()
            for task in list(self.queries.values()):
                task.cancel()
            if self.queries:
                await asyncio.gather(*self.queries.values(), return_exceptions=True)

    async def _carry_out(self, decision: Decision) -> None:
        """What core/browser_session.py decided for one client message."""
        if isinstance(decision, Send):
            if decision.refusal is not None:
                self._log_refusal(*decision.refusal)
            await self.send_text(decision.text)
        elif isinstance(decision, ListDatasets):
            await self._list()
        elif isinstance(decision, Cancel):
            if (task := self.queries.get(decision.id)) is not None:  # the two tables agree; never a KeyError
                task.cancel()
        elif isinstance(decision, Stop):
            if (stop := self.subscriptions.get(decision.id)) is not None:
                stop.set()
        elif isinstance(decision, Start):
            q = decision.request
            stop = None
            if isinstance(q, bp.Subscribe):
                stop = self.subscriptions[q.id] = asyncio.Event()
            self.queries[q.id] = asyncio.create_task(self._query(q, stop))
            # Let the task start before the next message is read: a task cancelled before
            # its first step never runs its handlers, so a cancel that came right behind
            # its query would end it with no answer to the client.
            await asyncio.sleep(0)

    def _log_refusal(self, kind: str, code: str, message: str) -> None:
        throttle = QUOTA_LOG if kind == "quota" else BAD_REQUEST_LOG
        if throttle.allow(time.monotonic()):
            what = "query refused" if kind == "quota" else "bad request"
            log.info(
                "%s code=%s tenant=%s session=%s: %s%s",
                what,
                code,
                self.session.tenant,
                self.fp,
                message,
                throttle.note(),
            )

    async def _list(self) -> None:
        try:
            served = await self.router.datasets(self.session.tenant)
        except ConnectorOffline as offline:
            await self.send_text(bp.error_frame_for(None, offline))
            return
        names = sorted(d for d in served if self.session.allows(d))
        answer = bp.datasets_frame([{"name": n} for n in names])
        if len(answer.encode()) > self.cfg.max_frame_bytes:
            too_many = QueryFailed(f"the {len(names)} dataset names exceed the gateway's websocket.max_frame_bytes")
            await self.send_text(bp.error_frame_for(None, too_many))
            return
        await self.send_text(answer)

    async def _query(self, q: bp.RunQuery | bp.Subscribe, stop: asyncio.Event | None = None) -> None:
        answer: str | None = None  # the error frame, when the query fails
        started, code = time.monotonic(), "OK"
        ctx: QueryContext | None = None
        try:
            if not self.session.allows(q.dataset):
                # Exactly the answer for a dataset that does not exist.
                raise DatasetNotFound(f"no dataset {q.dataset!r}")
            link = await self.router.route(self.session.tenant, q.dataset, self.fp)
            stream_id = self.state.next_stream()
            ctx = QueryContext(
                link,
                self.calls,
                self.relay,
                self.cfg.query_seconds,
                self.send_text,
                self.send_parts,
                self.cfg.max_partitions_in_flight,
                self.cfg.arrow_validation == "full",
                self.limits.slots,
                self.session.sid,
                self.cfg.max_frame_bytes,
                ResumeKeys(self.cfg.secret_key, session_digest(self.session.sid), self.session.expires_at),
                self.outcomes.metrics if self.outcomes is not None else None,
                "socket",
                started,
                max_message_bytes=self.cfg.max_message_bytes,
                client_codecs=q.compression,
            )
            if isinstance(q, bp.Subscribe):
                assert stop is not None
                await run_subscription(q, stream_id, ctx, stop)
            else:
                await run_query(q, stream_id, ctx)
        except SaetaError as err:
            log.info(
                "query refused code=%s tenant=%s session=%s: %s", err.code, self.session.tenant, self.fp, err.message
            )
            answer, code = bp.error_frame_for(q.id, err), err.code
        except asyncio.CancelledError:
            answer, code = bp.error_frame_for(q.id, QueryCancelled("query cancelled")), QueryCancelled.code
        except Exception:
            if CRASH_LOG.allow(time.monotonic()):
                log.exception("query crashed tenant=%s session=%s%s", self.session.tenant, self.fp, CRASH_LOG.note())
            answer, code = bp.error_frame(q.id, "INTERNAL", "internal error"), "INTERNAL"
        finally:
            if self.outcomes is not None:
                rows, nbytes = (ctx.rows_relayed, ctx.bytes_relayed) if ctx is not None else (0, 0)
                seconds = time.monotonic() - started
                self.outcomes.ended("socket", self.session, self.fp, q, rows, nbytes, code, seconds)
            # The id is free before the client hears the query ended: it may ask again
            # (a resume) as soon as it reads the answer.
            self.queries.pop(q.id, None)
            self.subscriptions.pop(q.id, None)
            self.state.finished(q.id)
        if answer is not None and self._open():
            with contextlib.suppress(Exception):
                await self.send_text(answer)

    async def _watch_session(self) -> None:
        """Closes the socket when the session expires or stops validating (revoked,
        unknown to the control plane). A control plane that is down does not close it."""
        interval = max(1.0, self.cfg.session_cache_seconds)
        while not self.closed:
            left = self.session.expires_at - time.time()
            await asyncio.sleep(max(0.05, min(interval, left)))
            try:
                self.session = await self.sessions.validate(self.token)
            except SessionRevoked:
                log.info("session revoked, closing tenant=%s session=%s", self.session.tenant, self.fp)
                await self.close(bp.CLOSE_REVOKED, "session revoked")
            except Unauthorized as err:
                log.info("session no longer valid tenant=%s session=%s: %s", self.session.tenant, self.fp, err.message)
                await self.close(bp.CLOSE_SESSION_INVALID, "session invalid or expired")
            except ControlPlaneUnavailable:
                if time.time() >= self.session.expires_at:
                    await self.close(bp.CLOSE_SESSION_INVALID, "session expired")

    def on_revoked(self, sid: str) -> None:
        if sid == self.session.sid and not self.closed and self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self.close(bp.CLOSE_REVOKED, "session revoked"))
