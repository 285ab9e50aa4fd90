"""`saeta connector`: run, test, and install as a system service."""

from __future__ import annotations

import argparse
import asyncio

from saeta.cli.service import add_service_parser
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
        return 2  # docs/cli.md: 2 is an invalid configuration
    logs.configure(cfg.logging, "connector")
    results = asyncio.run(runner.check(cfg))
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.name}: {r.detail}")
    failed = [r for r in results if not r.ok]
    print("connector test: " + ("passed" if not failed else f"{len(failed)} check(s) failed"))
    return 1 if failed else 0


def add_to(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    conn = sub.add_parser("connector", help="the on-premises connector").add_subparsers(dest="sub", required=True)
    c = conn.add_parser("run", help="serve datasets to the gateway until stopped")
    c.add_argument("--config", required=True, help="the connector's config file (docs/configuration.md)")
    c.set_defaults(fn=connector_run)
    c = conn.add_parser("test", help="check config, datasets and the gateway connection, then exit")
    c.add_argument("--config", required=True, help="the connector's config file (docs/configuration.md)")
    c.set_defaults(fn=connector_test)

    add_service_parser(conn, "connector")
