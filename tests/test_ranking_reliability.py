"""The per-point ranking's reliability with its placebo null, within-class ranking, cost curve and repeated canaries,
on constructed encoders whose answer is known (the files written as the halves study writes them)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sslmem.data.training_sets import (TrainingSetError, as_table, halves_with_repeats, random_halves,
                                       read_training_set, repeated_points, write_training_set)
from sslmem.measures.reliability import auc, class_centred, placebo_split_halves, reliability

DATASET, SETUP = "fashion_mnist", "simclr-resnet18-e200"


def test_class_centring_by_hand():
    centred = class_centred(np.array([1.0, 2.0, 3.0, 10.0]), np.array([0, 0, 1, 1]))
    np.testing.assert_allclose(centred, [-0.5, 0.5, -3.5, 3.5])
    np.testing.assert_array_equal(class_centred(np.array([1.0, 2.0]), None), [1.0, 2.0])


def test_auc_by_hand():
    assert auc(np.array([3.0, 2.0, 1.0]), np.array([True, False, False]))[0] == 1.0
    assert auc(np.array([1.0, 2.0, 3.0]), np.array([True, False, False]))[0] == 0.0
    assert auc(np.array([1.0, 1.0]), np.array([True, False]))[0] == 0.5  # a tie counts half
    with pytest.raises(ValueError, match="positive and negative"):
        auc(np.array([1.0]), np.array([True]))


def test_repeated_canaries_are_split_evenly_and_repeated_in_their_half():
    canaries = repeated_points(100, 10, seed=0)
    assert len(canaries) == 10 and (np.diff(canaries) > 0).all()
    np.testing.assert_array_equal(repeated_points(100, 10, seed=0), canaries)  # the same in every round
    a, b = halves_with_repeats(100, [0, 3], canaries, copies=3)
    assert len(a) == len(b) == 45 + 5 + 10  # 90 others halved, 5 canaries each, 2 more copies of each
    assert not set(a) & set(b) and set(a) | set(b) == set(range(100))
    for half in (a, b):
        counts = pd.Series(half).value_counts()
        assert set(counts[counts > 1].index) <= set(canaries) and (counts[counts > 1] == 3).sum() == 5
    others = np.setdiff1d(np.arange(100), canaries)
    np.testing.assert_array_equal(a[:45], random_halves(others, [0, 3])[0])  # the non-canaries halve as before
    with pytest.raises(TrainingSetError, match="even"):
        repeated_points(100, 9, seed=0)


def test_a_training_set_may_repeat_points_only_when_its_sidecar_says_so(tmp_path):
    table = as_table([1, 2, 2], "train")
    with pytest.raises(TrainingSetError, match="more than once"):
        write_training_set(table, tmp_path / "plain.csv", {})
    write_training_set(table, tmp_path / "canaries.csv", {"repeats": {"count": 2, "copies": 2, "seed": 0}})
    assert read_training_set(tmp_path / "canaries.csv")[0]["point_id"].tolist() == [1, 2, 2]


def design(n_points: int, n_rounds: int, canaries: np.ndarray, copies: int = 3):
    """Positions of each encoder's training set: half_a/half_b per round, as the halves study draws them."""
    encoders = []
    for r in range(n_rounds):
        halves = halves_with_repeats(n_points, [0, r], canaries, copies) if len(canaries) else \
            random_halves(np.arange(n_points), [0, r])
        encoders += [(r, role, half) for role, half in zip(("half_a", "half_b"), halves)]
    return encoders


def write_study(root: Path, n_rounds: int, signal: np.ndarray, labels: np.ndarray, canaries=np.array([], int),
                canary_signal: float = 0.0, noise: float = 0.5, seed: int = 0):
    """pool_align parquet, training sets and train logs of a constructed halves study: align = offset + noise −
    signal (more for canaries, each seen `copies` times) where the encoder trained with the point; 20 unseen
    points (S_E) after the pool."""
    rng = np.random.default_rng(seed)
    n_pool = len(signal)
    points = pd.DataFrame({"point_id": np.arange(n_pool + 20), "source": "train",
                           "subset": ["S_S"] * n_pool + ["S_E"] * 20, "label": np.r_[labels, np.zeros(20, int)]})
    paths = {"align": [], "sets": [], "logs": []}
    for r, role, half in design(n_pool, n_rounds, canaries):
        name = f"{role}{r}"
        member = np.isin(np.arange(n_pool + 20), half)
        boost = np.isin(np.arange(n_pool + 20), canaries) * canary_signal
        align = rng.normal() + rng.normal(0, noise, n_pool + 20) - member * (np.r_[signal, np.zeros(20)] + boost)
        frame = points.assign(dataset=DATASET, setup=SETUP, method="simclr", arch="resnet18", seed=r, role=role,
                              representation="projection", align=align)
        for kind, suffix in (("align", "parquet"), ("sets", "csv"), ("logs", "csv")):
            paths[kind].append(root / kind / DATASET / SETUP / f"{name}.{suffix}")
            paths[kind][-1].parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(paths["align"][-1])
        meta = {"repeats": {"count": len(canaries), "copies": 3, "seed": 0}} if len(canaries) else {}
        write_training_set(as_table(half, "train"), paths["sets"][-1], meta)
        pd.DataFrame({"epoch": [1, 2], "seconds": [30.0, 30.0]}).to_csv(paths["logs"][-1], index=False)
    return paths


