"""Planted atypical images (sslmem.studies.planted): the planted split on a hand-made split, the AUC and top-decile
numbers against hand-computed values, the refusals before compute, and one build of results/planted.csv through
Snakemake on the `test` preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sslmem import config
from sslmem.config import ConfigError
from sslmem.data.splits import SplitError, check_disjoint
from sslmem.pipeline.planted import plant, planted_points
from sslmem.report.planted import planted_statistics
from sslmem.plan import resolve_settings

from fakedata import write_tiny_fashion_mnist
from workflow_copy import copy_built_workflow, copy_workflow, snakemake

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def small_split() -> pd.DataFrame:
    subsets = ["S_S"] * 6 + ["S_C"] * 4 + ["S_I"] * 4 + ["S_E"] * 4
    sources = ["train"] * 14 + ["test"] * 4
    ids = list(range(14)) + list(range(4))
    return pd.DataFrame({"point_id": ids, "source": sources, "subset": subsets, "label": [i % 3 for i in ids]})


# --- the planted split ------------------------------------------------------------------------------------------

def test_planting_replaces_only_candidates_keeps_row_order_and_takes_the_source_labels():
    split = small_split()
    labels = np.arange(100) % 10
    planted = plant(split, "digits/train", labels, count=2, seed=0)
    check_disjoint(planted)
    changed = planted_points(planted)
    # two planted among the candidates, two unseen controls among S_E, all four distinct source images
    assert planted.loc[changed, "subset"].value_counts().to_dict() == {"S_C": 2, "S_E": 2}
    assert planted.loc[changed, "point_id"].nunique() == 4
    pd.testing.assert_frame_equal(planted.loc[~changed], split.loc[~changed])  # everything else untouched
    assert (planted.loc[changed, "label"].to_numpy() == labels[planted.loc[changed, "point_id"]]).all()
    again = plant(split, "digits/train", labels, count=2, seed=0)
    pd.testing.assert_frame_equal(planted, again)  # seeded
    other = plant(split, "digits/train", labels, count=2, seed=1)
    assert not planted.equals(other)


@pytest.mark.parametrize("count", [0, 4])
def test_planting_needs_at_least_one_and_leaves_typical_candidates(count):
    with pytest.raises(SplitError, match="among 4 candidates"):
        plant(small_split(), "digits/train", np.arange(100), count=count, seed=0)


# --- the numbers --------------------------------------------------------------------------------------------------

def test_auc_top_decile_and_means_against_hand_computed_values():
    # planted 0.9 and 0.3, typical 0.1 and 0.5: of the four (planted, typical) pairs, three have the planted one
    # higher, so AUC = 3/4; the top quarter (1 point) is 0.9, planted: 1 of 2 planted in it, chance 1/4.
    numbers = planted_statistics([0.9, 0.1, 0.5, 0.3], [True, False, False, True], top_fraction=0.25)
    assert numbers["auc"] == pytest.approx(0.75)
    assert (numbers["n_top"], numbers["planted_in_top"]) == (1, 1)
    assert numbers["fraction_in_top"] == pytest.approx(0.5) and numbers["chance_in_top"] == pytest.approx(0.25)
    assert numbers["mean_m_planted"] == pytest.approx(0.6) and numbers["mean_m_typical"] == pytest.approx(0.3)
    assert numbers["best_planted_rank"] == 1 and 0 < numbers["p_value"] < 1


def test_planted_points_found_perfectly_or_not_at_all():
    m = np.arange(10, dtype=float)
    top = planted_statistics(m, m >= 8, top_fraction=0.2)
    bottom = planted_statistics(m, m <= 1, top_fraction=0.2)
    assert top["auc"] == 1.0 and top["fraction_in_top"] == 1.0
    assert bottom["auc"] == 0.0 and bottom["fraction_in_top"] == 0.0 and bottom["p_value"] > 0.9


# --- settings -------------------------------------------------------------------------------------------------

@pytest.fixture
def raw(tmp_path) -> dict:
    loaded = yaml.safe_load((REPO / "params.yaml").read_text())
    loaded["common"]["data"]["roots"]["fashion_mnist"] = str(write_tiny_fashion_mnist(tmp_path / "fm"))
    return loaded


@pytest.mark.parametrize("change, needles", [
    ({"count": 20}, ["studies.planted.count", "20 planted images among the 20 candidates"]),
    ({"source": {"dataset": "fashion_mnist", "split": "test"}}, ["studies.planted.source.dataset", "another distribution"]),
    ({"runs": [{"setup": "dino-resnet18", "datasets": ["fashion_mnist"]}]}, ["studies.planted.runs[0].setup"]),
])
def test_bad_planted_settings_are_refused_before_compute(raw, change, needles):
    raw["presets"]["test"]["studies"]["planted"].update(change)
    with pytest.raises(ConfigError) as error:
        resolve_settings(raw, "test", check_roots=False)
    for needle in needles:
        assert needle in str(error.value)


def test_a_planted_source_without_its_files_is_named(raw, tmp_path):
    raw["common"]["data"]["roots"]["cifar10"] = str(tmp_path / "no-cifar")
    raw["presets"]["test"]["studies"]["planted"]["source"] = {"dataset": "cifar10", "split": "train"}
    with pytest.raises(ConfigError, match=r"studies.planted.source \(cifar10 'train'\)"):
        resolve_settings(raw, "test")


# --- end to end -----------------------------------------------------------------------------------------------

@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")
def test_snakemake_builds_the_planted_table_on_the_test_preset(tmp_path, built_test_workflow):
    copy_built_workflow(built_test_workflow, tmp_path)
    snakemake(tmp_path, "study_planted")
    table = pd.read_csv(tmp_path / "results/planted.csv")
    assert list(table["estimator"]) == ["f_g_ensemble", "f_g_ensemble", "in_out"]
    assert list(table["ranked_points"]) == ["S_C", "S_E", "pool"]
    assert table["foreign_trained"].tolist() == [True, False, True]
    assert table["n_planted"].tolist() == [5, 5, 5] and table["n_points"].tolist() == [20, 20, 200]
    assert table["n_encoders"].tolist() == [2, 2, 4] and set(table["planted_source"]) == {"digits/train"}
    assert table["auc"].between(0, 1).all() and table["p_value"].between(0, 1).all()
    assert not table.drop(columns=[]).isna().any().any()
    studies = tmp_path / "results/studies/planted"
    f = pd.read_csv(studies / "training_sets/fashion_mnist/simclr-resnet18/f0.csv")
    g = pd.read_csv(studies / "training_sets/fashion_mnist/simclr-resnet18/g0.csv")
    assert (f["source"] == "digits/train").sum() == 5 and (g["source"] == "train").all()
    half = pd.read_csv(studies / "training_sets/fashion_mnist/simclr-resnet18/half_a0.csv")
    assert len(half) == 100 and set(half["source"]) <= {"train", "digits/train"}
    assert (tmp_path / "results/planted_fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
