"""Feldman & Zhang's label memorisation beside SSLMem (SSLMem paper App. B.3, Table 12, Fig. 8): the score on
hand-computed softmax values, the table on synthetic score files, the refusal of a setup that is not supervised,
and one build of results/table12.csv and fig8.png through Snakemake on the `test` preset."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats

from sslmem import config
from sslmem.artifacts import FELDMAN_COLUMNS, SCORE_COLUMNS
from sslmem.config import ConfigError
from sslmem.io import CheckpointError
from sslmem.measures.feldman import feldman_scores, true_label_probability
from sslmem.pipeline.feldman import feldman_frame
from sslmem.report.feldman import TABLE12_COLUMNS, fig8, table12
from sslmem.plan import resolve_settings

from fakedata import write_tiny_fashion_mnist
from workflow_copy import copy_built_workflow, copy_workflow, snakemake

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
PAIR_LEVEL = TABLE12_COLUMNS[TABLE12_COLUMNS.index("alpha"):]  # the agreement tested over pairs


# --- the score ----------------------------------------------------------------------------------------------

def test_true_label_probability_is_the_softmax_of_the_label():
    # Logits that are log-probabilities (plus any constant per row) have exactly those probabilities as softmax.
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1], [0.25, 0.25, 0.5], [0.7, 0.2, 0.1]])) + torch.tensor([[0.0], [7.0], [-3.0]])
    probability = true_label_probability(logits.float(), torch.tensor([1, 2, 0]))
    assert probability.dtype == torch.float64
    np.testing.assert_allclose(probability.numpy(), [0.3, 0.5, 0.7], rtol=1e-6)


def test_a_confident_prediction_is_not_rounded_to_one():
    # float32 softmax gives exactly 1.0 for both; the float64 path keeps them apart (no ties in the ranking).
    logits = torch.tensor([[20.0, 0.0], [25.0, 0.0]])
    assert torch.softmax(logits, dim=1)[:, 0].tolist() == [1.0, 1.0]
    probability = true_label_probability(logits, torch.tensor([0, 0]))
    assert probability[0] < probability[1] < 1.0


def test_feldman_score_is_the_mean_over_pairs_of_f_minus_g():
    p_f = [[0.9, 0.5, 1.0], [0.8, 0.2, 0.6]]
    p_g = [[0.6, 0.5, 0.0], [0.8, 0.4, 0.6]]
    np.testing.assert_allclose(feldman_scores(p_f, p_g), [0.15, -0.1, 0.5])
    np.testing.assert_allclose(feldman_scores([0.9, 0.1], [0.6, 0.3]), [0.3, -0.2])  # one pair
    with pytest.raises(ValueError, match="same shape"):
        feldman_scores(p_f, p_g[0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        feldman_scores([1.2], [0.5])


def candidates_frame(n: int, subset: str = "S_C", source: str = "train") -> pd.DataFrame:
    return pd.DataFrame({"point_id": np.arange(n) * 3, "source": source, "subset": subset, "label": np.arange(n) % 10})


def test_the_feldman_file_holds_each_pair_and_their_mean():
    identity = {"dataset": "fashion_mnist", "setup": "supervised-resnet18-e1", "method": "supervised", "arch": "resnet18"}
    probabilities = {("f", 0): np.array([0.9, 0.5]), ("g", 0): np.array([0.6, 0.5]),
                     ("f", 1): np.array([0.8, 0.2]), ("g", 1): np.array([0.8, 0.4])}
    frame = feldman_frame(candidates_frame(2), probabilities, identity)
    assert list(frame.columns) == list(FELDMAN_COLUMNS)
    ensemble = frame[frame["estimate"] == "ensemble"]
    assert set(ensemble["seed"]) == {-1}
    np.testing.assert_allclose(ensemble["feldman"], [0.15, -0.1])
    np.testing.assert_allclose(ensemble["p_true_f"], [0.85, 0.35])
    pair_1 = frame[(frame["estimate"] == "pair") & (frame["seed"] == 1)]
    np.testing.assert_allclose(pair_1["feldman"], [0.0, -0.2])
    del probabilities[("g", 1)]
    with pytest.raises(CheckpointError, match=r"\['g1'\]"):
        feldman_frame(candidates_frame(2), probabilities, identity)


# --- Table 12 on synthetic files ----------------------------------------------------------------------------

N = 30
SETUP = "supervised-resnet50-e100"


def synthetic_scores():
    """Feldman's score of point i is i (top 10: points 20-29); SSLMem agrees except that it ranks points 0-3
    first and 20-23 last: the top 10 by m are 0-3 and 24-29 (overlap 6); the top 20 by m 0-3, 24-29, 10-19
    (overlap 16 with 10-29)."""
    feldman = np.arange(N, dtype=float)
    m = np.arange(N, dtype=float)
    m[0:4] = [100, 101, 102, 103]
    m[20:24] = [-1, -2, -3, -4]
    return feldman, m


# The control S_E: 12 points on which the two scores rank in opposite orders (tau = -1).
CONTROL_FELDMAN = np.linspace(-0.05, 0.05, 12)
CONTROL_M = -np.arange(12.0)


def write_synthetic_files(folder: Path, dataset: str = "cifar10", setup: str = SETUP) -> tuple[Path, Path]:
    feldman, m = synthetic_scores()
    points, control = candidates_frame(N), candidates_frame(len(CONTROL_M), "S_E", "test")
    keys = {"dataset": dataset, "setup": setup, "method": "supervised", "arch": "resnet50"}
    feldman_rows = pd.concat([points.assign(feldman=feldman / 100), control.assign(feldman=CONTROL_FELDMAN)],
                             ignore_index=True)
    feldman_rows = feldman_rows.assign(**keys, estimate="ensemble", seed=-1, p_true_g=0.5,
                                       p_true_f=0.5 + feldman_rows["feldman"])
    # The file's columns in another order: readers go by name.
    feldman_path = folder / f"feldman/{dataset}/{setup}.parquet"
    feldman_path.parent.mkdir(parents=True)
    feldman_rows[list(reversed(FELDMAN_COLUMNS))].to_parquet(feldman_path)
    shared = pd.DataFrame({"point_id": np.arange(N) * 3 + 1, "source": "train", "subset": "S_S", "label": 0})
    score_rows = pd.concat([points.assign(m=m), shared.assign(m=0.0), control.assign(m=CONTROL_M)],
                           ignore_index=True).assign(
        **keys, representation="encoder", estimate="ensemble", seed=-1, align_f=1.0, align_g=1.0, m_raw=0.0)
    score_path = folder / f"scores/{dataset}/{setup}.parquet"
    score_path.parent.mkdir(parents=True)
    score_rows[list(reversed(SCORE_COLUMNS))].to_parquet(score_path)
    return feldman_path, score_path


def paper_identity(epochs: int) -> dict:
    """A setup that is the paper's Table 12 run (supervised ResNet50 on CIFAR10, 100 epochs) when epochs = 100."""
    return {"method": "supervised", "arch": "resnet50", "epochs": epochs, "representation": "encoder",
            "recipe": {"optimizer": "sgd", "lr": 0.1, "batch_size": 128}, "arch_options": {"cifar10": {"width": 64}},
            "length_only": True}


