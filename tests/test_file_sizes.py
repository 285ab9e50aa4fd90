"""Rooms stay small: a module of python/saeta or web/src over 300 lines says at its top
why it is one file (a line "Why one file: ..." in its docstring or header comment)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 300
HEADER_LINES = 40  # where the reason must be: the docstring or header comment


def _long_files() -> list[Path]:
    found = []
    for pattern, base in (("*.py", ROOT / "python" / "saeta"), ("*.js", ROOT / "web" / "src")):
        for path in sorted(base.rglob(pattern)):
            if path.relative_to(base).parts[0] in ("v1", "flight") or "static" in path.parts:
                continue  # generated code and built assets
            if len(path.read_text().splitlines()) > MAX_LINES:
                found.append(path)
    return found


def test_every_long_file_says_why_it_is_one() -> None:
    missing = [
        str(p.relative_to(ROOT))
        for p in _long_files()
        if "Why one file:" not in "\n".join(p.read_text().splitlines()[:HEADER_LINES])
    ]
    assert not missing, f"over {MAX_LINES} lines with no reason at the top: {missing}"


def test_the_check_sees_the_long_files() -> None:
    """The check itself: the Python twin of the relay is long, and found."""
    assert ROOT / "python" / "saeta" / "_relay_py.py" in _long_files()
