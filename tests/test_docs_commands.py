"""Every documented command works: the shell commands of the ```bash blocks of README.md and docs/*.md, run the
cheap way. A `snakemake` command runs as a dry run (-n) in a copy of the workflow (a `--report` for real there, on
the committed results), the main job (`bash scripts/reproduce.sh`) as a dry run in that copy, `sslmem <verb>` as
`sslmem <verb> --help`, and `dvc exp run -S` by applying its settings with DVC's own code to a copy of params.yaml.
Commands that need a cluster, a DVC remote, the network or a finished run are in SKIPPED with the reason; a command
that is neither handled nor skipped fails the test, so a new documented command gets checked or a reason. Also:
the named targets and verbs of inline commands exist, and every repository path and module the pages name."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

# Documented commands not run here, by their start, with the reason.
SKIPPED = {
    "bash scripts/test.sh": "the whole test suite, this test included",
    "git add": "publishes results (git history)",
    "git commit": "publishes results (git history)",
    "git push": "publishes results (a git remote)",
    "dvc push": "needs a DVC remote",
    "dvc pull": "needs a DVC remote with a published run (tests/test_reviewer.py walks it over HTTP)",
    "dvc remote add": "sets a remote on the network",
    "dvc status": "needs the DVC cache of a run (tests/test_reviewer.py)",
    "dvc repro": "runs the whole pipeline (tests/test_reviewer.py runs it on the test preset)",
    "dvc exp show": "lists the experiments of a repository that ran them",
    "SSLMEM_PROFILE=slurm dvc repro": "needs a Slurm cluster (tests/test_slurm.py starts one, marker slurm)",
    "rm -f results/": "deletes a committed result (the rebuild is walked by tests/test_reviewer.py)",
    "source .venv/bin/activate": "the environment these tests run in",
}


def bash_blocks(page: Path) -> list[str]:
    """The commands of the page's ```bash blocks: one per line, comments dropped, `&&` chains split."""
    commands = []
    for block in re.findall(r"^ *```bash\n(.*?)^ *```", page.read_text(), re.S | re.M):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                commands.append(shlex.join(words[:cut]))
                words = words[cut + 1:]
    return commands


def documented_commands() -> dict[str, list[str]]:
    """Each command of every page, with the pages that show it."""
    found: dict[str, list[str]] = {}
    for page in PAGES:
        for command in bash_blocks(page):
            found.setdefault(command, []).append(page.relative_to(REPO).as_posix())
    return found


COMMANDS = documented_commands()