def test_table12_counts_the_top_k_overlap_and_kendall_tau(tmp_path, capsys):
    feldman_path, score_path = write_synthetic_files(tmp_path)
    table = table12([feldman_path], [score_path], tmp_path / "table12.csv", top_k=[10, 20, 50],
                    identities={SETUP: paper_identity(epochs=40)})
    assert "k = [50] left out, S_C has 30 points" in capsys.readouterr().out
    written = pd.read_csv(tmp_path / "table12.csv")
    assert list(written.columns) == TABLE12_COLUMNS
    rows = written.set_index("k")
    assert list(rows.index) == [10, 20]  # only k <= |S_C|
    assert rows.loc[10, "overlap"] == 6 and rows.loc[10, "overlap_percent"] == pytest.approx(60.0)
    assert rows.loc[20, "overlap"] == 16 and rows.loc[20, "overlap_percent"] == pytest.approx(80.0)
    assert rows.loc[10, "chance_overlap_percent"] == pytest.approx(100 * 10 / N)
    feldman, m = synthetic_scores()
    expected = stats.kendalltau(feldman, m)
    assert rows.loc[10, "kendall_tau_all"] == pytest.approx(expected.statistic)
    assert rows.loc[20, "p_value_all"] == pytest.approx(expected.pvalue)
    # Within SSLMem's top 10 (points 0-3 and 24-29).
    top = [*range(0, 4), *range(24, 30)]
    assert rows.loc[10, "kendall_tau_top_k"] == pytest.approx(stats.kendalltau(feldman[top], m[top]).statistic)
    # The control S_E: its own points only.
    assert rows.loc[10, "n_control"] == 12 and rows.loc[10, "kendall_tau_S_E"] == pytest.approx(-1.0)
    assert rows.loc[10, "mean_feldman_S_E"] == pytest.approx(0.0) and rows.loc[10, "mean_feldman"] == pytest.approx(0.145)
    assert set(rows["epochs"]) == {40} and set(rows["n_candidates"]) == {N}
    ours = [c for c in TABLE12_COLUMNS if not c.startswith("paper_") and c != "n_pairs" and c not in PAIR_LEVEL]
    assert not written[ours].isna().any().any(), "a number of ours is missing"
    # Ensemble rows only: nothing to test over pairs, and the claim is not taken to hold.
    assert (written["n_pairs_tested"] == 0).all() and written["pair_p"].isna().all()
    assert written["pair_note"].str.contains("no pair").all()
    assert (written["claim_test"] == "none").all() and not written["claim_holds"].any()
    # 40 epochs are not the paper's run: its columns stay empty.
    assert written[["paper_overlap_percent", "paper_tau", "paper_p_value"]].isna().all().all()
    assert written["paper_setup"].isna().all()  # written as empty strings
    assert len(table) == 2


