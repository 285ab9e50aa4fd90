"""The connector, the gateway and the control plane as systemd services: the unit is text
from a template (no I/O here except in the thin functions at the bottom), and systemctl
runs it when present."""

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
# Written by `saeta {command} service install`; remove with `saeta {command} service remove`.
[Unit]
Description=saeta {what} ({name})
Documentation=https://github.com/saeta/saeta/blob/main/docs/{doc}
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart={exec_start}
{reload_line}WorkingDirectory={workdir}
Restart=always
RestartSec=5
# SIGTERM: it drains and exits (the same path as Ctrl-C), within 30 s.
KillSignal=SIGTERM
TimeoutStopSec=30
{limits}NoNewPrivileges=true
PrivateTmp=true
ProtectSystem=full
{writable_line}{user_line}
[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class Role:
    """What differs between the units of saeta's three long-running processes."""

    command: str  # `saeta COMMAND service ...`
    what: str
    doc: str
    run: tuple[str, ...]  # the arguments after `python -m saeta`, before --config
    reload: bool  # SIGHUP reloads its https certificate
    limits: str  # extra [Service] lines


ROLES = {
    "connector": Role("connector", "connector", "connector.md", ("connector", "run"), False, ""),
    # The gateway holds a socket per browser and a tunnel per connector: a high file limit
    # (it raises its soft limit to this hard one at start; docs/configuration.md).
    "gateway": Role("gateway", "gateway", "deployment.md", ("gateway",), True, "LimitNOFILE=65536\n"),
    "control-plane": Role("control-plane", "control plane", "deployment.md", ("control-plane",), True, ""),
}


@dataclass(frozen=True)
class Unit:
    name: str
    path: Path
    text: str


def unit(
    config: Path,
    name: str = "saeta-connector",
    python: str = sys.executable,
    user: str | None = None,
    role: str = "connector",
    writable: tuple[Path, ...] = (),
    low_port: bool = False,
) -> Unit:
    """The unit that runs ``python -m saeta ROLE... --config CONFIG``; ``writable``: the
    folders it writes (a database, an audit log) in a system otherwise read-only to it;
    ``low_port``: it listens on a port under 1024 (443) as ``user``, which needs
    CAP_NET_BIND_SERVICE, and only that."""
    if not _NAME.fullmatch(name):
        raise SaetaError(f"invalid service name {name!r}", code="BAD_REQUEST")
    r = ROLES[role]
    config = config.resolve()
    exec_start = shlex.join([python, "-m", "saeta", *r.run, "--config", str(config)])
    paths = sorted({str(p.resolve()) for p in writable})
    text = UNIT_TEMPLATE.format(
        command=r.command,
        what=r.what,
        doc=r.doc,
        name=name,
        exec_start=exec_start,
        reload_line="ExecReload=/bin/kill -HUP $MAINPID\n" if r.reload else "",
        workdir=shlex.quote(str(config.parent)),
        limits=r.limits,
        writable_line=f"ReadWritePaths={' '.join(shlex.quote(p) for p in paths)}\n" if paths else "",
        user_line=(f"User={user}\n" if user else "")
        + ("AmbientCapabilities=CAP_NET_BIND_SERVICE\n" if user and low_port else ""),
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
