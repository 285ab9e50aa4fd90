"""flake.nix (Debian's nix-bin, offline): it parses, it builds from the project's own lock
files (web/package-lock.json through importNpmLock, relay_ext/Cargo.lock), and its Python
dependencies are pyproject.toml's, read by Nix itself (nix/pyproject-deps.nix, evaluated
here without nixpkgs). What cannot be checked here (no GitHub: nixpkgs cannot be fetched,
so nothing is built or locked) is said in docs/install.md, "Nix"."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def test_flake_parses_and_builds_from_the_lock_files() -> None:
    parsed = subprocess.run(
        ["nix-instantiate", "--parse", str(ROOT / "flake.nix")], capture_output=True, text=True, check=True
    ).stdout
    for name in (
        "devShells",
        "packages",
        "python311",
        "maturinBuildHook",
        "importCargoLock",
        "relay_ext/Cargo.lock",
        "importNpmLock",
        "buildNpmPackage",
        "pyproject-deps.nix",
        "(deps).core",
        "(deps).extras",
        "SAETA_STATIC_OUT",
    ):
        assert name in parsed, name
    assert "nixos-24.11" not in parsed  # its grpcio and protobuf are below the floors


def test_the_flakes_dependencies_are_pyprojects() -> None:
    evaluated = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E", f"import {ROOT / 'nix' / 'pyproject-deps.nix'}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    deps = json.loads(evaluated)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert deps["version"] == project["version"]
    assert deps["core"] == [canonicalize_name(Requirement(r).name) for r in project["dependencies"]]
    for extra, requirements in project["optional-dependencies"].items():
        if extra in ("dev", "all"):
            continue
        wanted = [
            canonicalize_name(Requirement(r).name)
            for r in requirements
            if "win32" not in r and not r.startswith("saeta[")
        ]
        assert deps["extras"][extra] == wanted, extra


def test_nix_parser_rejects_broken_nix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nix"
    bad.write_text("{ outputs = { self }: ")
    assert subprocess.run(["nix-instantiate", "--parse", str(bad)], capture_output=True).returncode != 0
