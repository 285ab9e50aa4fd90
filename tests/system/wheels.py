"""The release wheel, built once per test session as scripts/dist.sh builds it:
manylinux2014 (glibc 2.17), linked by zig, for this machine's x86_64."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def maturin(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # zig: `python -m ziglang`
    done = subprocess.run(
        [str(VENV_BIN / "maturin"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1500
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@functools.cache
def release_wheel() -> Path:
    out = Path(tempfile.mkdtemp(prefix="saeta-dist-"))
    maturin("build", "--release", "--zig", "--compatibility", "manylinux2014", "-q", "-o", str(out))
    (wheel,) = out.glob("saeta-*.whl")
    return wheel