def test_reliability_rows_separate_signal_class_and_placebo(tmp_path):
    from sslmem.report.reliability import reliability_table

    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(4), 100)
    within = rng.normal(0, 1, 400)
    paths = write_study(tmp_path, 4, within + 2 * labels, labels)  # a class effect and a within-class signal
    table = reliability_table(paths["align"], paths["sets"], tmp_path / "reliability.csv", placebo_draws=50)
    rows = table.set_index("points")
    assert list(table.points) == ["trained", "within_class", "placebo"]
    assert rows.loc["trained", "n_points"] == 400 and rows.loc["placebo", "n_points"] == 420  # pool + S_E
    assert rows.loc["trained", "split_half"] > rows.loc["within_class", "split_half"] > 0.5
    assert abs(rows.loc["placebo", "split_half"]) < 4 * rows.loc["placebo", "null_sd"]
    # The null of a Spearman correlation over n independent points: SD about 1/sqrt(n - 1).
    assert rows["null_sd"].between(0.02, 0.09).all() and (rows["null_draws"] == 50).all()
    assert rows.loc["trained", "p_null"] == pytest.approx(1 / 51)


def test_a_class_effect_alone_is_not_reliable_within_class(tmp_path):
    from sslmem.report.reliability import reliability_table

    labels = np.repeat(np.arange(4), 100)
    paths = write_study(tmp_path, 4, labels.astype(float), labels)
    rows = reliability_table(paths["align"], paths["sets"], tmp_path / "r.csv", placebo_draws=20).set_index("points")
    assert rows.loc["trained", "split_half"] > 0.5 and abs(rows.loc["within_class", "split_half"]) < 0.2


def test_the_placebo_null_is_centred_on_zero_even_with_a_strong_signal():
    from test_score_reliability import balanced_design, synthetic_aligns

    member, rounds = balanced_design(400, 4)
    aligns = synthetic_aligns(member, rounds, np.random.default_rng(7).normal(0, 1, 400), noise=0.3)
    roles = ["half_a", "half_b"] * 4
    null = placebo_split_halves(aligns, rounds, roles, seed=0, draws=60)
    assert abs(null.mean()) < 0.03 and 0.02 < null.std() < 0.09
    assert reliability(aligns, member, rounds)["split_half"] > 0.8


def test_canaries_are_found_and_the_curve_grows_with_rounds(tmp_path):
    from sslmem.report.reliability import canaries_table, ranking_curve

    rng = np.random.default_rng(2)
    canaries = repeated_points(200, 20, seed=0)
    paths = write_study(tmp_path, 6, rng.normal(0, 0.3, 200), np.zeros(200, int), canaries, canary_signal=1.5,
                        noise=1.0)
    found = canaries_table(paths["align"], paths["sets"], paths["logs"], tmp_path / "canaries.csv")
    assert found["rounds"].tolist() == list(range(1, 7)) and (found["n_canaries"] == 20).all()
    assert (found["copies"] == 3).all() and (found["n_others"] == 180).all()
    assert found["auc"].iat[-1] > 0.9 and found["auc"].iat[-1] > found["auc"].iat[0]
    assert found["train_minutes"].tolist() == pytest.approx([2.0 * r for r in range(1, 7)])  # 2 x 60 s per round
    curve = ranking_curve(paths["align"], paths["sets"], paths["logs"], tmp_path / "curve.csv")
    trained = curve[curve.points == "trained"]
    assert trained["rounds"].tolist() == list(range(2, 7)) and (trained["n_points"] == 180).all()  # no canaries
    assert set(curve.points) == {"trained", "within_class"}


def test_no_canaries_no_rows(tmp_path):
    from sslmem.report.reliability import canaries_table

    paths = write_study(tmp_path, 2, np.zeros(50), np.zeros(50, int))
    assert canaries_table(paths["align"], paths["sets"], paths["logs"], tmp_path / "c.csv").empty
    assert math.isnan(reliability(np.zeros((2, 3)), np.array([[1, 0, 1], [0, 1, 0]], bool), [0, 0])["split_half"])


def test_the_within_class_ranking_by_hand():
    from sslmem.report.allpoints import rank_points, within_class

    points = pd.DataFrame({"point_id": [1, 2, 3, 4], "source": "train", "label": [0, 0, 1, 1],
                           "m": [0.9, 0.1, 0.5, 0.3]})
    ranked = within_class(rank_points(points)).set_index("point_id")
    assert ranked["rank"].to_dict() == {1: 1, 3: 2, 4: 3, 2: 4}
    assert ranked["rank_within_class"].to_dict() == {1: 1, 3: 1, 4: 2, 2: 2}
    np.testing.assert_allclose(ranked.loc[[1, 2, 3, 4], "m_within_class"], [0.4, -0.4, 0.1, -0.1])


def test_the_variance_decomposition_recovers_known_parts():
    from sslmem.measures.reliability import decompose_variance

    rng = np.random.default_rng(0)
    signal = rng.normal(0, 1.0, 20000)  # variance 1
    training = rng.normal(0, 0.5 ** 0.5, (8, 20000))  # variance 0.5, shared by both draws of views
    first = signal + training + rng.normal(0, 0.5, (8, 20000))  # views: variance 0.25 per draw
    second = signal + training + rng.normal(0, 0.5, (8, 20000))
    parts = decompose_variance(first, second)
    assert parts["signal"] == pytest.approx(1.0, abs=0.05) and parts["view"] == pytest.approx(0.25, abs=0.01)
    assert parts["training_and_membership"] == pytest.approx(0.5, abs=0.02)
    assert parts["implied_r_one_round"] == pytest.approx(1 / 1.75, abs=0.02)
