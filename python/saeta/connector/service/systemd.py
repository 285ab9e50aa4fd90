"""The connector as a systemd service: the unit is text from a template (no I/O here
except in the thin functions at the bottom), and systemctl runs it when present."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from saeta.errors import SaetaError

UNIT_DIR = Path("/etc/systemd/system")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")

UNIT_TEMPLATE = """\
# Written by `saeta connector service install`; remove with `saeta connector service remove`.
[Unit]
Description=saeta connector ({name})
Documentation=https://github.com/saeta/saeta/blob/main/docs/connector.md
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart={exec_start}
WorkingDirectory={workdir}
Restart=always
RestartSec=5
# SIGTERM: the connector closes its tunnel and exits (the same path as Ctrl-C).
KillSignal=SIGTERM
TimeoutStopSec=30
NoNewPrivileges=true
PrivateTmp=true
ProtectSystem=full
{user_line}
[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class Unit:
    name: str
    path: Path
    text: str


def unit(config: Path, name: str = "saeta-connector", python: str = sys.executable, user: str | None = None) -> Unit:
    """The unit for the connector with ``config``, run by ``python -m saeta connector run``."""
    if not _NAME.fullmatch(name):
        raise SaetaError(f"invalid service name {name!r}", code="BAD_REQUEST")
    config = config.resolve()
    exec_start = shlex.join([python, "-m", "saeta", "connector", "run", "--config", str(config)])
    text = UNIT_TEMPLATE.format(
        name=name,
        exec_start=exec_start,
        workdir=shlex.quote(str(config.parent)),
        user_line=f"User={user}\n" if user else "",
    )
    return Unit(name, UNIT_DIR / f"{name}.service", text)


def _systemctl() -> str | None:
    return shutil.which("systemctl")


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise SaetaError(f"{shlex.join(args)} failed: {(done.stderr or done.stdout).strip()}", code="SERVICE_FAILED")


def install(u: Unit, unit_dir: Path = UNIT_DIR) -> list[str]:
    """Writes the unit; returns what was done (or what to run) as lines for the user."""
    path = unit_dir / u.path.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(u.text)
    lines = [f"wrote {path}"]
    return lines + _act(["daemon-reload"], ["enable", u.name])


def control(action: str, u: Unit) -> list[str]:
    """start or stop through systemctl, or the commands to run where there is none."""
    return _act([action, u.name])


def remove(u: Unit, unit_dir: Path = UNIT_DIR) -> list[str]:
    path = unit_dir / u.path.name
    lines = _act(["disable", "--now", u.name]) if path.exists() else []
    if path.exists():
        path.unlink()
        lines.append(f"removed {path}")
    else:
        lines.append(f"no unit at {path}")
    return lines + _act(["daemon-reload"])


def _act(*commands: list[str]) -> list[str]:
    systemctl = _systemctl()
    if systemctl is None:
        return ["systemctl not found; run:"] + ["  " + shlex.join(["systemctl", *c]) for c in commands]
    lines = []
    for c in commands:
        _run([systemctl, *c])
        lines.append(shlex.join(["systemctl", *c]))
    return lines
