"""Déjà Vu memorisation (Meehan et al. 2023) beside SSLMem (SSLMem paper Sec. 4.5, Table 4): the accuracy gaps on a
planted toy case, the kNN vote on a hand-made embedding set, the corner crop's geometry, the public set's draw,
Table 4 on synthetic files, the settings' refusals, and one build of results/table4.csv through Snakemake on the
`test` preset."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sslmem import config
from sslmem.artifacts import DEJAVU_COLUMNS, PROBE_COLUMNS, SCORE_COLUMNS
from sslmem.config import ConfigError
from sslmem.measures.dejavu import (
    corner_crop,
    crop_box,
    dejavu_gaps,
    draw_public,
    knn_predict,
    label_entropy,
    most_confident,
    nearest_neighbours,
    neighbour_label_counts,
)
from sslmem.report.dejavu import TABLE4_COLUMNS, pair_gaps, table4
from sslmem.report.readers import load_paper_values, matches_paper_row
from sslmem.plan import resolve_settings

from workflow_copy import copy_built_workflow, copy_workflow, snakemake

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


# --- the memorisation: accuracy gaps --------------------------------------------------------------------------

# Ten candidates. f guesses 7 right, g 4: Déjà Vu memorisation 70 − 40 = 30 points.
CORRECT_F = [1, 1, 1, 0, 0, 1, 1, 0, 1, 1]
CORRECT_G = [1, 0, 0, 0, 0, 1, 1, 0, 0, 1]
# f's two most confident (lowest entropy) are points 0 and 1, both right; g's are points 0 (right) and 3 (wrong).
ENTROPY_F = [0.0, 0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6, 0.5]
ENTROPY_G = [0.05, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]


def test_dejavu_is_the_accuracy_of_f_minus_g_and_of_each_ones_most_confident():
    gaps = dejavu_gaps(CORRECT_F, ENTROPY_F, CORRECT_G, ENTROPY_G, fraction=0.2)
    assert gaps["acc_f"] == pytest.approx(70.0) and gaps["acc_g"] == pytest.approx(40.0)
    assert gaps["dejavu"] == pytest.approx(30.0)
    # Most confident 20 % (2 points each, chosen per encoder): f 2/2, g 1/2.
    assert gaps["acc_f_confident"] == pytest.approx(100.0) and gaps["acc_g_confident"] == pytest.approx(50.0)
    assert gaps["dejavu_confident"] == pytest.approx(50.0)
    # 30 % = 3 points: f points 0, 1, 3 (2/3 right); g points 0, 3 and, of the tied 0.9s, the earliest, 1 (1/3).
    three = dejavu_gaps(CORRECT_F, ENTROPY_F, CORRECT_G, ENTROPY_G, fraction=0.3)
    assert three["dejavu_confident"] == pytest.approx(100 * (2 / 3 - 1 / 3))
    # int(0.25 * 10) = 2, as Meehan et al.'s int(): the same points as 20 %.
    assert dejavu_gaps(CORRECT_F, ENTROPY_F, CORRECT_G, ENTROPY_G, 0.25)["dejavu_confident"] == pytest.approx(50.0)
    assert dejavu_gaps(CORRECT_F, ENTROPY_F, CORRECT_G, ENTROPY_G, 1.0)["dejavu_confident"] == pytest.approx(30.0)


def test_the_confident_fraction_must_select_a_point_and_f_and_g_the_same_points():
    np.testing.assert_array_equal(most_confident([0.3, 0.1, 0.1, 0.2], 0.5), [False, True, True, False])
    with pytest.raises(ValueError, match="selects none"):
        most_confident([0.1, 0.2, 0.3], 0.2)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        most_confident([0.1], 1.5)
    with pytest.raises(ValueError, match="same points"):
        dejavu_gaps(CORRECT_F, ENTROPY_F, CORRECT_G[:5], ENTROPY_G[:5], 0.2)


# --- the kNN vote --------------------------------------------------------------------------------------------

# Six labelled public points in 2-D (integer coordinates: squared distances are exact in float32).
PUBLIC = np.array([[0, 0], [10, 0], [0, 10], [50, 50], [50, 60], [60, 50]], dtype=np.float32)
PUBLIC_LABELS = np.array([0, 0, 1, 2, 2, 1])
# q0: squared distances 5, 65, 85 to points 0, 1, 2 (the rest far). q1: 32 to point 3, 52 to points 4 and 5 (a tie).
QUERIES = np.array([[2, 1], [54, 54]], dtype=np.float32)


def test_the_knn_votes_the_labels_of_the_k_nearest_public_points():
    neighbours = nearest_neighbours(QUERIES, PUBLIC, k=3)
    np.testing.assert_array_equal(neighbours, [[0, 1, 2], [3, 4, 5]])
    # Equal distances go to the lower public index: point 4 before point 5.
    np.testing.assert_array_equal(nearest_neighbours(QUERIES, PUBLIC, k=2), [[0, 1], [3, 4]])
    counts = neighbour_label_counts(neighbours, PUBLIC_LABELS, num_classes=3)
    np.testing.assert_array_equal(counts, [[2, 1, 0], [0, 1, 2]])
    predicted, votes, entropy = knn_predict(counts)
    np.testing.assert_array_equal(predicted, [0, 2])
    np.testing.assert_array_equal(votes, [2, 2])
    two_thirds = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    np.testing.assert_allclose(entropy, [two_thirds, two_thirds])
    # The same answer in chunks of one query.
    np.testing.assert_array_equal(nearest_neighbours(QUERIES, PUBLIC, k=3, chunk=1), neighbours)


def test_a_tied_vote_goes_to_the_lower_label_and_agreement_has_no_entropy():
    predicted, votes, entropy = knn_predict(np.array([[1, 1, 0], [0, 0, 4]]))
    np.testing.assert_array_equal(predicted, [0, 2])
    np.testing.assert_array_equal(votes, [1, 4])
    np.testing.assert_allclose(entropy, [math.log(2), 0.0])
    np.testing.assert_allclose(label_entropy(np.array([[25, 25, 25, 25]])), [math.log(4)])


def test_the_knn_refuses_what_it_cannot_vote_on():
    with pytest.raises(ValueError, match="k = 7 neighbours from a public set of 6"):
        nearest_neighbours(QUERIES, PUBLIC, k=7)
    with pytest.raises(ValueError, match="dimension 3"):
        nearest_neighbours(np.zeros((1, 3)), PUBLIC, k=1)
    with pytest.raises(ValueError, match="labelled"):
        neighbour_label_counts(np.array([[0, 1]]), np.array([-1, 0]), num_classes=2)


# --- the crop ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("corner, box", [
    ("bottom_left", (20, 0, 8, 8)),  # Meehan et al.'s corner crop: int(0.3 * 28) = 8 px from the bottom left
    ("bottom_right", (20, 20, 8, 8)),
    ("top_left", (0, 0, 8, 8)),
    ("top_right", (0, 20, 8, 8)),
])
def test_the_corner_crop_is_fraction_of_each_side_at_its_corner(corner, box):
    assert crop_box(28, 28, corner, 0.3) == box


def test_the_crop_takes_those_pixels_of_a_batch_and_refuses_no_crop():
    assert crop_box(10, 20, "bottom_right", 0.5) == (5, 10, 5, 10)  # each side its own fraction
    images = np.arange(2 * 3 * 4 * 6).reshape(2, 3, 4, 6)
    crop = corner_crop(images, "bottom_left", 0.5)  # rows 2-3, columns 0-2
    assert crop.shape == (2, 3, 2, 3)
    np.testing.assert_array_equal(crop[0, 0], [[12, 13, 14], [18, 19, 20]])
    np.testing.assert_array_equal(crop[1, 2], images[1, 2, 2:, :3])
    for fraction in (0.0, 1.0, 1.5, -0.2):
        with pytest.raises(ValueError, match=r"\(0, 1\)"):
            crop_box(28, 28, "bottom_left", fraction)
    with pytest.raises(ValueError, match="leaves no pixel"):
        crop_box(28, 28, "bottom_left", 0.03)
    with pytest.raises(ValueError, match="corner 'middle'"):
        crop_box(28, 28, "middle", 0.3)


def test_the_public_set_is_a_seeded_draw_of_test_points_outside_s_e():
    public = draw_public(20, excluded=range(10), size=5, seed=0)
    assert len(public) == 5 and (public >= 10).all() and list(public) == sorted(set(public))
    np.testing.assert_array_equal(draw_public(20, range(10), 5, seed=0), public)
    assert not np.array_equal(draw_public(20, range(10), 5, seed=1), public)
    with pytest.raises(ValueError, match="11 public points asked, but the test split has 10 outside S_E"):
        draw_public(20, range(10), 11, seed=0)


# --- Table 4 on synthetic files --------------------------------------------------------------------------------

SETUP = "mae-vit_tiny"


def dejavu_rows(dataset: str, setup: str) -> pd.DataFrame:
    """Two pairs on 10 candidates and 10 control points. Pair 0: the toy case above on S_C (gap 30, confident 50);
    pair 1: f right on 6, g on 5 (gap 10; f's two most confident both right, g's both wrong: 100). S_E: f and g
    right on the same 3 points (gap 0)."""
    parts = []
    for seed, (correct_f, correct_g, entropy_f, entropy_g) in enumerate([
        (CORRECT_F, CORRECT_G, ENTROPY_F, ENTROPY_G),
        ([1, 1, 1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1, 1, 0, 0, 0], ENTROPY_F, ENTROPY_F),
    ]):
        for role, correct, entropy in (("f", correct_f, entropy_f), ("g", correct_g, entropy_g)):
            for subset, source, right, spread in (("S_C", "train", correct, entropy),
                                                  ("S_E", "test", [1, 1, 1, 0, 0, 0, 0, 0, 0, 0], ENTROPY_F)):
                labels = np.arange(10) % 10
                predicted = np.where(np.asarray(right) == 1, labels, (labels + 1) % 10)
                parts.append(pd.DataFrame({
                    "point_id": np.arange(10) * 7, "source": source, "subset": subset, "label": labels,
                    "seed": seed, "role": role, "predicted": predicted, "votes": 50, "entropy": spread,
                    "correct": predicted == labels,
                }))
    frame = pd.concat(parts, ignore_index=True).assign(
        dataset=dataset, setup=setup, method="mae", arch="vit_tiny", representation="encoder", k=100, n_public=500)
    return frame


def write_inputs(folder: Path, dataset: str = "cifar10") -> tuple[Path, Path, list[Path]]:
    dejavu_path = folder / f"dejavu/{dataset}/{SETUP}.parquet"
    dejavu_path.parent.mkdir(parents=True)
    dejavu_rows(dataset, SETUP)[list(reversed(DEJAVU_COLUMNS))].to_parquet(dejavu_path)  # readers go by name
    # SSLMem per pair: mean m over S_C 0.2 (seed 0) and 0.4 (seed 1); the ensemble and S_S rows are not read.
    scores = []
    for seed, estimate, m in ((0, "pair", 0.2), (1, "pair", 0.4), (-1, "ensemble", 0.3)):
        for subset, value in (("S_C", m), ("S_S", 0.0)):
            scores.append(pd.DataFrame({"point_id": np.arange(10) * 7 + (subset == "S_S"), "source": "train",
                                        "subset": subset, "label": 0, "m": value + np.linspace(-0.05, 0.05, 10)})
                          .assign(seed=seed, estimate=estimate))
    score_path = folder / f"scores/{dataset}/{SETUP}.parquet"
    score_path.parent.mkdir(parents=True)
    pd.concat(scores, ignore_index=True).assign(
        dataset=dataset, setup=SETUP, method="mae", arch="vit_tiny", representation="encoder", align_f=1.0,
        align_g=1.0, m_raw=0.0)[list(SCORE_COLUMNS)].to_parquet(score_path)
    probe_paths = []
    for seed, top1 in ((0, 0.60), (1, 0.70)):
        path = folder / f"probe/{dataset}/{SETUP}/f{seed}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([{"dataset": dataset, "setup": SETUP, "method": "mae", "arch": "vit_tiny", "seed": seed,
                       "role": "f", "probe_dataset": dataset, "train_size": 100, "test_size": 100, "top1": top1,
                       "knn_top1": 0.5}])[list(PROBE_COLUMNS)].to_csv(path, index=False)
        probe_paths.append(path)
    return dejavu_path, score_path, probe_paths


def paper_identity(epochs: int) -> dict:
    """MAE ViT-tiny as the paper's CIFAR10 run when epochs = 600 (recipe of Table 6, 257 tokens)."""
    return {"method": "mae", "arch": "vit_tiny", "epochs": epochs, "representation": "encoder",
            "recipe": {"optimizer": "adamw", "lr": 1.2e-3, "batch_size": 2048},
            "arch_options": {"cifar10": {"patch_size": 2, "embed_dim": 192, "depth": 12, "heads": 3}},
            "length_only": True}


