"""`saeta connector`: run, test, and install as a system service."""

from __future__ import annotations

import argparse
import asyncio
import sys

from saeta.errors import SaetaError


def connector_run(args: argparse.Namespace) -> int:
    from saeta import logs
    from saeta.config import load_connector_config
    from saeta.connector import runner

    cfg = load_connector_config(args.config)
    logs.configure(cfg.logging, "connector")
    asyncio.run(runner.run(cfg))
    return 0


def connector_test(args: argparse.Namespace) -> int:
    from saeta import logs
    from saeta.config import load_connector_config
    from saeta.connector import runner

    try:
        cfg = load_connector_config(args.config)
    except SaetaError as err:
        print(f"FAIL config: {err}")
        return 1
    logs.configure(cfg.logging, "connector")
    results = asyncio.run(runner.check(cfg))
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.name}: {r.detail}")
    failed = [r for r in results if not r.ok]
    print("connector test: " + ("passed" if not failed else f"{len(failed)} check(s) failed"))
    return 1 if failed else 0


def connector_service(args: argparse.Namespace) -> int:
    from pathlib import Path

    from saeta.config import load_connector_config

    config = Path(args.config)
    try:
        load_connector_config(config)  # refuse to install a service that could not start
    except SaetaError as err:
        print(f"FAIL config: {err}")
        return 2
    try:
        if sys.platform == "win32":
            from saeta.connector.service import windows

            lines = windows.handle(args.action, str(config.resolve()))
        else:
            from saeta.connector.service import systemd

            unit = systemd.unit(config, args.name, user=args.user)
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


def add_to(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    conn = sub.add_parser("connector", help="the on-premises connector").add_subparsers(dest="sub", required=True)
    c = conn.add_parser("run", help="serve datasets to the gateway until stopped")
    c.add_argument("--config", required=True)
    c.set_defaults(fn=connector_run)
    c = conn.add_parser("test", help="check config, datasets and the gateway connection, then exit")
    c.add_argument("--config", required=True)
    c.set_defaults(fn=connector_test)

    c = conn.add_parser("service", help="install, start, stop or remove the connector as a system service")
    c.add_argument("action", choices=("install", "start", "stop", "remove"))
    c.add_argument("--config", required=True)
    c.add_argument("--name", default="saeta-connector", help="service name (Linux; default saeta-connector)")
    c.add_argument("--user", help="run as this user (Linux)")
    c.add_argument("--unit-dir", help="where the systemd unit goes (default /etc/systemd/system)")
    c.set_defaults(fn=connector_service)
