"""The balanced in/out design and the reliability of per-point scores, on synthetic encoders with known signal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sslmem.data.training_sets import random_halves
from sslmem.measures.reliability import measurements_for, placebo_membership, reliability, spearman_brown


def balanced_design(n_points: int, n_rounds: int, seed: int = 0):
    """Encoders of `n_rounds` rounds of random halves (as the halves study draws them): member [K, N], rounds."""
    ids = np.arange(n_points)
    member, rounds = [], []
    for r in range(n_rounds):
        for half in random_halves(ids, [seed, r]):
            member.append(np.isin(ids, half))
            rounds.append(r)
    return np.array(member), rounds


def test_every_point_is_in_exactly_half_of_the_encoders():
    member, rounds = balanced_design(100, 4)
    assert member.shape == (8, 100)
    assert (member.sum(axis=0) == 4).all()
    for r in range(4):  # within a round, the two halves are disjoint and cover the pool
        assert (member[np.array(rounds) == r].sum(axis=0) == 1).all()


def test_spearman_brown_by_hand():
    assert spearman_brown(0.5, 2) == pytest.approx(2 / 3)
    assert spearman_brown(0.2, 4) == pytest.approx(0.8 / 1.6)
    assert measurements_for(0.7, 0.5) == pytest.approx(0.7 * 0.5 / (0.5 * 0.3))
    assert math.isnan(measurements_for(0.7, -0.1))


def synthetic_aligns(member, rounds, signal, noise, seed=1):
    """align = encoder offset + noise − signal where the encoder trained on the point (lower loss: memorised)."""
    rng = np.random.default_rng(seed)
    k, n = member.shape
    offsets = rng.normal(0, 1, size=(k, 1))
    return offsets + rng.normal(0, noise, size=(k, n)) - member * signal[None, :]


def test_a_real_signal_is_reliable_and_noise_is_not():
    member, rounds = balanced_design(400, 4)
    signal = np.random.default_rng(7).normal(0, 1, size=400)
    strong = reliability(synthetic_aligns(member, rounds, signal, noise=0.3), member, rounds)
    assert strong["r_one_round"] > 0.8 and strong["split_half"] > 0.8 and strong["predicted_full"] > 0.9
    none = reliability(synthetic_aligns(member, rounds, np.zeros(400), noise=0.3), member, rounds)
    assert abs(none["r_one_round"]) < 0.1 and abs(none["split_half"]) < 0.15
    assert strong["rounds"] == 4 and strong["encoders"] == 8 and strong["n_points"] == 400


def test_one_round_has_no_split_half():
    member, rounds = balanced_design(50, 1)
    numbers = reliability(np.zeros((2, 50)), member, rounds)
    assert numbers["rounds"] == 1 and math.isnan(numbers["split_half"])


def test_the_placebo_is_balanced_per_round_and_seeded():
    rounds, roles = [0, 0, 1, 1], ["half_a", "half_b", "half_a", "half_b"]
    member = placebo_membership(10, rounds, roles, seed=3)
    assert (member[:2].sum(axis=0) == 1).all() and (member[2:].sum(axis=0) == 1).all()
    assert member.sum(axis=1).tolist() == [5, 5, 5, 5]
    assert (placebo_membership(10, rounds, roles, seed=3) == member).all()


def test_the_round_bootstrap_interval_is_narrow_for_a_clear_signal_and_wide_for_noise():
    from sslmem.measures.reliability import round_bootstrap_interval

    member, rounds = balanced_design(200, 6)
    signal = np.random.default_rng(3).normal(0, 1, size=200)
    clear = synthetic_aligns(member, rounds, signal, noise=0.1)
    low, high = round_bootstrap_interval(clear, member, rounds, n_boot=200, seed=0, level=0.9)
    assert (low <= high).all() and np.median(high - low) < 0.5
    assert np.corrcoef((low + high) / 2, signal)[0, 1] > 0.95
    noisy = synthetic_aligns(member, rounds, np.zeros(200), noise=1.0)
    low_n, high_n = round_bootstrap_interval(noisy, member, rounds, n_boot=200, seed=0, level=0.9)
    assert np.median(high_n - low_n) > 2 * np.median(high - low)
    again = round_bootstrap_interval(clear, member, rounds, n_boot=200, seed=0, level=0.9)
    assert (again[0] == low).all() and (again[1] == high).all()