CROP = {"corner": "bottom_left", "fraction": 0.3}


def test_table4_puts_both_memorisations_side_by_side(tmp_path):
    dejavu_path, score_path, probe_paths = write_inputs(tmp_path)
    table = table4([dejavu_path], [score_path], probe_paths, tmp_path / "table4.csv", confident_fraction=0.2,
                   crop=CROP, identities={SETUP: paper_identity(epochs=40)})
    written = pd.read_csv(tmp_path / "table4.csv")
    assert list(written.columns) == TABLE4_COLUMNS and len(written) == 1
    row = written.iloc[0]
    assert (row["n_pairs"], row["n_candidates"], row["n_control"], row["n_public"], row["k"]) == (2, 10, 10, 500, 100)
    assert row["crop"] == "bottom_left 0.3" and row["epochs"] == 40
    assert row["sslmem_mean"] == pytest.approx(0.3) and row["sslmem_std"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    # Pairs: gaps 30 and 10; confident 50 and 100.
    assert row["dejavu_mem_mean"] == pytest.approx(20.0) and row["dejavu_mem_std"] == pytest.approx(np.std([30, 10], ddof=1))
    assert row["dejavu_mem_confident_mean"] == pytest.approx(75.0)
    assert row["knn_acc_f"] == pytest.approx(65.0) and row["knn_acc_g"] == pytest.approx(45.0)
    assert row["dejavu_mem_S_E_mean"] == pytest.approx(0.0) and row["dejavu_mem_S_E_std"] == pytest.approx(0.0)
    assert row["probe_top1_mean"] == pytest.approx(65.0)
    ours = [c for c in TABLE4_COLUMNS if not c.startswith("paper_")]
    assert not written[ours].isna().any().any(), "a number of ours is missing"
    # 40 epochs are not the paper's run: its columns stay empty.
    assert written[[c for c in TABLE4_COLUMNS if c.startswith("paper_")]].isna().all().all()
    assert table["paper_setup"].tolist() == [""]


def test_table4_puts_the_papers_values_beside_its_own_run_only(tmp_path):
    dejavu_path, score_path, probe_paths = write_inputs(tmp_path)
    table = table4([dejavu_path], [score_path], probe_paths, tmp_path / "table4.csv", confident_fraction=0.2,
                   crop=CROP, identities={SETUP: paper_identity(epochs=600)})
    assert table[["paper_sslmem", "paper_dejavu_mem", "paper_top1"]].iloc[0].tolist() == [0.307, 27.36, 67.40]
    assert table["paper_setup"].tolist() == ["mae-vit_tiny cifar10"]
    # The same run on Fashion-MNIST is not the paper's.
    other = tmp_path / "fashion"
    other.mkdir()
    paths = write_inputs(other, dataset="fashion_mnist")
    table = table4([paths[0]], [paths[1]], paths[2], tmp_path / "t.csv", confident_fraction=0.2, crop=CROP,
                   identities={SETUP: paper_identity(epochs=600)})
    assert table["paper_dejavu_mem"].isna().all() and table["paper_setup"].tolist() == [""]


def test_table4_refuses_a_pair_without_its_g_and_a_setup_without_scores(tmp_path):
    dejavu_path, score_path, probe_paths = write_inputs(tmp_path)
    frame = pd.read_parquet(dejavu_path)
    with pytest.raises(ValueError, match="seed 1, S_C: f and g guessed different points"):
        pair_gaps(frame[~((frame["seed"] == 1) & (frame["role"] == "g"))], 0.2)
    scores = pd.read_parquet(score_path)
    scores.assign(setup="other")[list(SCORE_COLUMNS)].to_parquet(score_path)
    with pytest.raises(ValueError, match="'mae-vit_tiny' on 'cifar10': no pair scores of S_C"):
        table4([dejavu_path], [score_path], probe_paths, tmp_path / "t.csv", confident_fraction=0.2, crop=CROP)


# --- settings -----------------------------------------------------------------------------------------------

@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def refused(raw: dict, table4_settings: dict, *needles: str) -> None:
    raw["presets"]["test"]["report"]["table4"] = {**raw["presets"]["test"]["report"]["table4"], **table4_settings}
    with pytest.raises(ConfigError) as error:
        resolve_settings(raw, "test", check_roots=False)
    for needle in needles:
        assert needle in str(error.value), f"{needle!r} not in {error.value}"


def test_an_unknown_setup_is_refused_before_compute(raw):
    refused(raw, {"setups": ["nope"]}, "report.table4.setups: 'nope' is not a setup of experiment.setups",
            "'simclr-resnet18'")


def test_more_neighbours_than_public_points_are_refused(raw):
    refused(raw, {"k": 400, "public_size": 300}, "report.table4.k: 400 neighbours",
            "report.table4.public_size = 300")


def test_a_public_set_larger_than_the_test_split_outside_s_e_is_refused(raw):
    # Fashion-MNIST's 10000 test images less |S_E| = |S_C| = 20 (pool 200): 9980.
    refused(raw, {"public_size": 9990}, "report.table4.public_size: 9990 public points",
            "fashion_mnist's test split has 9980 outside S_E", "use at most 9980")


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.3])
def test_a_crop_fraction_outside_0_1_is_refused(raw, fraction):
    refused(raw, {"crop": {"corner": "bottom_left", "fraction": fraction}},
            f"report.table4.crop.fraction: {fraction} is outside (0, 1)")


