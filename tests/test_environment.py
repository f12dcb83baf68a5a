"""The declared software environment agrees with itself: pyproject.toml's dependencies, the jobs' conda
environment (workflow/envs/sslmem.yaml, every rule's `conda:`) and the lock of exact versions
(requirements.lock) name the same packages, and the locked versions satisfy the declared ranges."""

from __future__ import annotations

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
    environment = yaml.safe_load((REPO / "workflow/envs/sslmem.yaml").read_text())
    pip = next(entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict))
    requirements = [Requirement(line) for line in pip if not line.startswith("-e")]
    assert "-e ../.." in pip  # the package itself, relative to the environment file
    return {canonicalize_name(r.name): r for r in requirements}


def locked() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_conda_environment_pins_what_pyproject_pins():
    ours, conda = declared(), conda_pip_requirements()
    assert set(ours) == set(conda)
    for name, requirement in ours.items():
        assert str(requirement.specifier) == str(conda[name].specifier), name


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
