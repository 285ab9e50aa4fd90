"""`POST /query`: one query's stream over HTTP (docs/protocol.md, "HTTP streaming"), for
large raw results, where Chromium receives a fetch() body several times faster than a
WebSocket's frames. The session comes in the Authorization header (never in the URL), the
body is the socket's `query` message, and the answer is the socket's frames, each behind
an 8-byte prefix: u32 LE length of the frame, u32 LE kind (1: a text frame, 2: a binary
frame with its 8-byte header), so a binary frame's Arrow data stays 8-byte aligned.

The same checks as a socket (the origin, the session, its sockets, queries and quotas),
the same query code (gateway/query.py), the same bounds: a client that takes nothing for
`websocket.stalled_seconds` loses the query (CLIENT_TOO_SLOW), a revoked or expiring
session ends it (SESSION_REVOKED / UNAUTHORIZED as the last frame), and at most a few
frames wait between the query and the client.

Why one file: the request's checks, the stream and its response share one query's state,
as browser.py's socket does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from saeta.core import browser_protocol as bp
from saeta.core.browser_session import BrowserSession, Send, Start
from saeta.core.origins import origin_allowed
from saeta.core.resume_token import ResumeKeys, session_digest
from saeta.core.session_info import SessionInfo
from saeta.core.session_token import fingerprint
from saeta.errors import (
    ClientTooSlow,
    ControlPlaneUnavailable,
    DatasetNotFound,
    QueryCancelled,
    SaetaError,
    SessionRevoked,
    TooManySockets,
    Unauthorized,
)
from saeta.gateway.query import QueryContext, run_query
from saeta.gateway.query_parts import QueryParts
from saeta.gateway.session_watch import SessionWatch
from saeta.gateway.ws_protocol import Buffer


class Gateway(QueryParts, Protocol):
    """What of gateway/app.py's Gateway an HTTP query uses."""

    http_streams: set[HttpStream]

    @property
    def own_hosts(self) -> tuple[str, ...]: ...


log = logging.getLogger("saeta.gateway.http")

MEDIA_TYPE = "application/vnd.saeta.frames"
TEXT, BINARY = 1, 2
# Frames between the query and a client that reads slowly: the query waits past these.
QUEUED_FRAMES = 8
# HTTP statuses of the refusals that come before any frame.
STATUS = {"BAD_REQUEST": 400, "TOO_MANY_QUERIES": 429, "QUOTA_EXCEEDED": 429, "TOO_MANY_SOCKETS": 429}


def prefix(kind: int, size: int) -> bytes:
    return struct.pack("<II", size, kind)


def _refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"type": "error", "id": None, "code": code, "message": message}, status_code=status)