def test_a_confident_fraction_that_selects_nothing_and_a_dataset_without_the_setup_are_refused(raw):
    refused(raw, {"confident_fraction": 0}, "report.table4.confident_fraction: 0 is outside (0, 1]")
    refused(raw, {"confident_fraction": 0.01}, "0.01 of the 20 points of S_C on fashion_mnist selects none")
    refused(raw, {"datasets": ["cifar10"]}, "'simclr-resnet18' trains on ['fashion_mnist'], none of "
            "report.table4.datasets ['cifar10']")


def test_the_presets_plan_table4_rows_and_the_paper_preset_its_paper_runs():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    default = resolve_settings(raw, "default", check_roots=False)
    assert config.plan.table4_pairs(default) == [
        ("fashion_mnist", "mae-vit_tiny"), ("fashion_mnist", "dino-resnet18"), ("fashion_mnist", "vicreg-resnet18")]
    paper = resolve_settings(raw, "paper", check_roots=False)
    pairs = config.plan.table4_pairs(paper)
    assert pairs == [("cifar10", "mae-vit_tiny"), ("cifar10", "dino-vit_tiny"), ("image_folder", "mae-vit_base"),
                     ("image_folder", "dino-vit_base")]
    # Each is the paper's run of a Table 4 row (MAE, DINO), so its values stand beside it there.
    identities = config.paper_identities(paper)
    rows = load_paper_values()["table4"]
    for dataset, setup in pairs:
        assert any(matches_paper_row(row, dataset, identities[setup]) for row in rows), (dataset, setup)
    # The default preset's rows are not (Fashion-MNIST, small backbones, short recipes).
    identities = config.paper_identities(default)
    for dataset, setup in config.plan.table4_pairs(default):
        assert not any(matches_paper_row(row, dataset, identities[setup]) for row in rows), (dataset, setup)


