"""Redis down when the gateway starts, then back: readiness reports the stale revocation
state (503), new sessions are refused with the retryable 1013 (fail closed), and both
recover by themselves once Redis answers; then Redis killed while running, the same."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from saeta.client import AsyncClient, ServerError, SocketClosed

from tests.system.harness import Deployment, wait_for
from tests.system.redis_server import RedisServer

pytestmark = pytest.mark.system


def _ready(deployment: Deployment) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{deployment.http_port}/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def _outcome(deployment: Deployment, session: str) -> int | str:
    """ "ok" when the session's socket is accepted (a request gets an answer; no connector
    runs here, so that answer is CONNECTOR_OFFLINE), else the code it was closed with."""
    client = await AsyncClient.connect(deployment.ws_url, session)
    try:
        await client.list()
        return "ok"
    except ServerError as err:
        return "ok" if err.code == "CONNECTOR_OFFLINE" else err.code
    except SocketClosed as closed:
        return closed.close_code or 0
    finally:
        await client.close()


def test_redis_down_at_start_then_back_then_killed(deployment: Deployment, tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis")  # not started yet
    try:
        deployment.start_control_plane(redis_url=redis.url)
        deployment.start_gateway(redis_url=redis.url, revocation={"stale_seconds": 2}, check_ready=False)
        status, body = _ready(deployment)
        assert status == 503 and body["ready"] is False and body["revocation"]["fresh"] is False
        assert asyncio.run(_outcome(deployment, deployment.session("acme"))) == 1013

        redis.start()
        wait_for(lambda: _ready(deployment)[0] == 200, 60, "readiness once Redis answers")
        assert asyncio.run(_outcome(deployment, deployment.session("acme"))) == "ok"

        assert redis.proc is not None
        redis.proc.send_signal(signal.SIGKILL)
        redis.proc.wait(10)
        wait_for(lambda: _ready(deployment)[0] == 503, 60, "readiness to report the lost Redis")
        assert asyncio.run(_outcome(deployment, deployment.session("acme"))) == 1013
        redis.start()
        wait_for(lambda: asyncio.run(_outcome(deployment, deployment.session("acme"))) == "ok", 60, "recovery")
    finally:
        redis.stop()
