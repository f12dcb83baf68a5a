"""The workflow copied into a temporary directory and run there with Snakemake on the `test` preset, so that a test
never touches the checkout's results/ (shared by the end-to-end tests).

The test preset works in runs/test/ of the copy, as every preset but the default does (sslmem.artifacts.preset_root);
`results` in the copy links to runs/test/results, so that tests read the test preset's files where a user reads the
default preset's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def copy_workflow(workdir: Path) -> dict:
    """Snakefile, params.yaml, the environment file and workflow/ into `workdir`; returns the environment whose PATH finds this venv's
    snakemake and sslmem."""
    # environment.yml: every rule's `conda:` names it (Snakemake reads it even without --sdm conda).
    for name in ("Snakefile", "params.yaml", "environment.yml", "environment.post-deploy.sh"):
        shutil.copy(REPO / name, workdir / name)
    shutil.copytree(REPO / "workflow", workdir / "workflow")
    (workdir / "runs/test/results").mkdir(parents=True, exist_ok=True)
    (workdir / "results").symlink_to("runs/test/results", target_is_directory=True)
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`snakemake <args>` on the test preset in `workdir`; fails the test with the output's tail unless it succeeds
    (or `check` is False)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    # --config goes last: it takes every following word as a setting.
    command = ["snakemake", "--profile", "workflow/profiles/default", "--cores", "2", *args, "--config", "preset=test"]
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def copy_built_workflow(built: Path, workdir: Path) -> None:
    """A copy of a workflow copy in which the test preset's default targets are built (its encoders, scores and
    Snakemake's records), so that a test of one more target trains only what that target adds. The copy keeps
    the files' times and the relative `results` link."""
    shutil.copytree(built, workdir, symlinks=True, dirs_exist_ok=True)