# --- end to end -----------------------------------------------------------------------------------------------

# A few minutes on 2 CPU cores (training, aligning, probing one SimCLR pair, then the kNN): left out of the default
# run like the other workflow runs (`pytest -m slow`).
@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")
def test_snakemake_builds_table4_on_the_test_preset(tmp_path, built_test_workflow):
    copy_built_workflow(built_test_workflow, tmp_path)
    snakemake(tmp_path, "dejavu")
    table = pd.read_csv(tmp_path / "results/table4.csv")
    assert list(table.columns) == TABLE4_COLUMNS
    # The test preset: report.table4.setups = [simclr-resnet18], one pair, |S_C| = |S_E| = 20, k = 20 of 300 public.
    assert table[["dataset", "setup"]].values.tolist() == [["fashion_mnist", "simclr-resnet18"]]
    row = table.iloc[0]
    assert (row["n_pairs"], row["n_candidates"], row["n_control"], row["n_public"], row["k"]) == (1, 20, 20, 300, 20)
    # Every number of ours is there, but a spread over one pair (std) and the paper's columns (not its run).
    numbers = [c for c in TABLE4_COLUMNS if not c.startswith("paper_") and not c.endswith("_std")]
    assert not table[numbers].isna().any().any(), table[numbers].T
    assert table[[c for c in TABLE4_COLUMNS if c.startswith("paper_")]].isna().all().all()
    assert table[["knn_acc_f", "knn_acc_g"]].stack().between(0, 100).all()
    guesses = pd.read_parquet(tmp_path / "results/dejavu/fashion_mnist/simclr-resnet18.parquet")
    assert list(guesses.columns) == list(DEJAVU_COLUMNS)
    assert guesses.groupby(["role", "subset"]).size().to_dict() == {
        ("f", "S_C"): 20, ("f", "S_E"): 20, ("g", "S_C"): 20, ("g", "S_E"): 20}
    assert (guesses["correct"] == (guesses["predicted"] == guesses["label"])).all()
    assert guesses["votes"].between(1, 20).all() and (guesses["entropy"] >= 0).all()
    assert not (tmp_path / "results/checkpoints/fashion_mnist/mae-vit_tiny").exists()  # only what it needs
