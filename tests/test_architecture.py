"""The code structure (issue 15): no import cycle among yoloxkit's modules, the layers import
downwards only (docs/architecture.md), no module over 400 lines. Imports under
``if TYPE_CHECKING:`` are annotations, not dependencies; imports inside functions count like the
others."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: package -> packages it may never import (at any depth).
FORBIDDEN = {
    "yoloxkit.structures": ("yoloxkit.detector", "yoloxkit.train", "yoloxkit.evaluation", "yoloxkit.export", "yoloxkit.serve", "yoloxkit.cli"),
    "yoloxkit.ops": ("yoloxkit.detector", "yoloxkit.train", "yoloxkit.evaluation", "yoloxkit.export", "yoloxkit.serve", "yoloxkit.cli"),
    "yoloxkit.models": ("yoloxkit.detector", "yoloxkit.train", "yoloxkit.evaluation", "yoloxkit.export", "yoloxkit.serve", "yoloxkit.cli"),
    "yoloxkit.data": ("yoloxkit.detector", "yoloxkit.train", "yoloxkit.evaluation", "yoloxkit.export", "yoloxkit.serve", "yoloxkit.cli"),
    "yoloxkit.datasets": ("yoloxkit.detector", "yoloxkit.train", "yoloxkit.evaluation", "yoloxkit.export", "yoloxkit.serve", "yoloxkit.cli"),
    "yoloxkit.detector": ("yoloxkit.train", "yoloxkit.evaluation", "yoloxkit.export", "yoloxkit.serve", "yoloxkit.cli"),
    "yoloxkit.evaluation": ("yoloxkit.detector", "yoloxkit.train", "yoloxkit.export", "yoloxkit.serve", "yoloxkit.cli"),
    "yoloxkit.train": ("yoloxkit.export", "yoloxkit.serve", "yoloxkit.cli"),
    "yoloxkit.export": ("yoloxkit.train", "yoloxkit.serve", "yoloxkit.cli"),
    "yoloxkit.report": ("yoloxkit.detector", "yoloxkit.train", "yoloxkit.export", "yoloxkit.serve", "yoloxkit.cli"),
}  # fmt: skip


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "yoloxkit").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if _type_checking(node):
            stack.extend(node.orelse)  # the TYPE_CHECKING body is for annotations only
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join([*base, node.module] if node.module else base)
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    graph[name].add(full if full in mods else target)
            else:
                graph[name].update(alias.name for alias in node.names)
        graph[name] &= set(mods)
        graph[name].discard(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_sees_imports():
    graph = import_graph()
    assert "yoloxkit.detector" in graph["yoloxkit.train.validate"]  # a module-level import
    assert "yoloxkit.detector" not in graph["yoloxkit.evaluation.inference"]  # under TYPE_CHECKING only


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_cycle_detection_works():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("layer", list(FORBIDDEN))
def test_layers_import_downwards(layer: str):
    graph = import_graph()
    inside = [name for name in graph if name == layer or name.startswith(layer + ".")]
    bad = [(name, target) for name in inside for target in graph[name]
           if any(target == f or target.startswith(f + ".") for f in FORBIDDEN[layer])]  # fmt: skip
    assert bad == [], bad


#: Longest module allowed in src/ (issue 15): a longer one holds more than one job; split it.
MAX_LINES = 400


def test_no_module_over_the_line_limit():
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    assert len(lengths) > 100  # the walk found the package
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}
