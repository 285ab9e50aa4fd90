"""Session validation: the signature and expiry locally first (forged ids never reach
the control plane), then the revocation state, then the control plane over HTTP, cached
for a short TTL that never passes the session's expiry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

import httpx

from saeta.core.session_info import SessionInfo, parse_session_info
from saeta.core.session_token import fingerprint, issue_service_token, issue_session, verify_session
from saeta.errors import ControlPlaneUnavailable, SessionRevoked, Unauthorized
from saeta.gateway.revocation import Revocations

log = logging.getLogger("saeta.gateway.sessions")

MAX_CACHED = 100_000
MAX_ANSWER_BYTES = 1024 * 1024
# Control-plane calls in flight at once, and the HTTP connections kept for them (the
# client is built with the same number). httpcore's pool scans every queued request against
# every connection on each event, and checks every idle connection's socket before each
# request, so its cost grows with both. Measured, 1,000 new sessions at once: with 32 (and
# the default 100 connections) the gateway spent 11-12 CPU-s, with 16 10, with 8 7.5-7.7, with
# 4 8.3; wall time 16-17 s -> 12.5 s. Not measured, by arithmetic: against a control plane
# 20 ms away, 8 calls allow about 400 checks a second; answers are cached per session.
MAX_CALLS_IN_FLIGHT = 8
# The readiness probe's lookup: a validly signed session id for a row no control plane
# holds, so that any answer of the contract (404 here) proves the control plane answers.
PROBE_SID = "saeta-readiness-probe"


class SessionValidator:
    def __init__(
        self,
        secret: str,
        control_plane_url: str,
        revocations: Revocations,
        http: httpx.AsyncClient,
        cache_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._url = control_plane_url
        self._revocations = revocations
        self._http = http
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: OrderedDict[str, tuple[SessionInfo, float]] = OrderedDict()
        self._slots = asyncio.Semaphore(MAX_CALLS_IN_FLIGHT)
        self._inflight: dict[str, asyncio.Future[SessionInfo]] = {}
        # Whether the control plane answered its last call (a lookup or the probe); None
        # before any. /readyz reports it.
        self.reachable: bool | None = None
        revocations.subscribe(self.forget)

    def forget(self, sid: str) -> None:
        self._cache.pop(sid, None)

    async def validate(self, token: str) -> SessionInfo:
        """The session's grants. Raises Unauthorized (forged, expired, unknown),
        SessionRevoked, or ControlPlaneUnavailable (retryable)."""
        now = self._clock()
        claims = verify_session(self._secret, token, int(now))
        if await self._revocations.is_revoked(claims.sid):
            raise SessionRevoked("session revoked")
        cached = self._cache.get(claims.sid)
        if cached is not None and cached[1] > now:
            return cached[0]
        info = await self._fetch_once(token, claims.sid, claims.expires_at)
        expires_at = min(info.expires_at, claims.expires_at)
        if expires_at <= now:
            raise Unauthorized("session expired")
        if info.expires_at != expires_at:
            info = SessionInfo(info.sid, info.user_id, info.cuenta_id, info.tenant, info.datasets, expires_at)
        self._cache[claims.sid] = (info, min(now + self._cache_seconds, expires_at))
        self._cache.move_to_end(claims.sid)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        return info

    async def _fetch_once(self, token: str, sid: str, token_expiry: int) -> SessionInfo:
        """One control-plane call per session at a time: concurrent checks of the same
        session (a page opening several sockets, many watchers) share its answer."""
        while (pending := self._inflight.get(sid)) is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise
                # the caller that was fetching gave up; fetch ourselves
        fut: asyncio.Future[SessionInfo] = asyncio.get_running_loop().create_future()
        self._inflight[sid] = fut
        try:
            async with self._slots:
                info = await self._fetch(token, sid, token_expiry)
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # marked retrieved: waiters re-raise it, no "never retrieved" warning
            raise
        else:
            fut.set_result(info)
            return info
        finally:
            self._inflight.pop(sid, None)

    async def _lookup(self, token: str) -> httpx.Response:
        """The contract's lookup call; notes whether the control plane answered it."""
        headers = {"Authorization": f"Bearer {issue_service_token(self._secret, int(self._clock()))}"}
        try:
            resp = await self._http.get(f"{self._url}/api/sessions/{token}", headers=headers)
        except httpx.HTTPError:
            self.reachable = False
            raise
        self.reachable = resp.status_code in (200, 404, 410)
        return resp

    async def probe(self) -> bool:
        """Asks the control plane about a session it cannot have (PROBE_SID); whether it
        answered as the contract says. Never raises for the control plane's sake."""
        token = issue_session(self._secret, PROBE_SID, "gateway", int(self._clock()), 60)
        with contextlib.suppress(httpx.HTTPError):
            await self._lookup(token)
        return bool(self.reachable)

    async def _fetch(self, token: str, sid: str, token_expiry: int) -> SessionInfo:
        try:
            resp = await self._lookup(token)
        except httpx.HTTPError as exc:
            log.warning("control plane unreachable session=%s: %s", fingerprint(token), type(exc).__name__)
            raise ControlPlaneUnavailable("control plane unreachable") from None
        if resp.status_code == 404:
            raise Unauthorized("unknown session")
        if resp.status_code == 410:
            await self._revocations.revoke(sid, token_expiry)
            raise SessionRevoked("session revoked")
        if resp.status_code != 200 or len(resp.content) > MAX_ANSWER_BYTES:
            log.warning("control plane answered %d session=%s", resp.status_code, fingerprint(token))
            raise ControlPlaneUnavailable(f"control plane answered {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            raise ControlPlaneUnavailable("control plane answer is not JSON") from None
        return parse_session_info(sid, body)
