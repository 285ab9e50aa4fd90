"""Regenerate python/saeta/v1 from proto/saeta/v1/*.proto (the one generator).

Usage: python scripts/gen_protos.py [OUT_DIR]   (default: python/)
tests/test_generated_code.py runs it into a temp dir and fails on any difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "saeta/v1").glob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    mypy_plugin = Path(sys.executable).parent / "protoc-gen-mypy"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={mypy_plugin}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    init = out / "saeta/v1/__init__.py"
    init.write_text('"""Generated protobuf/gRPC code for the tunnel; never edit by hand."""\n')


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "python")
