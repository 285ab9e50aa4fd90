"""flake.nix parses (Debian's nix-bin, offline) and offers what the README promises."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_flake_parses_and_declares_the_toolchain() -> None:
    parsed = subprocess.run(
        ["nix-instantiate", "--parse", str(ROOT / "flake.nix")], capture_output=True, text=True, check=True
    ).stdout
    for name in (
        "devShells",
        "packages",
        "python311",
        "maturin",
        "nodejs_20",
        "redis",
        "chromium",
        "postgresql_15",
        "maturinBuildHook",
    ):
        assert name in parsed, name


def test_nix_parser_rejects_broken_nix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nix"
    bad.write_text("{ outputs = { self }: ")
    assert subprocess.run(["nix-instantiate", "--parse", str(bad)], capture_output=True).returncode != 0
