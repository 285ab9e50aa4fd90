"""The reference control plane's admin calls: a token always (loopback too), generated and
kept readable by its owner only when not configured; the Host must name the service, a
browser's Origin is refused, and bodies must be declared JSON. The CLI finds the token."""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from saeta import cli
from saeta.cli import sessions
from saeta.config import ControlPlaneConfig, LoggingConfig
from saeta.control_plane import admin_token
from saeta.control_plane.app import ControlPlane
from saeta.control_plane.store import SessionRow, SessionStore
from saeta.errors import ConfigError, SaetaError

SECRET = "control-plane-admin-test-secret-0123456789"
TOKEN = "t" * 40
BODY = {"tenant": "acme", "user_id": "u"}


def _cp(tmp_path: Path, **cfg: Any) -> ControlPlane:
    config = ControlPlaneConfig(
        **{
            "file": tmp_path / "cp.yaml",
            "host": "127.0.0.1",
            "port": 0,
            "database": tmp_path / "cp.sqlite3",
            "secret_key": SECRET,
            "admin_token": None,
            "admin_token_file": tmp_path / "admin-token",
            "allowed_hosts": (),
            "allowed_origins": (),
            "redis_url": None,
            "gateway_url": None,
            "max_session_seconds": 86400,
            "logging": LoggingConfig(),
            **cfg,
        }
    )
    return ControlPlane(config, SessionStore(config.database), TOKEN)


def _post(cp: ControlPlane, path: str = "/api/sessions", host: str = "127.0.0.1:8090", **kwargs: Any) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=cp.app(), client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as http:
            return await http.post(path, **kwargs)

    return asyncio.run(main())


AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"json": BODY}, 401, "UNAUTHORIZED"),  # loopback, but no token
        ({"json": BODY, "headers": {"Authorization": "Bearer " + "x" * 40}}, 401, "UNAUTHORIZED"),
        ({"content": b'{"tenant":"acme","user_id":"u"}', "headers": {**AUTH, "Content-Type": "text/plain"}}, 415, None),
        ({"json": BODY, "headers": {**AUTH, "Origin": "http://evil.example"}}, 403, "ORIGIN_REFUSED"),
        ({"json": BODY, "headers": {**AUTH, "Origin": "http://127.0.0.1:8090"}}, 403, "ORIGIN_REFUSED"),
        ({"content": b'{"tenant":"acme","user_id":"\\ud800"}', "headers": {**AUTH, **JSON}}, 400, "BAD_REQUEST"),
        ({"json": BODY, "headers": AUTH}, 201, None),
    ],
)
def test_admin_calls_need_the_token_json_and_no_browser_origin(
    tmp_path: Path, kwargs: dict[str, Any], status: int, code: str | None
) -> None:
    answer = _post(_cp(tmp_path), **kwargs)
    assert answer.status_code == status, answer.text
    if code:
        assert answer.json()["code"] == code


def test_a_host_that_does_not_name_the_service_is_refused(tmp_path: Path) -> None:
    cp = _cp(tmp_path)
    assert _post(cp, host="evil.example:8090", json=BODY, headers=AUTH).json()["code"] == "HOST_REFUSED"
    assert _post(cp, host="[::1]:8090", json=BODY, headers=AUTH).status_code == 201
    listed = _cp(tmp_path, allowed_hosts=("cp.internal",), allowed_origins=("https://admin.example",))
    assert _post(listed, host="cp.internal", json=BODY, headers=AUTH).status_code == 201
    with_origin = {**AUTH, "Origin": "https://admin.example"}
    assert _post(listed, host="cp.internal", json=BODY, headers=with_origin).status_code == 201


def test_revoke_is_guarded_the_same_way(tmp_path: Path) -> None:
    cp = _cp(tmp_path)
    token = _post(cp, json=BODY, headers=AUTH).json()["session_id"]
    path = f"/api/sessions/{token}/revoke"
    assert _post(cp, path, content=b"", headers={"Origin": "http://evil.example"}).status_code == 403
    assert _post(cp, path, content=b"", headers=AUTH).status_code == 415
    assert _post(cp, path, json={}, headers=AUTH).json()["revoked"] is True


def test_the_token_is_generated_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "saeta" / "admin-token"
    token = admin_token.load_or_create(path)
    assert len(token) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert admin_token.load_or_create(path) == token  # the next start reads it back
    path.write_text("short\n")
    with pytest.raises(ConfigError, match="at least 16"):
        admin_token.load_or_create(path)


def test_the_cli_reads_the_token_from_its_flag_the_environment_or_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAETA_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("SAETA_ADMIN_TOKEN_FILE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    args = cli.build_parser().parse_args(["session", "revoke", "x", "--control-plane", "http://cp"])
    with pytest.raises(SaetaError, match="no admin token") as err:
        sessions.admin_token(args)
    assert err.value.code == "ADMIN_TOKEN_MISSING"
    generated = admin_token.load_or_create(tmp_path / "state" / "saeta" / "admin-token")  # the default place
    assert sessions.admin_token(args) == generated
    (tmp_path / "other").write_text("from-a-file-0123456789\n")
    monkeypatch.setenv("SAETA_ADMIN_TOKEN_FILE", str(tmp_path / "other"))
    assert sessions.admin_token(args) == "from-a-file-0123456789"
    monkeypatch.setenv("SAETA_ADMIN_TOKEN", "from-the-environment-0123")
    assert sessions.admin_token(args) == "from-the-environment-0123"
    args.token = "from-the-flag-0123456789"
    assert sessions.admin_token(args) == "from-the-flag-0123456789"


def test_sessions_expired_over_a_day_ago_are_purged_as_new_ones_are_issued(tmp_path: Path) -> None:
    cp = _cp(tmp_path)
    now = int(time.time())
    old = SessionRow("old", "u", "", "acme", "*", now - 2 * 86400, None)
    recent = SessionRow("recent", "u", "", "acme", "*", now - 3600, None)
    for row in (old, recent):
        cp.store.create(row, now - 3 * 86400)
    assert _post(cp, json=BODY, headers=AUTH).status_code == 201
    assert cp.store.get("old") is None
    assert cp.store.get("recent") is not None  # expired, but less than a day ago
