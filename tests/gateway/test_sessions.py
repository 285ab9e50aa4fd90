"""The gateway's session check against the reference control plane's real app (in
process, through httpx's ASGI transport): concurrent checks of one session share one
control-plane call, and answers map to the right errors."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from saeta.config import ControlPlaneConfig, LoggingConfig
from saeta.control_plane.app import ControlPlane
from saeta.control_plane.store import SessionStore
from saeta.core.session_token import issue_session
from saeta.errors import SessionRevoked, Unauthorized
from saeta.gateway.revocation import InProcessRevocations
from saeta.gateway.sessions import SessionValidator

SECRET = "v" * 40


ADMIN_TOKEN = "admin-token-for-tests-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class CountingApp:
    """The control plane's ASGI app, counting session lookups."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lookups = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith("/api/sessions/"):
            self.lookups += 1
            await asyncio.sleep(0.05)  # a control plane that takes a moment to answer
        await self.app(scope, receive, send)


@pytest.fixture
def control_plane(tmp_path: Path) -> tuple[ControlPlane, CountingApp]:
    cfg = ControlPlaneConfig(
        file=tmp_path / "cp.yaml",
        host="127.0.0.1",
        port=0,
        database=tmp_path / "cp.sqlite3",
        secret_key=SECRET,
        admin_token=None,
        admin_token_file=tmp_path / "admin-token",
        allowed_hosts=("cp",),
        allowed_origins=(),
        redis_url=None,
        gateway_url=None,
        max_session_seconds=86400,
        logging=LoggingConfig(),
    )
    cp = ControlPlane(cfg, SessionStore(cfg.database), ADMIN_TOKEN)
    return cp, CountingApp(cp.app())


async def _issue(app: CountingApp) -> str:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://cp", headers=ADMIN) as http:
        answer = await http.post("/api/sessions", json={"tenant": "acme", "user_id": "u"})
        return str(answer.json()["session_id"])


def test_concurrent_checks_of_one_session_share_one_call(control_plane: tuple[ControlPlane, CountingApp]) -> None:
    _, app = control_plane

    async def main() -> None:
        token = await _issue(app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cp") as http:
            validator = SessionValidator(SECRET, "http://cp", InProcessRevocations(), http, cache_seconds=0)
            infos = await asyncio.gather(*(validator.validate(token) for _ in range(20)))
            assert {i.tenant for i in infos} == {"acme"}
            assert app.lookups == 1
            await validator.validate(token)  # no cache (0 s): a new call, not a stale shared one
            assert app.lookups == 2

    asyncio.run(main())


def test_many_sessions_at_once_all_validate(control_plane: tuple[ControlPlane, CountingApp]) -> None:
    _, app = control_plane

    async def main() -> None:
        tokens = [await _issue(app) for _ in range(100)]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cp") as http:
            validator = SessionValidator(SECRET, "http://cp", InProcessRevocations(), http, cache_seconds=5)
            infos = await asyncio.gather(*(validator.validate(t) for t in tokens))
            assert len({i.sid for i in infos}) == 100
            assert app.lookups == 100

    asyncio.run(main())


def test_unknown_and_revoked_sessions(control_plane: tuple[ControlPlane, CountingApp]) -> None:
    _, app = control_plane

    async def main() -> None:
        token = await _issue(app)
        unknown = issue_session(SECRET, "never-issued", "u", int(time.time()), 600)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://cp") as http:
            validator = SessionValidator(SECRET, "http://cp", InProcessRevocations(), http, cache_seconds=0)
            results = await asyncio.gather(
                validator.validate(unknown), validator.validate(unknown), return_exceptions=True
            )
            assert all(isinstance(r, Unauthorized) and not isinstance(r, SessionRevoked) for r in results)
            await http.post(f"/api/sessions/{token}/revoke", json={}, headers=ADMIN)
            with pytest.raises(SessionRevoked):
                await validator.validate(token)

    asyncio.run(main())
