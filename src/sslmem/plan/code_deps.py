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
    own = set() if f"cmd_{verb.replace('-', '_')}" in functions else verb_modules_naming(verb)
    # build_parser imports every study's verbs module (argparse only; their bodies import the work lazily): a
    # verb depends on its own verbs module, not on the others' work.
    shared = {name for name in imported_modules(top_level + wanted) if not _is_verbs_module(name)}
    return (shared - {"sslmem.cli"}) | own | set(builders)


def _is_verbs_module(name: str) -> bool:
    return name.startswith("sslmem.pipeline.") and name.endswith("_verbs")


def verb_modules_naming(verb: str) -> set[str]:
    """A study's verbs live in modules of their own (``sslmem/pipeline/*_verbs.py``, whose ``add_verbs`` the CLI
    calls): the module that names `verb` as a string is its entry, with everything it imports (also inside
    functions, e.g. a study module's verb bodies)."""
    found = set()
    for path in sorted((SRC / "sslmem/pipeline").glob("*_verbs.py")):
        names = {node.value for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        if verb in names or any(verb == name for name in _verb_names_declared_by_imports(path)):
            found.add(f"sslmem.pipeline.{path.stem}")
    if not found:
        raise ValueError(f"verb {verb!r}: no cmd_{verb.replace('-', '_')} in cli.py and no *_verbs.py module names it")
    return found


def _verb_names_declared_by_imports(path: Path) -> set[str]:
    """Verb names declared by the study modules a verbs module imports (their ``VERBS`` tuples' first strings)."""
    names = set()
    for module in imported_modules([ast.parse(path.read_text())]):
        file = module_file(module)
        if file is None or not module.startswith("sslmem.studies."):
            continue
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)
    return names


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
