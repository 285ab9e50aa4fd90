"""The `saeta` command (docs/cli.md). Exit codes: 0 ok, 1 failure, 2 usage or config.
Each group of subcommands is a module of its own here, with its handlers and its
``add_to`` that declares its arguments."""

from __future__ import annotations

import argparse
import sys

from saeta import __version__
from saeta.cli import certs, connector, query, servers, sessions
from saeta.errors import SaetaError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saeta", description="Stream Arrow data from your sites to browsers.")
    p.add_argument("--version", action="version", version=f"saeta {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    certs.add_to(sub)
    connector.add_to(sub)
    servers.add_to(sub)
    sessions.add_to(sub)
    query.add_to(sub)
    servers.add_demo_to(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.fn(args)
        return code
    except SaetaError as err:
        print(f"saeta: {err}", file=sys.stderr)
        return 2 if err.code == "CONFIG_INVALID" else 1
    except KeyboardInterrupt:
        return 130
