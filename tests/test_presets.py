"""Presets never share files: in a fresh clone the design card's Slurm command plans the paper preset's whole graph
(in runs/paper/), while the default preset, whose results are committed at the top, has nothing to do."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sslmem import artifacts, plan
from sslmem.plan.resolve import Resolver

REPO = Path(__file__).resolve().parents[1]


def fresh_clone(dest: Path) -> Path:
    """The checkout's tracked and new (not ignored) files, as `git clone` of this state gives them: no results
    beyond the committed ones, no .snakemake/ records."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_symlink() or source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name, follow_symlinks=False)
    return dest


def dry_run(clone: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    done = subprocess.run(["snakemake", "-n", *args], cwd=clone, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def planned_checkpoints(output: str) -> set[str]:
    """The checkpoints of every training job (train, or a study's training kind that replaces it) in a dry run."""
    return {match for match in re.findall(r"output: (results/checkpoints/\S+?\.pt)", output)}


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return fresh_clone(tmp_path_factory.mktemp("clone"))


def test_the_slurm_command_plans_every_table1_encoder_of_the_paper_preset(clone):
    output = dry_run(clone, "--profile", "slurm", "results/table1.csv")
    settings = plan.load_settings(REPO / "params.yaml", preset="paper", check_roots=False)
    paper = plan.build(settings)
    expected = {job.outputs[0] for job in Resolver(paper.kinds).jobs(["results/table1.csv"]) if job.kind.verb == "train"}
    assert expected and planned_checkpoints(output) == expected
    assert len(expected) == len(paper.runs.all_encoder_files(artifacts.CHECKPOINT))  # every encoder of the preset
    assert not (clone / "runs/paper/results/table1.csv").exists()  # planned, not built
    assert (clone / "results/table1.csv").is_file()  # the default preset's committed table is untouched


def test_the_default_preset_has_nothing_to_do(clone):
    assert "Nothing to be done" in dry_run(clone)


def test_switching_presets_plans_the_other_preset_apart(clone):
    # The test preset's table1 is its own file (runs/test/results/table1.csv): planned, though the default's exists.
    output = dry_run(clone, "results/table1.csv", "--config", "preset=test")
    assert "Nothing to be done" not in output and planned_checkpoints(output)
    assert "Nothing to be done" in dry_run(clone)


def test_every_preset_works_in_its_own_folder():
    assert artifacts.preset_root("default") == "."
    roots = {artifacts.preset_root(name) for name in ("default", "paper", "test", "own_images")}
    assert len(roots) == 4 and all(root == "." or root.startswith("runs/") for root in roots)
