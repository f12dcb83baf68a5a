"""How the workflow is started, as a Snakemake user would: plain `snakemake` picks up the workflow's profile,
tables are rebuilt from result files on a machine without the datasets (the paper preset's CIFAR/ImageNet are
not on this machine), a typo'd key is named with the key it resembles, and `snakemake --lint` finds only the
warning the README explains."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sslmem import config
from sslmem.artifacts import SCORE_COLUMNS, SCORES, SUBSETS
from sslmem.artifacts import preset_root
from sslmem.plan import load_settings

REPO = Path(__file__).resolve().parents[1]


def project_copy(tmp_path: Path) -> Path:
    """The workflow's files (not results/) in a fresh folder; jobs import sslmem from this checkout's src."""
    work = tmp_path / "project"
    work.mkdir()
    for name in ("Snakefile", "params.yaml", "environment.yml", "environment.post-deploy.sh"):
        shutil.copy(REPO / name, work / name)
    shutil.copytree(REPO / "workflow", work / "workflow", symlinks=True)
    (work / "profiles").symlink_to("workflow/profiles")
    return work


def snakemake(work: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([str(bin_dir / "snakemake"), *args], cwd=work, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_plain_snakemake_applies_the_workflow_profile(tmp_path):
    work = project_copy(tmp_path)
    result = snakemake(work, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "workflow specific profile profiles/default" in result.stderr
    profile = yaml.safe_load((REPO / "workflow/profiles/default/config.yaml").read_text())
    assert profile["rerun-triggers"] == ["params", "input", "code", "software-env"]
    # Executor settings belong to the executor profiles: the workflow profile would override them there.
    assert not {"keep-going", "latency-wait", "jobs", "executor"} & set(profile)


def synthetic_scores(dataset: str, setup: str, method: str, arch: str, seeds, rng) -> pd.DataFrame:
    """A valid score file: 8 points per subset, ensemble and pair rows, S_C shifted up."""
    rows = []
    for estimate, seed in [("ensemble", -1), *(("pair", s) for s in seeds)]:
        for subset in SUBSETS:
            for point in range(8):
                m = rng.normal(0.3 if subset == "S_C" else 0.0, 0.1)
                rows.append({"dataset": dataset, "setup": setup, "method": method, "arch": arch,
                             "representation": "encoder", "estimate": estimate, "seed": seed,
                             "point_id": point, "source": "train", "subset": subset, "label": point % 10,
                             "align_f": 1.0, "align_g": 1.0 + m, "m_raw": m, "m": m})
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def test_paper_preset_table_is_rebuilt_from_scores_without_its_datasets(tmp_path):
    """The reviewer's case: the paper preset's score files and no CIFAR-10/ImageNet on the machine."""
    work = project_copy(tmp_path)
    settings = load_settings(REPO / "params.yaml", preset="paper", check_roots=False)
    runs = config.experiment_runs(settings)
    rng = np.random.default_rng(0)
    setups = sorted({(run.dataset, run.setup, run.method, run.arch) for run in runs})
    for dataset, setup, method, arch in setups:
        seeds = sorted({run.seed for run in runs if (run.dataset, run.setup) == (dataset, setup)})
        path = work / preset_root("paper") / SCORES.format(dataset=dataset, setup=setup)  # the paper preset's folder
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_scores(dataset, setup, method, arch, seeds, rng).to_parquet(path, index=False)
    result = snakemake(work, "--cores", "1", "results/table2.csv", "--config", "preset=paper")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "rule train" not in result.stdout + result.stderr
    table2 = pd.read_csv(work / preset_root("paper") / "results/table2.csv")
    assert set(zip(table2["dataset"], table2["setup"])) == {(d, s) for d, s, _, _ in setups}
    assert not (work / "results/table2.csv").exists()  # the default preset's files are not touched


def rename_key(text: str, line_number: int, old: str, new: str) -> str:
    lines = text.splitlines(keepends=True)
    assert old in lines[line_number]
    lines[line_number] = lines[line_number].replace(old, new, 1)
    return "".join(lines)


@pytest.mark.parametrize("section, key", [("methods", "warmup_epochs"), ("training", "num_threads")])
def test_a_typo_is_named_with_the_key_it_resembles_first(tmp_path, section, key):
    work = project_copy(tmp_path)
    text = (work / "params.yaml").read_text()
    # the first occurrence of the key as a key (not in a comment) under `common`
    line_number = next(i for i, line in enumerate(text.splitlines()) if line.strip().startswith(f"{key}:"))
    (work / "params.yaml").write_text(rename_key(text, line_number, f"{key}:", f"{key[:-1]}:"))
    result = snakemake(work, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    message = next(line for line in output.splitlines() if "params.yaml" in line and "invalid" in line)
    assert f"unknown key '{key[:-1]}'; did you mean '{key}'?" in message, output[-3000:]
    assert "Unevaluated properties" not in output and "is a required property" not in output, output[-3000:]


def lint_findings(output: str) -> set[tuple[str, str]]:
    """(what, lint title) pairs from `snakemake --lint`'s text output ("Lints for rule X" / "    * title:")."""
    findings, subject = set(), None
    for line in output.splitlines():
        if line.startswith("Lints for "):
            subject = line.removeprefix("Lints for ").split(" (line")[0].rstrip(":")
        elif line.startswith("    * ") and subject:
            findings.add((Path(subject.split()[-1]).name if subject.startswith("snakefile") else subject,
                          line.removeprefix("    * ").rstrip(":")))
    return findings


def test_lint_finds_nothing(tmp_path):
    work = project_copy(tmp_path)
    result = snakemake(work, "--lint")
    # The rules are generated from the plan by one template (workflow/rules/jobs.smk): nothing to explain.
    assert lint_findings(result.stdout + result.stderr) == set(), result.stdout + result.stderr
