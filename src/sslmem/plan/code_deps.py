"""Which files of the package a verb runs: read from the code (imports at module level or inside functions),
so that a DVC stage lists as dependencies exactly the code its jobs execute."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2]
# Functions of cli.py every verb runs (argument parsing, settings, error reporting).
CLI_SHARED = ("_settings", "_add_common", "build_parser", "main", "_user_errors")


def module_file(name: str) -> Path | None:
    path = SRC / Path(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def imported_modules(nodes) -> set[str]:
    """sslmem modules imported anywhere in `nodes` (a module's or a function's AST)."""
    found = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Import):
                found |= {alias.name for alias in sub.names if alias.name.startswith("sslmem")}
            elif isinstance(sub, ast.ImportFrom) and sub.module and sub.module.startswith("sslmem"):
                found.add(sub.module)
                # `from sslmem import config` imports the module sslmem.config
                found |= {f"{sub.module}.{alias.name}" for alias in sub.names
                          if module_file(f"{sub.module}.{alias.name}") is not None}
    return found


@lru_cache(maxsize=None)
def closure(module: str) -> frozenset[str]:
    """`module`, the packages above it and every sslmem module they import, transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        todo += sorted(imported_modules([ast.parse(module_file(name).read_text())]))
    return frozenset(seen)


def verb_entry_modules(verb: str, builders: frozenset[str] = frozenset()) -> set[str]:
    """The modules the CLI function of `verb` imports (and, for `report`, the result builders' modules)."""
    tree = ast.parse((SRC / "sslmem/cli.py").read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    wanted = [functions[name] for name in (*CLI_SHARED, f"cmd_{verb.replace('-', '_')}") if name in functions]
    # cli.py itself is read through the verb's functions only (each verb imports its own stage lazily).
    return (imported_modules(top_level + wanted) - {"sslmem.cli"}) | set(builders)


def files_run_by(verbs, builders: frozenset[str] = frozenset()) -> set[Path]:
    """Every file of the package the verbs run, with the YAML files a module reads from its own folder."""
    modules = set()
    for verb in verbs:
        for entry in verb_entry_modules(verb, builders if verb == "report" else frozenset()):
            modules |= closure(entry)
    files = {module_file(name) for name in modules} | {SRC / "sslmem/cli.py", SRC / "sslmem/__init__.py"}
    for path in list(files):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".yaml"):
                beside = path.parent / node.value
                if beside.is_file():
                    files.add(beside)
    return files
