"""docs/security.md names, for each security case, the tests that prove it: every test it
names must exist (a renamed or deleted test would leave a case unproven unnoticed)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_TEST = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_named_test_exists() -> None:
    text = (ROOT / "docs/security.md").read_text()
    named = _TEST.findall(text)
    assert len(named) > 40
    missing = [f"{f}::{t}" for f, t in named if not (ROOT / f).exists() or t not in _functions(ROOT / f)]
    assert not missing, missing


def test_every_row_has_a_status() -> None:
    rows = [line for line in (ROOT / "docs/security.md").read_text().splitlines() if line.startswith("| ")]
    cases = [r for r in rows if not r.startswith("| case") and not r.startswith("| ---")]
    assert len(cases) == 62
    for row in cases:
        status = row.rstrip(" |").rsplit("|", 1)[1].strip()
        assert status.split(":")[0] in ("proven", "partly", "open"), row
        # A proven row says how its tests were seen to fail with the protection taken out.
        if status.startswith("proven"):
            assert "Seen failing" in status or "seen failing" in status, row[:120]