def skip_reason(command: str) -> str | None:
    return next((reason for start, reason in SKIPPED.items() if command.startswith(start)), None)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """The workflow as a fresh clone has it (Snakefile, params.yaml, workflow/, the profile links, scripts/, the
    committed results), with the documented own_images preset added to params.yaml as docs/running.md says, and
    scripts/setup.sh replaced by a stub: the environment is this one, never installed into."""
    root = tmp_path_factory.mktemp("docs_workspace")
    for name in ("Snakefile", "params.yaml", "pyproject.toml", "environment.yml", "environment.post-deploy.sh"):
        shutil.copy(REPO / name, root / name)
    for name in ("workflow", "scripts"):
        shutil.copytree(REPO / name, root / name, symlinks=True)
    for name in ("profiles", "slurm"):
        (root / name).symlink_to(os.readlink(REPO / name))
    tracked = subprocess.run(["git", "ls-files", "-z", "results"], cwd=REPO, capture_output=True, check=True)
    for name in filter(None, tracked.stdout.decode().split("\0")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    (root / "scripts/setup.sh").write_text("echo '[setup] stubbed by tests/test_docs_commands.py'\n")
    with (root / "params.yaml").open("a") as params:
        params.write("\n" + own_images_block())
    return root


def own_images_block() -> str:
    """The own_images preset of docs/running.md, as it is to be added under `presets:`."""
    text = (REPO / "docs/running.md").read_text()
    start = text.index("<!-- own-images-preset:")
    return re.search(r"```yaml\n(.*?)```", text[start:], re.S).group(1)


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


_RUNS: dict[tuple, subprocess.CompletedProcess] = {}


def run_once(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`run`, once per command line and folder (documented commands that differ only by -n are one dry run)."""
    key = (tuple(command), str(cwd))
    if key not in _RUNS:
        _RUNS[key] = run(command, cwd)
    return _RUNS[key]


def dry(words: list[str]) -> list[str]:
    """`words` as a dry run: -n right after snakemake (--config stays last), or at the end of a script's arguments;
    one -n whether or not the documented command had one, so that both forms are one run."""
    words = [word for word in words if word not in ("-n", "--dry-run", "--dryrun")]
    return [words[0], "-n", *words[1:]] if words[0] == "snakemake" else [*words, "-n"]


def sslmem_verb(words: list[str]) -> str:
    """The verb of an `sslmem` command line: the first word that is neither an option nor an option's value."""
    rest = words[1:]
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] in ("--preset", "--params") else rest[1:]
    return rest[0]


def test_the_pages_document_commands_and_each_is_handled_or_skipped_with_a_reason():
    assert "bash scripts/reproduce.sh" in COMMANDS and "bash scripts/test.sh" in COMMANDS
    handled = ("snakemake", "bash scripts/reproduce.sh", "sslmem", "dvc exp run")
    unknown = [c for c in COMMANDS if not skip_reason(c) and not c.startswith(handled)]
    assert not unknown, f"documented commands neither checked nor in SKIPPED (with a reason): {unknown}"


@pytest.mark.parametrize("command", sorted(c for c in COMMANDS if c.startswith("snakemake") and not skip_reason(c)))
def test_every_documented_snakemake_command_plans(command, workspace):
    words = shlex.split(command)
    done = run_once(words if "--report" in words else dry(words), workspace)
    assert done.returncode == 0, f"{command} ({COMMANDS[command]}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    if "--report" in words:
        assert (workspace / words[words.index("--report") + 1]).stat().st_size > 0


@pytest.mark.parametrize("command", sorted(c for c in COMMANDS if c.startswith("bash scripts/reproduce.sh")))
def test_the_main_job_plans_the_default_preset_apart_from_the_committed_results(command, workspace):
    done = run_once(dry(shlex.split(command)), workspace)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command} ({COMMANDS[command]}):\n{output[-3000:]}"
    if "--incremental" in command:
        return
    assert "Nothing to be done" not in output  # the check recomputes, whatever results/ holds
    assert "[reproduce] dry run: nothing recomputed, so nothing verified" in output
    # The default preset's own jobs, with the same shell commands as at the root, in runs/reproduce/.
    assert "sslmem --params params.yaml --preset default split --dataset fashion_mnist" in output
    assert (workspace / "runs/reproduce/params.yaml").read_text() == (workspace / "params.yaml").read_text()
    assert not (workspace / "runs/reproduce/results").exists()  # planned, not built


def test_the_main_job_plans_what_the_default_preset_plans_at_the_root(workspace):
    """The check trains the same encoders and builds the same files as the default preset: its dry run plans the
    outputs that a forced dry run at the root (every job, whatever exists) plans."""
    checked = run_once(["bash", "scripts/reproduce.sh", "-n"], workspace)
    at_root = run_once(["snakemake", "-n", "--forceall"], workspace)
    assert at_root.returncode == 0 and checked.returncode == 0, at_root.stderr[-2000:] + checked.stderr[-2000:]

    def outputs(done):
        return sorted(re.findall(r"^    output: (.+)$", done.stdout, re.M))

    assert len(outputs(checked)) > 100 and outputs(checked) == outputs(at_root)


def test_every_documented_sslmem_verb_exists():
    verbs = sorted({sslmem_verb(shlex.split(c)) for c in COMMANDS if c.startswith("sslmem")}
                   | set(inline_verbs()))
    assert "verify" in verbs
    for verb in verbs:
        done = run(["sslmem", verb, "--help"], REPO)
        assert done.returncode == 0, f"sslmem {verb} --help: {done.stderr[-1000:]}"


@pytest.mark.parametrize("command", sorted(c for c in COMMANDS if c.startswith("sslmem")
                                            and sslmem_verb(shlex.split(c)) == "plan"))
def test_every_documented_cost_estimate_finds_the_jobs_of_its_targets(command):
    """`sslmem plan` reads only params.yaml: run as documented, each target it prints has jobs to cost."""
    done = run(shlex.split(command), REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines()[2:] if line.strip()]
    assert rows and all(int(row[1]) > 0 for row in rows), f"{command}: a target without jobs:\n{done.stdout}"


def inline_spans() -> list[tuple[str, str]]:
    """(page, code) of every inline code span outside the fenced blocks."""
    spans = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        spans += [(page.name, code) for code in re.findall(r"`([^`]+)`", text.replace("\n", " "))]
    return spans


