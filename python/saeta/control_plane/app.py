"""The reference control plane's HTTP API (docs/control-plane.md)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from saeta.config import ControlPlaneConfig
from saeta.control_plane.metrics import ControlPlaneMetrics
from saeta.control_plane.store import SessionRow, SessionStore
from saeta.core.names import is_dataset_name, is_tenant_id
from saeta.core.origins import host_allowed, normalize_origin
from saeta.core.session_token import (
    MAX_TOKEN_CHARS,
    fingerprint,
    issue_session,
    verify_service_token,
    verify_session,
)
from saeta.core.text import has_lone_surrogate
from saeta.errors import Unauthorized
from saeta.metrics_page import metrics_response
from saeta.redis_bus import RedisError, publish_session_revoked
from saeta.redis_bus import connect as redis_connect

log = logging.getLogger("saeta.control_plane")

MAX_BODY_BYTES = 64 * 1024


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else None


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


# Sessions expired over a day ago are deleted, at most this often (on an issue call), so
# the database does not grow forever; a revoked one is kept as long as it could verify.
PURGE_EVERY_SECONDS = 3600


class ControlPlane:
    def __init__(self, cfg: ControlPlaneConfig, store: SessionStore, admin_token: str) -> None:
        """``admin_token``: the one every admin call must carry (control_plane/admin_token.py)."""
        self.cfg = cfg
        self.store = store
        self.admin_token = admin_token
        self.redis = redis_connect(cfg.redis_url) if cfg.redis_url else None
        self._hosts = (*cfg.allowed_hosts, *([cfg.host.lower()] if cfg.host not in ("0.0.0.0", "::") else []))
        self._origins = {normalize_origin(o) for o in cfg.allowed_origins}
        self._purged_at = 0  # unix time of the last purge of long-expired sessions
        self.metrics = ControlPlaneMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        if self.redis is not None:
            await self.redis.aclose()

    def app(self) -> Starlette:
        return Starlette(
            lifespan=self.lifespan,
            routes=[
                Route("/healthz", self.healthz),
                Route("/livez", self.healthz),
                Route("/readyz", self.readyz),
                Route("/metrics", self.metrics_page),
                Route("/api/sessions", self.create, methods=["POST"]),
                Route("/api/sessions/{session_id}", self.lookup, methods=["GET"]),
                Route("/api/sessions/{session_id}/revoke", self.revoke, methods=["POST"]),
            ],
        )

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        """Ready while its database answers (Redis is not needed to serve: without it the
        gateways learn revocations from lookups)."""
        try:
            await asyncio.to_thread(self.store.ping)
        except Exception as exc:  # any failure of the database is "not ready"
            log.warning("code=DATABASE_UNAVAILABLE readiness check failed: %s", exc)
            return JSONResponse({"ready": False}, status_code=503)
        return JSONResponse({"ready": True})

    async def metrics_page(self, request: Request) -> Response:
        """Prometheus' text format; who may read it follows ``metrics_access``."""
        return metrics_response(request, self.metrics.registry, self.cfg.metrics_access)

    def _admin_refusal(self, request: Request) -> Response | None:
        """Why an admin call is refused, or None. A page on another site can make the
        browser send a simple POST anywhere, loopback included, and a DNS-rebinding page
        even reads the answer; so, in this order: the Host must name this service, a
        browser's Origin must be allowed (none is, by default), the token must be right,
        and a body must be declared JSON (no simple cross-site request can declare it)."""
        token = _bearer(request)
        origin = request.headers.get("origin")
        if not host_allowed(request.headers.get("host"), self._hosts):
            status, code, message = 403, "HOST_REFUSED", "the Host header does not name this control plane"
        elif origin is not None and normalize_origin(origin) not in self._origins:
            status, code, message = 403, "ORIGIN_REFUSED", "admin calls from a browser page are refused"
        elif token is None or not hmac.compare_digest(token.encode(), self.admin_token.encode()):
            status, code, message = 401, "UNAUTHORIZED", "admin token missing or wrong"
        elif request.method == "POST" and not _is_json(request):
            status, code, message = 415, "UNSUPPORTED_MEDIA_TYPE", "send the body as Content-Type: application/json"
        else:
            return None
        self.metrics.refused.labels(code).inc()
        log.warning(
            "admin call refused code=%s host=%.100r origin=%.100r: %s",
            code,
            request.headers.get("host"),
            origin,
            message,
        )
        return _error(status, code, message)

    async def _json(self, request: Request) -> dict[str, Any] | Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "BAD_REQUEST", "body too large")
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "BAD_REQUEST", "body is not JSON")
        if not isinstance(data, dict):
            return _error(400, "BAD_REQUEST", "body must be a JSON object")
        if has_lone_surrogate(data):
            return _error(400, "BAD_REQUEST", "body holds invalid Unicode (a lone surrogate)")
        return data

    async def create(self, request: Request) -> Response:
        if (refusal := self._admin_refusal(request)) is not None:
            return refusal
        data = await self._json(request)
        if isinstance(data, Response):
            return data
        tenant, user = data.get("tenant"), data.get("user_id")
        if not isinstance(tenant, str) or not is_tenant_id(tenant):
            return _error(400, "BAD_REQUEST", "'tenant' must be a valid tenant id")
        if not isinstance(user, str) or not 0 < len(user) <= 256:
            return _error(400, "BAD_REQUEST", "'user_id' must be a non-empty string")
        cuenta = data.get("cuenta_id", "")
        if not isinstance(cuenta, str) or len(cuenta) > 256:
            return _error(400, "BAD_REQUEST", "'cuenta_id' must be a string")
        datasets = data.get("datasets", "*")
        if datasets != "*" and not (
            isinstance(datasets, list) and all(isinstance(d, str) and is_dataset_name(d) for d in datasets)
        ):
            return _error(400, "BAD_REQUEST", "'datasets' must be \"*\" or a list of dataset names")
        ttl = data.get("ttl_seconds", 3600)
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= self.cfg.max_session_seconds:
            return _error(400, "BAD_REQUEST", f"'ttl_seconds' must be 1..{self.cfg.max_session_seconds}")
        now = int(time.time())
        sid = secrets.token_urlsafe(16)
        row = SessionRow(sid, user, cuenta, tenant, datasets, now + ttl, None)
        await asyncio.to_thread(self.store.create, row, now)
        if now - self._purged_at >= PURGE_EVERY_SECONDS:
            self._purged_at = now
            purged = await asyncio.to_thread(self.store.purge_expired, now)
            if purged:
                log.info("purged %d sessions expired over a day ago", purged)
        token = issue_session(self.cfg.secret_key, sid, user, now, ttl)
        self.metrics.issued.labels(tenant).inc()
        log.info("session issued tenant=%s user=%s session=%s ttl=%d", tenant, user, fingerprint(token), ttl)
        answer: dict[str, Any] = {"session_id": token, "expires_at": now + ttl}
        if self.cfg.gateway_url:
            answer["dashboard_url"] = f"{self.cfg.gateway_url}/?session={quote(token, safe='')}"
        return JSONResponse(answer, status_code=201)

    def _sid_of(self, session_id: str, now: int) -> str | None:
        """The row id of a session id (the signed token); tokens that do not verify have
        none. For revocation, an expired token still names its row."""
        if len(session_id) > MAX_TOKEN_CHARS:
            return None
        try:
            return verify_session(self.cfg.secret_key, session_id, now).sid
        except Unauthorized:
            return None

    async def lookup(self, request: Request) -> Response:
        started = time.monotonic()
        outcome, answer = await self._lookup(request)
        self.metrics.lookups.labels(outcome).inc()
        self.metrics.lookup_duration.observe(time.monotonic() - started)
        return answer

    async def _lookup(self, request: Request) -> tuple[str, Response]:
        token = _bearer(request)
        now = int(time.time())
        try:
            verify_service_token(self.cfg.secret_key, token or "", now)
        except Unauthorized:
            return "unauthorized", _error(401, "UNAUTHORIZED", "gateway service token missing or invalid")
        sid = self._sid_of(request.path_params["session_id"], now)
        row = await asyncio.to_thread(self.store.get, sid) if sid else None
        if row is None or row.expires_at <= now:
            return "not_found", _error(404, "SESSION_NOT_FOUND", "unknown or expired session")
        if row.revoked_at is not None:
            return "revoked", _error(410, "SESSION_REVOKED", "session revoked")
        body = {
            "user_id": row.user_id,
            "cuenta_id": row.cuenta_id,
            "edge_id": row.edge_id,
            "permisos": row.permisos,
            "expires_at": row.expires_at,
        }
        return "found", JSONResponse(body)

    async def revoke(self, request: Request) -> Response:
        if (refusal := self._admin_refusal(request)) is not None:
            return refusal
        session_id = request.path_params["session_id"]
        now = int(time.time())
        sid = self._sid_of(session_id, now) or (session_id if len(session_id) <= 64 else None)
        row = await asyncio.to_thread(self.store.revoke, sid, now) if sid else None
        if row is None:
            return _error(404, "SESSION_NOT_FOUND", "unknown session")
        self.metrics.revoked.labels(row.edge_id).inc()
        log.info("session revoked tenant=%s user=%s sid=%s", row.edge_id, row.user_id, fingerprint(row.sid))
        pushed = await self._push_revocation(row)
        return JSONResponse({"revoked": True, "expires_at": row.expires_at, "pushed": pushed})

    async def _push_revocation(self, row: SessionRow) -> bool:
        """Tells every gateway through Redis. Without Redis (or with Redis down) gateways
        still learn it from this service once their cached answer expires."""
        if self.redis is None:
            self.metrics.pushes.labels("no_redis").inc()
            return False
        try:
            await publish_session_revoked(self.redis, row.sid, row.expires_at, time.time())
        except (RedisError, OSError) as exc:
            self.metrics.pushes.labels("failed").inc()
            log.warning("code=REDIS_UNAVAILABLE revocation not pushed sid=%s: %s", fingerprint(row.sid), exc)
            return False
        self.metrics.pushes.labels("pushed").inc()
        return True
