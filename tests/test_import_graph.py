"""The package's import graph: no import circles (counting imports inside functions,
which only hide a circle), and no import runs upward — core/ imports none of the process
packages, and the three processes (gateway, connector, control plane) import none of
each other (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import saeta

ROOT = Path(saeta.__file__).parent
PROCESSES = ("saeta.gateway", "saeta.connector", "saeta.control_plane")


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = ("saeta", *path.relative_to(ROOT).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph[node]):
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done and (found := visit(nxt)) is not None:
                return found
        on_path.discard(path.pop())
        done.add(node)
        return None

    return visit(start)


def test_no_import_circles() -> None:
    graph = _graph()
    for name in sorted(graph):
        cycle = _cycle_from(graph, name)
        assert cycle is None, " -> ".join(cycle)


def test_no_import_runs_upward() -> None:
    for name, imported in _graph().items():
        if name.startswith("saeta.core."):
            upward = {t for t in imported if t.startswith((*PROCESSES, "saeta.cli", "saeta.demo"))}
            assert not upward, f"{name} imports {sorted(upward)}"
        for process in PROCESSES:
            if name.startswith(process + ".") or name == process:
                others = {t for t in imported if t.startswith(tuple(p for p in PROCESSES if p != process))}
                assert not others, f"{name} imports {sorted(others)}"


def test_the_graph_sees_imports_inside_functions() -> None:
    """The check itself: the factory imports the SQL sources inside a function."""
    assert "saeta.connector.sources.sql_source" in _graph()["saeta.connector.sources.factory"]
