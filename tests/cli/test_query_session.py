"""`saeta query`'s session comes from --session, a file or $SAETA_SESSION (docs/cli.md);
with none, it exits 2 saying how to give one, before any connection."""

from __future__ import annotations

import subprocess
import sys
from argparse import Namespace
from pathlib import Path

from saeta.cli.query import session_of


def test_the_session_is_taken_in_order(tmp_path: Path) -> None:
    file = tmp_path / "session"
    file.write_text(" from-file\n")
    env = {"SAETA_SESSION": "from-env"}
    assert session_of(Namespace(session="given", session_file=str(file)), env) == "given"
    assert session_of(Namespace(session=None, session_file=str(file)), env) == "from-file"
    assert session_of(Namespace(session=None, session_file=None), env) == "from-env"
    assert session_of(Namespace(session=None, session_file=None), {}) is None


def test_without_a_session_it_exits_2_naming_the_ways(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "saeta", "query", "ventas", "--gateway", "ws://127.0.0.1:9"]
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "--session-file FILE or set SAETA_SESSION" in done.stderr
    done = subprocess.run(
        [*run, "--session-file", str(tmp_path / "nope")], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2 and "cannot read --session-file" in done.stderr