def inline_verbs() -> list[str]:
    return [m.group(1) for _, code in inline_spans() for m in [re.match(r"sslmem ([a-z][a-z-]+)\b", code)] if m]


def test_every_inline_snakemake_target_and_rule_exists():
    from sslmem import plan

    built = plan.build(plan.load_settings(REPO / "params.yaml", preset="default", check_roots=False))
    names = set(built.targets) | {kind.name for kind in built.kinds}
    named = {m.group(1) for _, code in inline_spans()
             for m in [re.match(r"snakemake (?:-R )?([a-z_0-9]+)$", code)] if m}
    assert {"study_planted", "feldman", "galleries", "align"} <= named
    assert not named - names, f"named in the docs but no target or rule of the plan: {sorted(named - names)}"


def dvc_overrides() -> list[str]:
    """The -S settings of every documented `dvc exp run` (blocks and inline spans)."""
    lines = [c for c in COMMANDS if c.startswith("dvc exp run")]
    lines += [code for _, code in inline_spans() if code.startswith("dvc exp run -S '")]
    found = []
    for line in lines:
        words = shlex.split(line)
        found += [words[i + 1] for i, word in enumerate(words) if word in ("-S", "--set-param")]
    return found


@pytest.mark.parametrize("override", sorted(set(dvc_overrides())))
def test_every_documented_dvc_experiment_setting_changes_the_merged_settings(override, tmp_path):
    from dvc.utils.hydra import apply_overrides

    from sslmem import plan

    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    apply_overrides(params, [override])  # what `dvc exp run -S` does to params.yaml before it runs
    path, value = override.lstrip("+").split("=", 1)
    keys = path.split(".")
    preset = keys[1] if keys[0] == "presets" else yaml.safe_load(params.read_text())["preset"]
    settings = plan.load_settings(params, preset=preset, check_roots=False)
    for key in keys[2:] if keys[0] == "presets" else keys[1:]:
        settings = settings[key]
    assert settings == yaml.safe_load(value), f"dvc exp run -S {override!r} did not set {path}"


def test_the_documented_dvc_form_without_plus_for_a_new_key_is_refused(tmp_path):
    """Why the docs say `+` for a key params.yaml does not have at that path."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides

    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    with pytest.raises(InvalidArgumentError):
        apply_overrides(params, ["presets.default.measure.num_views=8"])


# --- what the pages name exists ------------------------------------------------------------------------------------

TOP = ("src/", "tests/", "scripts/", "benchmarks/", "workflow/", "docs/", ".ci/", "profiles/")


def test_every_repository_path_and_link_the_pages_name_exists():
    missing = []
    for page in PAGES:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)\)", text):
            if not target.startswith("http") and not (page.parent / target).exists():
                missing.append(f"{page.name}: link {target}")
        for code in re.findall(r"`([^`\s]+)`", text):
            path = code.rstrip(".,:;").split("::")[0]
            if path.startswith(TOP) and not re.search(r"[<>{}*…]", path) and not (REPO / path).exists():
                missing.append(f"{page.name}: {path}")
    assert not missing, missing


def defines(path: Path, names: list[str]) -> bool:
    """Whether the module file defines names[0] at its top level (and, for a class, names[1] in its body); read
    from the source, so that checking a name never imports torch."""
    import ast

    body = ast.parse(path.read_text()).body
    for name in names[:2]:
        found = None
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                found = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found = found or next((node for t in targets if isinstance(t, ast.Name) and t.id == name), None)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                found = found or next((node for a in node.names if (a.asname or a.name.split(".")[0]) == name), None)
        if found is None:
            return False
        if not isinstance(found, ast.ClassDef):
            return True
        body = found.body
    return True


def test_every_module_and_name_of_the_package_the_pages_name_exists():
    named = {m for page in PAGES for m in re.findall(r"(?<![\w/.-])sslmem(?:\.[A-Za-z_]\w*)+", page.read_text())
             if not m.endswith((".yaml", ".py", ".md"))}  # files named sslmem.yaml are not modules
    assert "sslmem.jobs.kinds.PROFILES" in named
    src = REPO / "src"
    missing = []
    for name in sorted(named):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            base = src.joinpath(*parts[:cut])
            module = base / "__init__.py" if (base / "__init__.py").is_file() else base.with_suffix(".py")
            if module.is_file():
                if parts[cut:] and not defines(module, parts[cut:]):
                    missing.append(name)
                break
        else:
            missing.append(name)
    assert not missing, missing