async def _body(request: Request) -> bytes | None:
    """The request body, None past the largest client message."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > bp.MAX_TEXT_FRAME_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class HttpStream:
    """One query's stream on one HTTP response."""

    def __init__(self, gateway: Gateway, session: SessionInfo, token: str, query: bp.RunQuery) -> None:
        self.gateway, self.session, self.token, self.query = gateway, session, token, query
        self.fp = fingerprint(token)
        self.frames: asyncio.Queue[bytes] = asyncio.Queue(QUEUED_FRAMES)
        self.task: asyncio.Task[None] | None = None
        self.ended: SaetaError | None = None  # why the stream was ended from outside
        self._released = False
        self.watch = SessionWatch(gateway.sessions, token, session, gateway.cfg.session_cache_seconds, self.end)

    async def _put(self, item: bytes) -> None:
        try:
            async with asyncio.timeout(self.gateway.cfg.stalled_seconds):
                await self.frames.put(item)
        except TimeoutError:
            log.info(
                "http query stalled code=CLIENT_TOO_SLOW tenant=%s session=%s: nothing taken for %gs",
                self.session.tenant,
                self.fp,
                self.gateway.cfg.stalled_seconds,
            )
            raise ClientTooSlow(f"the client took nothing for {self.gateway.cfg.stalled_seconds:g}s") from None

    async def send_text(self, text: str) -> None:
        data = text.encode()
        await self._put(prefix(TEXT, len(data)) + data)

    async def send_parts(self, parts: Sequence[Buffer]) -> None:
        size = sum(len(p) for p in parts)
        wait = self.gateway.socket_limits.quotas.pace(self.session.tenant, self.session.user_id, size, time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)
        await self._put(b"".join((prefix(BINARY, size), *parts)))

    def on_revoked(self, sid: str) -> None:
        self.watch.on_revoked(sid)

    def release(self) -> None:
        """Gives back the session's socket count, once, however the response ended
        (even when its body was never begun: a client gone before the first byte)."""
        if not self._released:
            self._released = True
            self.gateway.session_limits.close_socket(self.session.sid)
            if self.task is not None and not self.task.done():
                self.task.cancel()

    def end(self, why: SaetaError) -> None:
        if self.task is not None and not self.task.done() and self.ended is None:
            self.ended = why
            self.task.cancel()

    async def _run(self, state: BrowserSession) -> None:
        q = self.query
        cfg = self.gateway.cfg
        answer: str | None = None
        started, code = time.monotonic(), "OK"
        ctx: QueryContext | None = None
        try:
            if not self.session.allows(q.dataset):
                raise DatasetNotFound(f"no dataset {q.dataset!r}")  # exactly the answer for one that does not exist
            link = await self.gateway.router.route(self.session.tenant, q.dataset, self.fp)
            ctx = QueryContext(
                link,
                self.gateway.calls,
                self.gateway.relay,
                cfg.query_seconds,
                self.send_text,
                self.send_parts,
                cfg.max_partitions_in_flight,
                cfg.arrow_validation == "full",
                self.gateway.socket_limits.slots,
                self.session.sid,
                cfg.max_frame_bytes,
                ResumeKeys(cfg.secret_key, session_digest(self.session.sid), self.session.expires_at),
                self.gateway.metrics,
                "http",
                started,
                max_message_bytes=cfg.max_message_bytes,
                client_codecs=q.compression,
            )
            await run_query(q, state.next_stream(), ctx)
        except SaetaError as err:
            log.info(
                "http query refused code=%s tenant=%s session=%s: %s",
                err.code,
                self.session.tenant,
                self.fp,
                err.message,
            )
            answer, code = bp.error_frame_for(q.id, err), err.code
        except asyncio.CancelledError:
            ended = self.ended or QueryCancelled("query cancelled")
            answer, code = bp.error_frame_for(q.id, ended), ended.code
            if self.ended is None:
                raise  # the client went away: nobody to tell
        finally:
            state.finished(q.id)
            rows, nbytes = (ctx.rows_relayed, ctx.bytes_relayed) if ctx is not None else (0, 0)
            seconds = time.monotonic() - started
            self.gateway.outcomes.ended("http", self.session, self.fp, q, rows, nbytes, code, seconds)
        if answer is not None:
            with contextlib.suppress(ClientTooSlow):
                await self.send_text(answer)

    async def body(self, state: BrowserSession) -> AsyncIterator[bytes]:
        """The response body: the frames as the query makes them, until it has ended and
        every frame it made is out."""
        self.task = task = asyncio.create_task(self._run(state))
        self.gateway.http_streams.add(self)
        self.watch.start()
        try:
            while not (task.done() and self.frames.empty()):
                getter = asyncio.ensure_future(self.frames.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
        finally:
            self.watch.stop()
            self.gateway.http_streams.discard(self)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.release()
            log.info("http query closed tenant=%s session=%s", self.session.tenant, self.fp)


async def handle(gateway: Gateway, request: Request) -> Response:
    """``POST /query``: the checks of a socket's handshake and of its query message, then
    the stream (or a JSON refusal with its HTTP status before any frame)."""
    cfg = gateway.cfg
    origin, host = request.headers.get("origin"), request.headers.get("host")
    if not origin_allowed(origin, cfg.allowed_origins, host, request.url.scheme == "https", gateway.own_hosts):
        log.warning("http query refused code=ORIGIN_REFUSED origin=%.200r host=%.200r", origin, host)
        return _refusal(403, "ORIGIN_REFUSED", "this origin may not read the gateway")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _refusal(401, "UNAUTHORIZED", "the session goes in an Authorization: Bearer header")
    token = token.strip()
    if gateway.draining:
        return _refusal(503, "GATEWAY_DRAINING", "the gateway is shutting down: try again")
    try:
        text = await _body(request)
    except ClientDisconnect:
        return Response(status_code=400)
    if text is None:
        return _refusal(413, "BAD_REQUEST", f"the query message is larger than {bp.MAX_TEXT_FRAME_BYTES} bytes")
    try:
        async with asyncio.timeout(cfg.handshake_seconds):
            session = await gateway.sessions.validate(token)
    except TimeoutError:
        return _refusal(503, "CONTROL_PLANE_UNAVAILABLE", "the session check took too long: try again")
    except SessionRevoked:
        return _refusal(403, "SESSION_REVOKED", "session revoked")
    except Unauthorized:
        return _refusal(401, "UNAUTHORIZED", "session invalid or expired")
    except ControlPlaneUnavailable as err:
        return _refusal(503, err.code, f"{err.message}: try again")
    try:
        action = bp.parse_client_message(text)
    except bp.RequestError as err:
        return _refusal(400, err.code, err.message)
    if not isinstance(action, bp.RunQuery):
        return _refusal(400, "BAD_REQUEST", "only a query streams over HTTP; subscriptions use the WebSocket")
    if not gateway.session_limits.open_socket(session.sid):
        n = cfg.max_sockets_per_session
        refused = TooManySockets(f"the session has {n} sockets and HTTP queries open already")
        return _refusal(429, refused.code, refused.message)
    state = BrowserSession(
        session.sid, session.tenant, session.user_id, 1, gateway.socket_limits.sessions, gateway.socket_limits.quotas
    )
    decision = state.receive(text.decode(), time.monotonic())
    if isinstance(decision, Send):
        gateway.session_limits.close_socket(session.sid)
        code = json.loads(decision.text).get("code", "BAD_REQUEST")
        return Response(decision.text, status_code=STATUS.get(code, 400), media_type="application/json")
    assert isinstance(decision, Start) and isinstance(decision.request, bp.RunQuery)
    stream = HttpStream(gateway, session, token, decision.request)
    log.info("http query open tenant=%s user=%s session=%s", session.tenant, session.user_id, stream.fp)
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return _Streamed(stream, stream.body(state), media_type=MEDIA_TYPE, headers=headers)


class _Streamed(StreamingResponse):
    """A StreamingResponse that releases its stream however it ends."""

    def __init__(self, stream: HttpStream, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stream.release()
