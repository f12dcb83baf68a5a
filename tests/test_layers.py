"""The package's layers: no module imports one that imports it back (no import cycle, lazy imports included), the
config package imports no study and no plan, and no module or function grows past what a reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

from sslmem.plan.code_deps import module_file

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "sslmem").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports_of(tree: ast.AST) -> set[str]:
    """The sslmem modules a module's code imports: `import a.b` → a.b; `from a import b` → a.b where b is a
    module (a submodule imported through its package), else a (a name the module a defines)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("sslmem")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sslmem"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if module_file(submodule) is not None else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    """module → the sslmem modules it imports, at module level or inside functions (a package's __init__ is a
    module like any other: importing a name from the package runs it)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        targets = imports_of(ast.parse(path.read_text()))
        graph[name] = {target for target in targets if target in known and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_in_the_package():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_config_is_below_the_studies_and_the_plan():
    graph = import_graph()
    upward = {(name, target) for name, targets in graph.items() if name.startswith("sslmem.config")
              for target in targets if target.startswith(("sslmem.studies", "sslmem.plan", "sslmem.jobs"))}
    assert not upward
    studies_to_plan = {(name, target) for name, targets in graph.items() if name.startswith("sslmem.studies")
                       for target in targets if target.startswith("sslmem.plan")}
    assert not studies_to_plan  # studies declare their jobs with sslmem.jobs, below them


def test_modules_and_functions_stay_small():
    long_modules = {name: len(path.read_text().splitlines()) for name, path in modules().items()
                    if len(path.read_text().splitlines()) > MAX_MODULE_LINES}
    assert not long_modules
    long_functions = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {length}")
    assert not long_functions
