"""saeta.core stays sans-I/O: none of its modules imports an I/O framework."""

from __future__ import annotations

import ast
from pathlib import Path

import saeta.core

FORBIDDEN = {"asyncio", "grpc", "starlette", "uvicorn", "redis", "socket", "httpx", "websockets", "subprocess"}


def test_core_imports_no_io() -> None:
    for path in Path(saeta.core.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
