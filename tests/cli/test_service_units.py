"""`saeta gateway service` and `saeta control-plane service` (and the connector's, which
shares the template): the systemd unit each writes, checked by systemd's own
`systemd-analyze verify` (setup installs Debian's systemd for it; no systemd runs here, so
the units are verified, not started)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from saeta import certs

SECRET = "s" * 40


def configs(tmp_path: Path) -> dict[str, Path]:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "acme")
    (tmp_path / "audit").mkdir()
    (tmp_path / "state").mkdir()
    gateway = tmp_path / "gateway.yaml"
    gateway.write_text(
        json.dumps(
            {
                "control_plane_url": "https://cp",
                "tableros_secret_key": SECRET,
                "http_port": 443,
                "audit": {"file": "audit/a.jsonl"},
            }
        )
    )
    plane = tmp_path / "control-plane.yaml"
    plane.write_text(
        json.dumps({"tableros_secret_key": SECRET, "database": "state/cp.sqlite3", "admin_token_file": "state/token"})
    )
    connector = tmp_path / "connector.yml"
    connector.write_text(
        json.dumps(
            {
                "gateway": {"grpc_uri": "gw.example.com:50051"},
                "mtls": {
                    "ca_cert": "certs/ca.crt",
                    "client_cert": "certs/clients/acme/client.crt",
                    "client_key": "certs/clients/acme/client.key",
                },
                "tenant": {"id": "acme"},
                "datasets": {"v": {"type": "csv", "path": "data.csv"}},
            }
        )
    )
    return {"gateway": gateway, "control-plane": plane, "connector": connector}


def install(tmp_path: Path, role: str, config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "saeta",
            role,
            "service",
            "install",
            "--config",
            str(config),
            "--unit-dir",
            str(tmp_path / "units"),
            *extra,
        ],
        capture_output=True,
        text=True,
        env={"PATH": str(tmp_path / "no-bin")},  # no systemctl: the commands are printed
        timeout=60,
    )


@pytest.mark.parametrize("role", ["gateway", "control-plane", "connector"])
def test_each_unit_is_one_systemd_accepts(tmp_path: Path, role: str) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: `make setup` installs Debian's systemd"
    done = install(tmp_path, role, configs(tmp_path)[role], "--user", "root")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"systemctl enable saeta-{role}" in done.stdout
    unit = tmp_path / "units" / f"saeta-{role}.service"
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr  # not even a warning


def test_what_each_unit_holds(tmp_path: Path) -> None:
    files = configs(tmp_path)
    for role in files:
        assert install(tmp_path, role, files[role], "--user", "saeta").returncode == 0
    gateway = (tmp_path / "units" / "saeta-gateway.service").read_text()
    assert f"-m saeta gateway --config {files['gateway'].resolve()}" in gateway
    assert "ExecReload=/bin/kill -HUP $MAINPID" in gateway  # the https certificate reread
    assert "LimitNOFILE=65536" in gateway and "KillSignal=SIGTERM" in gateway
    assert f"ReadWritePaths={(tmp_path / 'audit').resolve()}" in gateway  # the audit log's folder, and only it
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in gateway  # port 443 as user saeta
    plane = (tmp_path / "units" / "saeta-control-plane.service").read_text()
    assert f"ReadWritePaths={(tmp_path / 'state').resolve()}" in plane  # its database and token
    assert "AmbientCapabilities" not in plane  # port 8090 needs nothing
    connector = (tmp_path / "units" / "saeta-connector.service").read_text()
    assert "ExecReload" not in connector and "ReadWritePaths" not in connector


def test_a_gateway_config_that_cannot_start_writes_no_unit(tmp_path: Path) -> None:
    bad = tmp_path / "gateway.yaml"
    bad.write_text(json.dumps({"control_plane_url": "ftp://cp"}))
    done = install(tmp_path, "gateway", bad)
    assert done.returncode == 2 and "FAIL config" in done.stdout
    assert not (tmp_path / "units").exists()


def test_running_still_needs_a_config() -> None:
    done = subprocess.run([sys.executable, "-m", "saeta", "gateway"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--config" in done.stderr
