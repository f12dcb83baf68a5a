"""dvc.yaml is generated from the plan, and DVC and Snakemake plan the same outputs for the default preset."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sslmem import config, plan
from sslmem.config import fingerprint
from sslmem.plan import dvc
from sslmem.plan.code_deps import closure, verb_entry_modules
from sslmem.plan.resolve import Resolver
from sslmem.plan import load_settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_plan():
    return plan.build(load_settings(REPO / "params.yaml", preset="default", check_roots=False))


def test_committed_dvc_yaml_is_what_the_plan_writes(default_plan):
    committed = (REPO / "dvc.yaml").read_text()
    assert committed == dvc.render(default_plan), (
        "dvc.yaml is stale: regenerate it with `sslmem dvc-yaml` (it is written from the plan, never by hand)")


def _snakemake_outputs(targets: list[str]) -> set[str]:
    """Every output file `snakemake -n --forceall` plans for the targets (its own resolution of the rules)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["snakemake", "-n", "--forceall", *targets, "--config", "preset=default"],
                          cwd=REPO, env=env, capture_output=True, text=True, check=True)
    found = set()
    for line in done.stdout.splitlines():
        match = re.match(r"^\s+output: (.*)$", line)
        if match:
            found |= set(match.group(1).split(", "))
    return found


def _dvc_outs() -> dict[str, list[str]]:
    """stage → its outputs, as DVC itself reads dvc.yaml (which also refuses overlapping outputs and cycles)."""
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        return {stage.name: [str(Path(str(out.fs_path)).relative_to(REPO)) for out in stage.outs]
                for stage in repo.index.stages}


def test_dvc_and_snakemake_plan_the_same_outputs(default_plan):
    stages = dvc.stages(default_plan)
    targets = [stage.target for stage in stages]
    planned = _snakemake_outputs(targets)
    resolved = {out for job in Resolver(default_plan.kinds).jobs(
        [f for stage in stages for f in (default_plan.targets.get(stage.target) or
                                         list(default_plan.kind("settings").outputs.values()))])
        for out in job.outputs}
    assert planned == resolved, (f"only Snakemake: {sorted(planned - resolved)[:5]}; "
                                 f"only the plan: {sorted(resolved - planned)[:5]}")
    outs = _dvc_outs()
    assert set(outs) == {stage.name for stage in stages}
    owners = collections.defaultdict(list)
    for stage, paths in outs.items():
        for path in paths:
            inside = [file for file in planned if file == path or file.startswith(path + "/")]
            assert inside, f"DVC stage {stage!r} declares {path}, which no planned job writes"
            for file in inside:
                owners[file].append(stage)
    unowned = sorted(file for file in planned if not owners[file])
    assert not unowned, f"planned outputs that no DVC stage tracks: {unowned[:5]}"
    assert all(len(stages_) == 1 for stages_ in owners.values())


def test_default_trains_each_distinct_encoder_once(default_plan):
    """Encoders by content: two studies that need the same encoder (same recipe, training set and seed) get one
    training job. On the default, the dynamics study follows 12 core encoders instead of retraining them."""
    targets = [file for files in default_plan.targets.values() for file in files]
    trains = [job for job in Resolver(default_plan.kinds).jobs(targets) if job.kind.verb == "train"]
    keys = collections.Counter()
    for job in trains:
        wildcards = dict(job.wildcards)
        w = type("W", (), wildcards)()
        study = wildcards.get("study")
        spec = default_plan.runs.spec(w, study)
        recipe = default_plan.runs.training_set_recipe(w, study)
        keys[fingerprint({"training": spec.training_settings(default_plan.settings),
                          "set": [recipe.kind, dict(recipe.options), dict(recipe.inputs)]})] += 1
    assert max(keys.values()) == 1
    # 22 core encoders (12 of them keep the dynamics study's snapshots), 12 of the halves, 18 removal, 18 coreset,
    # 12 overlap, 18 planted, 4 + 12 + 20 recipe variants (privacy, regularizer, augmentations with no_aug),
    # 24 replication, 12 ResNet9 of the localization study (2 datasets x 3 pairs). The dense, localization-uses
    # and UnitMem-conditions studies train none: they read other studies' encoders.
    assert len(trains) == 172
    assert sum(job.name == "dynamics_train" for job in trains) == 12


def test_every_registered_result_belongs_to_a_stage(default_plan):
    entries = dvc.stage_entries(default_plan)
    tracked = {next(iter(out)) for entry in entries.values()
               for section in ("outs", "plots", "metrics") for out in entry.get(section, [])}
    assert {result.path for result in default_plan.results.values()} <= tracked


def test_the_import_reader_finds_lazy_imports():
    # cmd_train imports its stage inside the function; the closure follows it into the training loop.
    assert "sslmem.pipeline.train" in verb_entry_modules("train")
    assert any(name.startswith("sslmem.method") for name in closure("sslmem.pipeline.train"))
