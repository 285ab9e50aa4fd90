"""Every command's every argument says what it is (`saeta ... --help`), and `saeta query`
gives examples and its exit codes."""

from __future__ import annotations

import argparse
import subprocess
import sys

from saeta.cli import build_parser


def _undocumented(parser: argparse.ArgumentParser, path: str) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _undocumented(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_argument_has_help() -> None:
    assert _undocumented(build_parser(), "saeta") == []


def test_query_help_has_examples_and_exit_codes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "saeta", "query", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "examples:" in done.stdout and "exit codes:" in done.stdout
    assert "--output -" in done.stdout