# Per pair seed: SSLMem's m of 5 candidates and of 5 control points, Feldman's score rising with the point in every
# pair. Candidates: tau 1 (same order), 0.8 (one of 10 point pairs swapped), 0.6 (two swapped); control: −1, 0.8,
# −0.6.
PAIR_CANDIDATE_M = {0: [0, 1, 2, 3, 4], 1: [1, 0, 2, 3, 4], 2: [1, 0, 2, 4, 3]}
PAIR_CONTROL_M = {0: [4, 3, 2, 1, 0], 1: [1, 0, 2, 3, 4], 2: [-1, 0, -2, -4, -3]}


def write_pair_files(folder: Path) -> tuple[Path, Path]:
    """Feldman and score files with ensemble rows (the mean over the pairs) and the pair rows above."""
    keys = {"dataset": "cifar10", "setup": SETUP, "method": "supervised", "arch": "resnet50"}
    candidates, control = candidates_frame(5), candidates_frame(5, "S_E", "test")
    feldman_blocks, score_blocks = [], []
    for seed in PAIR_CANDIDATE_M:
        for points, m in ((candidates, PAIR_CANDIDATE_M[seed]), (control, PAIR_CONTROL_M[seed])):
            feldman_blocks.append(points.assign(estimate="pair", seed=seed, feldman=np.arange(5) / 10))
            score_blocks.append(points.assign(estimate="pair", seed=seed, m=np.asarray(m, dtype=float)))
    pairs = pd.concat(score_blocks, ignore_index=True)
    ensemble = pairs.groupby(["point_id", "source", "subset", "label"], as_index=False)["m"].mean()
    scores = pd.concat([pairs, ensemble.assign(estimate="ensemble", seed=-1)], ignore_index=True).assign(
        **keys, representation="encoder", align_f=1.0, align_g=1.0, m_raw=0.0)
    feldman = pd.concat(feldman_blocks, ignore_index=True)
    feldman = pd.concat([feldman, feldman[feldman["seed"] == 0].assign(estimate="ensemble", seed=-1)],
                        ignore_index=True).assign(**keys, p_true_g=0.5)
    feldman["p_true_f"] = 0.5 + feldman["feldman"]
    paths = folder / f"feldman/cifar10/{SETUP}.parquet", folder / f"scores/cifar10/{SETUP}.parquet"
    for path, frame, columns in zip(paths, (feldman, scores), (FELDMAN_COLUMNS, SCORE_COLUMNS)):
        path.parent.mkdir(parents=True)
        frame[list(columns)].to_parquet(path)
    return paths


