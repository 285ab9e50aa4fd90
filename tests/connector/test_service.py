"""`saeta connector service` on Linux: the systemd unit from its template, installed into a
directory of the test's own; without systemctl the commands to run are printed."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from saeta import certs
from saeta.connector.service import systemd
from saeta.errors import SaetaError


def connector_config(tmp_path: Path) -> Path:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "acme")
    cfg = tmp_path / "site dir" / "connector.yml"
    cfg.parent.mkdir()
    cfg.write_text(
        f"""
gateway: {{grpc_uri: "gw.example.com:50051"}}
mtls: {{ca_cert: {tmp_path}/certs/ca.crt, client_cert: {tmp_path}/certs/clients/acme/client.crt,
        client_key: {tmp_path}/certs/clients/acme/client.key}}
tenant: {{id: acme}}
datasets: {{v: {{type: csv, path: data.csv}}}}
"""
    )
    return cfg


def test_unit_runs_the_same_runner_with_the_config(tmp_path: Path) -> None:
    cfg = connector_config(tmp_path)
    unit = systemd.unit(cfg, "saeta-acme", python="/opt/saeta/bin/python", user="saeta")
    exec_line = next(line for line in unit.text.splitlines() if line.startswith("ExecStart="))
    assert shlex.split(exec_line.removeprefix("ExecStart=")) == [
        "/opt/saeta/bin/python", "-m", "saeta", "connector", "run", "--config", str(cfg.resolve()),
    ]  # fmt: skip
    assert "User=saeta" in unit.text and "Restart=always" in unit.text and "KillSignal=SIGTERM" in unit.text
    assert unit.path == Path("/etc/systemd/system/saeta-acme.service")
    with pytest.raises(SaetaError):
        systemd.unit(cfg, "bad name; rm -rf /")


def run_cli(*args: str, path: str = "") -> subprocess.CompletedProcess[str]:
    env = {"PATH": path} if path else None
    return subprocess.run(
        [sys.executable, "-m", "saeta", "connector", "service", *args], capture_output=True, text=True, env=env
    )


def test_install_and_remove_without_systemctl(tmp_path: Path) -> None:
    cfg = connector_config(tmp_path)
    units = tmp_path / "units"
    empty_path = str(tmp_path / "no-bin")  # no systemctl on this PATH
    done = run_cli("install", "--config", str(cfg), "--unit-dir", str(units), path=empty_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"wrote {units}/saeta-connector.service" in done.stdout
    assert "systemctl not found; run:" in done.stdout and "systemctl enable saeta-connector" in done.stdout
    assert "ExecStart=" in (units / "saeta-connector.service").read_text()
    start = run_cli("start", "--config", str(cfg), path=empty_path)
    assert start.returncode == 0 and "systemctl start saeta-connector" in start.stdout
    gone = run_cli("remove", "--config", str(cfg), "--unit-dir", str(units), path=empty_path)
    assert gone.returncode == 0 and not (units / "saeta-connector.service").exists()


def test_a_config_that_cannot_start_is_not_installed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("gateway: {}\n")
    done = run_cli("install", "--config", str(bad), "--unit-dir", str(tmp_path / "units"))
    assert done.returncode == 2 and "FAIL config" in done.stdout
    assert not (tmp_path / "units").exists()
