"""The wheel is what a gateway host installs: it must carry the dashboard's built assets,
so the gateway serves the dashboard with no Node.js and no source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.system.harness import Deployment, wait_for
from tests.system.wheels import release_wheel

pytestmark = pytest.mark.system


def test_installed_wheel_serves_the_dashboard(deployment: Deployment, tmp_path: Path) -> None:
    wheel = release_wheel()
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in ("index.html", "dashboard.js", "dashboard.css", "saeta-client.js"):
        assert f"saeta/gateway/static/{asset}" in names
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import saeta; print(saeta.__file__)"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(site)), where  # the wheel's saeta, not the source tree's

    deployment.start_control_plane()
    cfg = deployment.write(
        "gateway-wheel.yaml",
        {
            "host": "127.0.0.1",
            "http_port": deployment.http_port,
            "grpc_port": deployment.grpc_port,
            "tableros_secret_key": "system-test-secret-0123456789abcdefghijklmnop",
            "control_plane_url": deployment.cp_url,
        },
    )
    log = open(deployment.root / "gateway-wheel.log", "ab")  # noqa: SIM115 (the child keeps it)
    gateway = subprocess.Popen(
        [sys.executable, "-m", "saeta", "gateway", "--config", str(cfg)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    try:
        base = f"http://127.0.0.1:{deployment.http_port}"
        wait_for(lambda: _get(f"{base}/healthz") is not None, 30, "the wheel's gateway")
        page = _get(f"{base}/dashboard")
        assert page is not None and b"static/dashboard.js" in page
        script = _get(f"{base}/static/dashboard.js")
        assert script == (site / "saeta" / "gateway" / "static" / "dashboard.js").read_bytes()
    finally:
        gateway.terminate()
        gateway.wait(30)


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body: bytes = resp.read()
            return body
    except OSError:
        return None