def test_table12_tests_the_agreement_over_pairs(tmp_path):
    feldman_path, score_path = write_pair_files(tmp_path)
    table = table12([feldman_path], [score_path], tmp_path / "table12.csv", top_k=[5], alpha=0.05)
    row = pd.read_csv(tmp_path / "table12.csv").iloc[0]
    assert list(table.columns) == TABLE12_COLUMNS and row["n_pairs"] == 3 and row["alpha"] == 0.05
    # tau over S_C per pair: 1, 0.8, 0.6: mean 0.8, sd 0.2, t = 0.8 / (0.2 / sqrt(3)), df 2, one-sided.
    t = 0.8 / (0.2 / math.sqrt(3))
    assert (row["n_pairs_tested"], row["pairs_holding"]) == (3, 3)
    assert row["pair_tau"] == pytest.approx(0.8) and row["pair_t"] == pytest.approx(t)
    assert row["pair_p"] == pytest.approx(stats.t.sf(t, 2))
    assert row["claim_test"] == "pair t" and bool(row["claim_holds"]) == (stats.t.sf(t, 2) < 0.05)
    # The control: tau −1, 0.8, −0.6 (mean −0.8 / 3); differences S_C − S_E: 2, 0, 1.2 (two pairs above 0).
    differences = np.array([2.0, 0.0, 1.2])
    t_control = differences.mean() / (differences.std(ddof=1) / math.sqrt(3))
    assert row["pair_tau_S_E"] == pytest.approx(-0.8 / 3)
    assert row["pair_p_vs_S_E"] == pytest.approx(stats.t.sf(t_control, 2))
    assert row["pairs_holding_vs_S_E"] == 2
    assert pd.isna(row["pair_note"])


def test_table12_puts_the_papers_values_beside_its_own_run_only(tmp_path):
    feldman_path, score_path = write_synthetic_files(tmp_path)
    table = table12([feldman_path], [score_path], tmp_path / "table12.csv", top_k=[10, 20],
                    identities={SETUP: paper_identity(epochs=100)})
    assert list(table["paper_overlap_percent"]) == [50.0, 35.0]
    assert list(table["paper_tau"]) == [0.099, 0.124] and list(table["paper_p_value"]) == [0.584, 0.332]
    # The same numbers on Fashion-MNIST are not the paper's run.
    other = tmp_path / "fashion"
    other.mkdir()
    paths = write_synthetic_files(other, dataset="fashion_mnist")
    table = table12([paths[0]], [paths[1]], tmp_path / "table12_fm.csv", top_k=[10],
                    identities={SETUP: paper_identity(epochs=100)})
    assert table["paper_overlap_percent"].isna().all() and list(table["paper_setup"]) == [""]


def test_table12_refuses_files_of_different_candidates(tmp_path):
    feldman_path, score_path = write_synthetic_files(tmp_path)
    frame = pd.read_parquet(feldman_path)
    frame.loc[0, "point_id"] = 9999
    frame.to_parquet(feldman_path)
    with pytest.raises(ValueError, match="score different S_C points"):
        table12([feldman_path], [score_path], tmp_path / "t.csv", top_k=[10])
    with pytest.raises(ValueError, match="'other-setup' on 'cifar10': no S_C points in its SSLMem scores"):
        table12([write_synthetic_files(tmp_path / "x", setup="other-setup")[0]], [score_path], tmp_path / "t.csv",
                top_k=[10])


