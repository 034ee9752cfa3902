"""The service's modules import each other without a circle (type-only imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import localflex.service

PACKAGE = Path(localflex.service.__file__).parent


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = deps
    return {n: {d for d in deps if d in graph and d != n} for n, deps in graph.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                return [*stack[stack.index(d):], d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_service_modules_have_no_import_circle():
    graph = _graph()
    assert "localflex.service.context" in graph
    # a package importing its own submodules (``__init__`` re-exports) is not a circle
    for n in graph:
        graph[n] = {d for d in graph[n] if not n.startswith(d + ".")}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
