"""The overlap study (sslmem.studies.overlap, Table 7): the level sizes against hand-computed ones (the paper's 45k
rows and the default preset's), a level's split (disjoint, sized, the core's S_E, deterministic, nested in the core's
pool permutation), the refusals before compute, the paper preset's plan, and one build of results/table7.csv through
Snakemake on the `test` preset."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sslmem import config
from sslmem.artifacts import TABLE7_COLUMNS
from sslmem.config import ConfigError
from sslmem.data.splits import check_disjoint, make_split, read_split
from sslmem.studies.plugins import load_studies
from sslmem.plan import resolve_settings, load_settings

from fakedata import write_tiny_fashion_mnist
from workflow_copy import copy_built_workflow, copy_workflow, snakemake

# Every study registered in the package's order, as config.load does, before this one is used: the validation
# cache's key follows the order the cross-field rules were registered in (importing one study first would change it
# for the rest of the test session).
load_studies()
overlap = importlib.import_module("sslmem.studies.overlap")

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
FRACTIONS = {"shared": 0.8, "candidate": 0.1, "independent": 0.1}


def preset_settings(preset: str) -> dict:
    return load_settings(REPO / "params.yaml", preset=preset, check_roots=False)


# --- sizes ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("level, expected", [
    (0.7, (35000, 10000, 10000)),    # Table 7's rows: 45k training points for f (and g) in every one
    (0.8, (40000, 5000, 5000)),      # the core split (Table 1)
    (0.85, (42500, 2500, 2500)),
])
def test_the_papers_rows_from_its_core_split(level, expected):
    core = overlap.Sizes(40000, 5000, 5000, 5000)
    sizes = overlap.level_sizes(core, level)
    assert (sizes.shared, sizes.candidate, sizes.independent) == expected
    assert sizes.f_size == 45000 and sizes.extra == 5000
    assert overlap.overlap_percent(sizes, core) == pytest.approx(100 * level)


def test_the_default_presets_levels():
    settings = preset_settings("default")
    core = overlap.core_sizes(settings, "fashion_mnist")
    assert core == overlap.Sizes(800, 100, 100, 100)
    assert overlap.level_sizes(core, 0.7) == overlap.Sizes(700, 200, 200, 100)
    assert overlap.level_sizes(core, 0.85) == overlap.Sizes(850, 50, 50, 100)
    names = [entry["name"] for entry in overlap.overlap_setups(settings)]
    assert names == ["simclr-resnet18-overlap70", "simclr-resnet18-overlap85"]
    assert overlap.split_of(settings, "fashion_mnist", names[0]) == \
        "results/studies/overlap/splits/fashion_mnist/simclr-resnet18-overlap70.csv"


def test_a_levels_encoders_train_and_align_on_its_own_split():
    from sslmem.studies.plugins import load_studies, recipe_for, split_for, study_run

    settings = preset_settings("default")
    assert "overlap" in load_studies()
    run = study_run(settings, "overlap", "fashion_mnist", "simclr-resnet18-overlap70", 0, "f")
    level_split = "results/studies/overlap/splits/fashion_mnist/simclr-resnet18-overlap70.csv"
    recipe = recipe_for(settings, run, "overlap")
    assert (recipe.kind, dict(recipe.inputs), dict(recipe.options)) == ("protocol", {"split": level_split}, {"role": "f"})
    assert split_for(settings, "fashion_mnist", "simclr-resnet18-overlap70", "overlap") == level_split
    # Only the split differs from the core encoders: the same training settings (recipe, seed, role).
    core = config.RunSpec.for_setup(settings, "fashion_mnist", "simclr-resnet18", 0, "f")
    assert run.training_settings(settings) == core.training_settings(settings)


# --- the split of a level ---------------------------------------------------------------------------------------

def level_split(core: overlap.Sizes, level: float, pool_labels, test_labels) -> pd.DataFrame:
    sizes = overlap.level_sizes(core, level)
    counts = {"shared": sizes.shared, "candidate": sizes.candidate, "independent": sizes.independent}
    return make_split("fashion_mnist", 3, pool_labels, test_labels, None, FRACTIONS, sizes.extra, counts=counts)


def ids(table: pd.DataFrame, subset: str) -> set:
    return set(table.loc[table.subset == subset, "point_id"])


@pytest.mark.parametrize("level", [0.7, 0.85])
def test_a_levels_split_is_disjoint_sized_deterministic_and_keeps_the_cores_s_e(level):
    pool_labels, test_labels = np.arange(2000) % 10, np.arange(500) % 10
    core_table = make_split("fashion_mnist", 3, pool_labels, test_labels, 1000, FRACTIONS, None)
    core = overlap.Sizes(800, 100, 100, 100)
    table = level_split(core, level, pool_labels, test_labels)
    check_disjoint(table)
    sizes = overlap.level_sizes(core, level)
    assert table.subset.value_counts().to_dict() == {"S_S": sizes.shared, "S_C": sizes.candidate,
                                                      "S_I": sizes.independent, "S_E": 100}
    assert ids(table, "S_E") == ids(core_table, "S_E")
    pd.testing.assert_frame_equal(table, level_split(core, level, pool_labels, test_labels))
    # One pool permutation: the levels are nested in the core's subsets.
    if level < 0.8:
        assert ids(table, "S_S") < ids(core_table, "S_S") and ids(core_table, "S_C") < ids(table, "S_C")
        assert ids(core_table, "S_I") < ids(table, "S_I")
    else:
        assert ids(core_table, "S_S") < ids(table, "S_S") and ids(table, "S_C") < ids(core_table, "S_C")
        assert ids(table, "S_I") < ids(core_table, "S_I")


def test_sslmem_split_with_sizes_writes_the_level_with_its_hash_and_the_cores_s_e(tmp_path, monkeypatch):
    from sslmem.cli import main

    monkeypatch.chdir(tmp_path)  # config.load's validation cache
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["common"]["data"]["roots"]["fashion_mnist"] = str(write_tiny_fashion_mnist(tmp_path / "fm"))
    raw["presets"]["test"]["splits"]["pool_size"] = 100        # 80/10/10 of the tiny dataset's 120 images
    # ClassMem's sample (10 per class) no longer fits an S_S of 80; this test is about the split, not ClassMem.
    raw["presets"]["test"]["report"]["classmem"]["points_per_class"] = 5
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    common = ["--params", str(params), "--preset", "test", "split", "--dataset", "fashion_mnist"]
    assert main([*common, "--out", str(tmp_path / "core.csv")]) == 0
    for attempt in ("a", "b"):
        assert main([*common, "--sizes", "70", "20", "20", "10", "--setup", "simclr-resnet18-overlap70",
                     "--out", str(tmp_path / f"level_{attempt}.csv")]) == 0
    core, _ = read_split(tmp_path / "core.csv")
    table, digest = read_split(tmp_path / "level_a.csv")
    assert (tmp_path / "level_a.csv").read_bytes() == (tmp_path / "level_b.csv").read_bytes()
    assert table.subset.value_counts().to_dict() == {"S_S": 70, "S_C": 20, "S_I": 20, "S_E": 10}
    assert ids(table, "S_E") == ids(core, "S_E")
    meta = json.loads((tmp_path / "level_a.json").read_text())
    assert meta["sha256"] == digest and meta["setup"] == "simclr-resnet18-overlap70"
    assert meta["counts"] == {"S_S": 70, "S_C": 20, "S_I": 20, "S_E": 10}


# --- settings -----------------------------------------------------------------------------------------------------

@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize("preset, run, needles", [
    ("test", {"overlaps": [1.2]}, ["studies.overlap.runs[0].overlaps: 1.2 is outside (0, 1)"]),
    ("test", {"overlaps": [0]}, ["studies.overlap.runs[0].overlaps: 0 is outside (0, 1)"]),
    # pool 200: 160/20/20, N_f 180; 0.95 → |S_S| 190 > N_f
    ("test", {"overlaps": [0.95]}, ["overlaps: 0.95 leaves an empty subset", "|S_C| = |S_I| = -10",
                                   "must lie in (0, 0.9)"]),
    ("test", {"overlaps": [0.7, 0.7]}, ["studies.overlap.runs[0].overlaps", "name the same setup twice"]),
    ("test", {"setup": "nope"}, ["studies.overlap.runs[0].setup: no setup 'nope' in experiment.setups"]),
    ("test", {"datasets": ["cifar10"]}, ["studies.overlap.runs[0].datasets", "does not run on ['cifar10']"]),
    # The paper's 70 % row: 35k + 10k + 10k of CIFAR10's 50k training images.
    ("paper", {"overlaps": [0.7, 0.85]}, ["overlaps: 0.7 needs |S_S| + |S_C| + |S_I| = 55000 points",
                                          "more than the 50000 images of 'cifar10'"]),
])
def test_bad_overlap_settings_are_refused_before_compute(raw, preset, run, needles):
    raw["presets"][preset]["studies"]["overlap"]["runs"][0].update(run)
    with pytest.raises(ConfigError) as error:
        resolve_settings(raw, preset, check_roots=False)
    for needle in needles:
        assert needle in str(error.value)


def test_the_paper_preset_plans_the_85_percent_row_as_the_papers_run():
    from sslmem.report.readers import load_paper_values, matches_paper_row

    settings = preset_settings("paper")
    [entry] = overlap.overlap_setups(settings)
    assert entry["name"] == "simclr-resnet50-overlap85" and entry["datasets"] == ["cifar10"]
    sizes = overlap.split_sizes_of(settings, "cifar10", entry["name"])
    paper = load_paper_values()["table7"]
    assert (sizes.shared, sizes.candidate, sizes.independent) in {
        (row["shared"], row["candidate"], row["independent"]) for row in paper["rows"]}
    assert matches_paper_row(paper["setup"], "cifar10", config.paper_identities(settings)["simclr-resnet50"])


# --- end to end -----------------------------------------------------------------------------------------------

@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")
def test_snakemake_builds_table7_on_the_test_preset(tmp_path, built_test_workflow):
    copy_built_workflow(built_test_workflow, tmp_path)
    snakemake(tmp_path, "study_overlap")
    table = pd.read_csv(tmp_path / "results/table7.csv")
    assert list(table.columns) == list(TABLE7_COLUMNS)
    assert table["level_setup"].tolist() == ["simclr-resnet18", "simclr-resnet18-overlap70",
                                             "simclr-resnet18-overlap84"]
    assert table["core"].tolist() == [True, False, False] and set(table["setup"]) == {"simclr-resnet18"}
    assert table["overlap_percent"].round(6).tolist() == [80.0, 70.0, 84.0]
    sizes = table[["n_shared", "n_candidate", "n_independent", "n_extra", "n_f"]].to_numpy().tolist()
    assert sizes == [[160, 20, 20, 20, 180], [140, 40, 40, 20, 180], [168, 12, 12, 20, 180]]
    # One pair per level on this preset: no spread (NaN std), every other number present; no paper row matches.
    numbers = ["overlap", "n_seeds", "sslmem_mean", "minus_shared_mean", "probe_top1_mean"]
    assert not table[numbers].isna().any().any() and (table["n_seeds"] == 1).all()
    assert table[[column for column in TABLE7_COLUMNS if column.startswith("paper_")]].isna().all().all()
    # The level's encoders trained on its split: f on S_S then S_C of it, 180 points; the core's S_E.
    studies = tmp_path / "results/studies/overlap"
    level, _ = read_split(studies / "splits/fashion_mnist/simclr-resnet18-overlap70.csv")
    core, _ = read_split(tmp_path / "results/splits/fashion_mnist.csv")
    assert ids(level, "S_E") == ids(core, "S_E")
    f = pd.read_csv(studies / "training_sets/fashion_mnist/simclr-resnet18-overlap70/f0.csv")
    assert len(f) == 180 and set(f["point_id"]) == ids(level, "S_S") | ids(level, "S_C")
