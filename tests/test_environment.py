"""The declared software environment agrees with itself: pyproject.toml's dependencies, the jobs' conda
environment (environment.yml, every rule's `conda:`) and the lock of exact versions (requirements.lock) name the
same packages, the conda file pins exactly the locked versions, and its post-deploy script gives the jobs an
`sslmem` command that runs the repository's package."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def declared() -> dict[str, Requirement]:
    requirements = map(Requirement, pyproject()["project"]["dependencies"])
    return {canonicalize_name(r.name): r for r in requirements}


def conda_pip_requirements() -> dict[str, Requirement]:
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict))
    # No install of the package itself (a relative editable path breaks where Snakemake deploys the env).
    assert not [line for line in pip if line.startswith("-e") or "sslmem" in line], pip
    return {canonicalize_name(Requirement(line).name): Requirement(line) for line in pip}


def locked() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_conda_environment_pins_the_locked_version_of_every_declared_package():
    ours, conda, pins = declared(), conda_pip_requirements(), locked()
    assert set(ours) == set(conda)
    for name, requirement in conda.items():
        assert str(requirement.specifier) == f"=={pins[name]}", name


def test_the_rules_use_the_top_level_environment_file():
    snakefile = (REPO / "Snakefile").read_text()
    assert 'SOFTWARE_ENV = "../../environment.yml"' in snakefile  # relative to workflow/rules/jobs.smk
    # (None only in a copy of the workflow without the file, e.g. the tests' copies: Snakemake would fail on it.)
    assert (REPO / "workflow/rules" / "../../environment.yml").resolve() == REPO / "environment.yml"


def test_post_deploy_script_gives_jobs_an_sslmem_command_that_runs_the_repository(tmp_path):
    """What Snakemake does after building the env: run the script inside it. Then `sslmem` from a preset's folder
    (runs/<preset>/ of the repository) finds src/ two levels up and runs this package."""
    prefix = tmp_path / "env"
    (prefix / "bin").mkdir(parents=True)
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    env = dict(os.environ, CONDA_PREFIX=str(prefix), PATH=path)
    env.pop("PYTHONPATH", None)
    subprocess.run(["bash", str(REPO / "environment.post-deploy.sh")], env=env, check=True)
    preset_dir = REPO / "runs" / "post_deploy_check"
    preset_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run([str(prefix / "bin/sslmem"), "--help"], cwd=preset_dir, env=env,
                                capture_output=True, text=True)
        outside = subprocess.run([str(prefix / "bin/sslmem"), "--help"], cwd=tmp_path, env=env,
                                 capture_output=True, text=True)
    finally:
        preset_dir.rmdir()
    assert result.returncode == 0, result.stderr
    assert "usage: sslmem" in result.stdout
    assert outside.returncode == 1 and "no src/sslmem/" in outside.stderr


def test_lock_holds_every_declared_and_test_package_in_its_range():
    pins = locked()
    extras = [Requirement(r) for r in pyproject()["project"]["optional-dependencies"]["test"]]
    for requirement in [*declared().values(), *extras]:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_test_only_packages_stay_out_of_the_jobs_environment():
    extras = {canonicalize_name(Requirement(r).name) for r in pyproject()["project"]["optional-dependencies"]["test"]}
    assert not extras & set(conda_pip_requirements())