def test_fig8_draws_both_galleries(tmp_path):
    root = write_tiny_fashion_mnist(tmp_path / "fashion_mnist", num_train=100)
    feldman_path, score_path = write_synthetic_files(tmp_path, dataset="fashion_mnist")
    data = {"roots": {"fashion_mnist": str(root)}, "download": False, "image_folder_size": 224,
            "skip_bad_images": False}
    fig8([feldman_path], [score_path], tmp_path / "fig8.png", data=data, gallery_size=10)
    assert (tmp_path / "fig8.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- settings -----------------------------------------------------------------------------------------------

@pytest.fixture
def raw(tmp_path) -> dict:
    loaded = yaml.safe_load((REPO / "params.yaml").read_text())
    loaded["common"]["data"]["roots"]["fashion_mnist"] = str(write_tiny_fashion_mnist(tmp_path / "fm"))
    return loaded


@pytest.mark.parametrize("setup, needles", [
    ("simclr-resnet18", ["report.table12.setups", "'simclr-resnet18' is a simclr setup", "['supervised-resnet18-e1']"]),
    ("supervised-resnet50", ["report.table12.setups", "'supervised-resnet50' is not a setup of experiment.setups"]),
])
def test_a_table12_setup_that_is_not_supervised_is_refused_before_compute(raw, setup, needles):
    raw["presets"]["test"]["report"]["table12"] = {"setups": [setup]}
    with pytest.raises(ConfigError) as error:
        resolve_settings(raw, "test")
    for needle in needles:
        assert needle in str(error.value)


def test_every_preset_compares_supervised_setups_only(raw):
    for preset in ("default", "test"):
        settings = resolve_settings(raw, preset, check_roots=False)
        methods = {config.setup_name(s): s["method"] for s in settings["experiment"]["setups"]}
        assert settings["report"]["table12"]["setups"]
        assert {methods[name] for name in settings["report"]["table12"]["setups"]} == {"supervised"}


# --- end to end -----------------------------------------------------------------------------------------------

# About 2 minutes on 2 CPU cores (ten jobs, each starting torch): left out of the default run (`pytest -m slow`).
@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")
def test_snakemake_builds_table12_and_fig8_on_the_test_preset(tmp_path, built_test_workflow):
    copy_built_workflow(built_test_workflow, tmp_path)
    snakemake(tmp_path, "feldman")
    table = pd.read_csv(tmp_path / "results/table12.csv")
    # The test preset: one supervised pair, |S_C| = 20, so k = 10 and 20 only (20: all of S_C, overlap 100 %).
    assert list(table["setup"]) == ["supervised-resnet18-e1"] * 2 and list(table["k"]) == [10, 20]
    assert table.loc[1, "overlap_percent"] == 100.0 and table["n_pairs"].tolist() == [1, 1]
    assert table["kendall_tau_all"].between(-1, 1).all() and table["p_value_all"].between(0, 1).all()
    assert table["paper_tau"].isna().all()  # Fashion-MNIST, 1 epoch: not the paper's run
    scores = pd.read_parquet(tmp_path / "results/feldman/fashion_mnist/supervised-resnet18-e1.parquet")
    pair = scores[scores["estimate"] == "pair"]
    np.testing.assert_allclose(pair["feldman"], pair["p_true_f"] - pair["p_true_g"])
    assert scores["p_true_f"].between(0, 1).all()
    assert pair["subset"].value_counts().to_dict() == {"S_C": 20, "S_E": 20}  # the candidates and the control
    assert (tmp_path / "results/fig8.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "results/checkpoints/fashion_mnist/simclr-resnet18").exists()  # only what it needs
    assert math.isfinite(table.loc[0, "kendall_tau_top_k"])
