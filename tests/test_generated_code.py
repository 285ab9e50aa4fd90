"""The committed protobuf/gRPC code equals what the generator makes from proto/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("package", ["v1", "flight"])
def test_generated_code_is_current(tmp_path: Path, package: str) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts/gen_protos.py"), str(tmp_path)], check=True, capture_output=True
    )
    committed = ROOT / "python/saeta" / package
    fresh = tmp_path / "saeta" / package
    names = sorted(p.name for p in fresh.iterdir())
    assert names == sorted(p.name for p in committed.iterdir() if p.suffix in (".py", ".pyi"))
    for name in names:
        assert (fresh / name).read_text() == (committed / name).read_text(), f"{name}: run `make protos`"
