"""Regenerate python/saeta/v1 and python/saeta/flight from proto/saeta/*/*.proto (the one
generator): the tunnel's protocol, and Arrow Flight's and Flight SQL's.

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
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.glob("saeta/*/*.proto"))
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
    (out / "saeta/v1/__init__.py").write_text(
        '"""Generated protobuf/gRPC code for the tunnel; never edit by hand."""\n'
    )
    (out / "saeta/flight/__init__.py").write_text(
        '"""Generated protobuf code of Arrow Flight and Flight SQL (docs/flight.md); never edit by hand."""\n'
    )


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "python")
