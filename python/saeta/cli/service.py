"""`saeta connector service`, `saeta gateway service` and `saeta control-plane service`:
install, start, stop or remove one of the long-running processes as a system service (a
systemd unit; the connector also as a Windows service). A config that could not start is
refused before anything is written."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from saeta.errors import SaetaError


def _checked(role: str, config: Path) -> tuple[tuple[Path, ...], bool]:
    """Loads the config (raises on one that could not start): the folders the process
    writes, and whether it listens on a port under 1024."""
    from saeta.config import load_connector_config, load_control_plane_config, load_gateway_config

    if role == "connector":
        load_connector_config(config)
        return (), False
    if role == "gateway":
        gw = load_gateway_config(config)
        audit = (Path(gw.audit_file).parent,) if gw.audit_file not in (None, "-") else ()
        return audit, gw.http_port < 1024 or gw.grpc_port < 1024
    cp = load_control_plane_config(config)
    return (cp.database.parent, cp.admin_token_file.parent), cp.port < 1024


def service_command(role: str, args: argparse.Namespace) -> int:
    config = Path(args.config)
    try:
        writable, low_port = _checked(role, config)
    except SaetaError as err:
        print(f"FAIL config: {err}")
        return 2
    try:
        if sys.platform == "win32":
            if role != "connector":
                print(f"FAIL {args.action}: the {role} runs as a service on Linux (systemd) only")
                return 2
            from saeta import extras

            problem = extras.missing_message("windows")
            if problem is not None:
                print(f"FAIL {args.action}: {problem}")
                return 2
            from saeta.connector.service import windows

            lines = windows.handle(args.action, str(config.resolve()))
        else:
            from saeta.connector.service import systemd

            unit = systemd.unit(config, args.name, user=args.user, role=role, writable=writable, low_port=low_port)
            unit_dir = Path(args.unit_dir) if args.unit_dir else systemd.UNIT_DIR
            if args.action == "install":
                lines = systemd.install(unit, unit_dir)
            elif args.action == "remove":
                lines = systemd.remove(unit, unit_dir)
            else:
                lines = systemd.control(args.action, unit)
    except (SaetaError, OSError) as err:
        print(f"FAIL {args.action}: {err}")
        return 1
    print("\n".join(lines))
    return 0


def add_service_parser(parent: argparse._SubParsersAction[argparse.ArgumentParser], role: str) -> None:
    what = role.replace("-", " ")
    c = parent.add_parser(
        "service",
        help=f"install, start, stop or remove the {what} as a system service",
        description=f"The {what} as a systemd unit"
        + (" (Linux) or a Windows service" if role == "connector" else "")
        + f", running `saeta {role}` with the same config. Example: "
        f"saeta {role} service install --config /etc/saeta/{role}.yaml --user saeta",
    )
    c.add_argument("action", choices=("install", "start", "stop", "remove"), help="what to do with the service")
    c.add_argument("--config", required=True, help="the config file the service runs with")
    c.add_argument("--name", default=f"saeta-{role}", help=f"service name (Linux; default saeta-{role})")
    c.add_argument("--user", help="run as this user (Linux; default root)")
    c.add_argument("--unit-dir", help="where the systemd unit goes (default /etc/systemd/system)")
    c.set_defaults(fn=lambda args: service_command(role, args))
