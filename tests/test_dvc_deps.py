"""Each DVC stage lists as deps every file of sslmem its jobs run: a stage whose code changed must rerun.

What a stage runs is read from the code: the stage's `sslmem <verb>` (the CLI function of that verb and what it
imports, at module level or inside functions), the registry's builders for the report stage, and from there every
`sslmem` module imported, transitively, with the packages around them and the YAML files they read.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
# DVC stage -> the sslmem verbs its Snakemake target runs.
STAGE_VERBS = {
    "settings": ["settings"],
    "splits": ["split", "training-set"],
    "train": ["train"],
    "align": ["align"],
    "score": ["score"],
    "probe": ["probe"],
    "report": ["report"],
    "halves": ["training-set", "train", "align", "score", "probe", "report"],
    "removal": ["training-set", "train", "probe", "report"],
    "coreset": ["training-set", "train", "probe", "report"],
    "privacy": ["training-set", "train", "align", "score", "probe", "report"],
    "regularizer": ["training-set", "train", "align", "score", "probe", "report"],
    "augmentations": ["training-set", "train", "align", "score", "probe", "report"],
    "overlap": ["split", "training-set", "train", "align", "score", "probe", "report"],
    "measure_views": ["align", "score", "report"],
    "dynamics": ["training-set", "train", "align", "score", "probe", "report"],
    "planted": ["plant", "training-set", "train", "align", "score", "report"],
    "feldman": ["feldman", "report"],
    "dejavu": ["dejavu", "report"],
    "classmem": ["classmem", "report"],
    "galleries": ["allpoints", "report"],
}
# Functions of cli.py every verb runs (argument parsing, settings, error reporting).
CLI_SHARED = ["_settings", "_add_common", "build_parser", "main", "_user_errors"]


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


def verb_entry_modules(verb: str) -> set[str]:
    tree = ast.parse((SRC / "sslmem/cli.py").read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    wanted = [functions[name] for name in CLI_SHARED + [f"cmd_{verb.replace('-', '_')}"] if name in functions]
    # cli.py itself is read through the verb's functions only (each verb imports its own stage lazily).
    modules = imported_modules(top_level + wanted) - {"sslmem.cli"}
    if verb == "report":
        from sslmem.report.registry import load_results

        modules |= {"sslmem.report.results"} | {f"sslmem.studies.{p.stem}" for p in (SRC / "sslmem/studies").glob("*.py")}
        modules |= {result.builder.split(":")[0] for result in load_results().values()}
    return modules


def files_run_by(stage: str) -> set[Path]:
    modules = set()
    for verb in STAGE_VERBS[stage]:
        for entry in verb_entry_modules(verb):
            modules |= closure(entry)
    files = {module_file(name) for name in modules} | {SRC / "sslmem/cli.py", SRC / "sslmem/__init__.py"}
    # YAML files a module reads from its own folder (the params schema, the paper's values).
    for path in list(files):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".yaml"):
                beside = path.parent / node.value
                if beside.is_file():
                    files.add(beside)
    return files


def covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(REPO)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


@pytest.mark.parametrize("stage", sorted(STAGE_VERBS))
def test_stage_deps_cover_the_code_it_runs(stage):
    deps = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]["deps"]
    missing = sorted(str(path.relative_to(REPO)) for path in files_run_by(stage) if not covered(path, deps))
    assert not missing, f"dvc.yaml stage {stage!r} runs these files but does not list them as deps: {missing}"


def test_every_stage_is_checked():
    assert set(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]) == set(STAGE_VERBS)


def test_the_import_reader_finds_lazy_imports():
    # cmd_train imports its stage inside the function; the closure follows it into the training loop.
    assert "sslmem.pipeline.train" in verb_entry_modules("train")
    assert any(name.startswith("sslmem.method") for name in closure("sslmem.pipeline.train"))
