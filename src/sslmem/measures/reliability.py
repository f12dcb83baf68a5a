"""How reproducible a per-point score is: the agreement of scores from disjoint groups of encoders.

In the balanced in/out design (:mod:`sslmem.studies.halves`) every round r trains two encoders on two random
halves of the pool, so one round alone already scores every point (in one encoder, out of the other). The
scores of two disjoint groups of rounds are two independent measurements of the same quantity; their rank
correlation is the split-half reliability, and Spearman–Brown projects it to more rounds:

    rho(k · n rounds) = k · rho(n) / (1 + (k − 1) · rho(n)).

A score with no signal (pure training noise) has reliability near 0 however many rounds it averages. The control
is a placebo: the same encoders and points under a random balanced pseudo-membership, which flips the sign of
each point's round score at random (:func:`placebo_membership`), so its split-half correlation is zero in
expectation; its spread over many draws (:func:`placebo_split_halves`) is the null against which a measured
reliability is read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np
from scipy import stats


def spearman_brown(rho: float, factor: float) -> float:
    """Reliability of a score averaged over `factor` times as many measurements as one of reliability `rho`."""
    if math.isnan(rho):
        return math.nan
    return factor * rho / (1 + (factor - 1) * rho)


def measurements_for(target: float, rho_one: float) -> float:
    """How many single measurements of reliability `rho_one` average to `target` (Spearman–Brown inverted);
    NaN when `rho_one` is not positive (no number of measurements gets there)."""
    if not rho_one > 0 or rho_one >= 1:
        return math.nan if not rho_one > 0 else 1.0
    return target * (1 - rho_one) / (rho_one * (1 - target))


def round_scores(align: np.ndarray, member: np.ndarray, rounds: Sequence[int], groups: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Per group of rounds: mean centred alignment of the encoders without each point − of those with it ([N]
    each; centred per encoder over these N points, see :func:`sslmem.measures.scores.center_encoders`).
    `align`/`member` are [K, N]; `rounds[k]` is encoder k's round."""
    rounds = np.asarray(rounds)
    scores = []
    for group in groups:
        rows = np.isin(rounds, list(group))
        inside, outside = member[rows], ~member[rows]
        if (inside.sum(axis=0) == 0).any() or (outside.sum(axis=0) == 0).any():
            raise ValueError(f"rounds {list(group)}: some point is in every or in no encoder of the group")
        part = align[rows] - align[rows].mean(axis=1, keepdims=True)  # centred, as the in/out scores are
        scores.append((part * outside).sum(axis=0) / outside.sum(axis=0) - (part * inside).sum(axis=0) / inside.sum(axis=0))
    return scores


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.spearmanr(a, b).statistic) if len(a) > 2 else math.nan


def class_centred(scores: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """Each score less the mean score of its class (unchanged when `classes` is None): ranking the result ranks
    points within their class, without the part of the score that only says which class a point is of."""
    if classes is None:
        return scores
    classes = np.asarray(classes)
    codes, inverse = np.unique(classes, return_inverse=True)
    means = np.bincount(inverse, weights=scores, minlength=len(codes)) / np.bincount(inverse, minlength=len(codes))
    return scores - means[inverse]


def split_half(align: np.ndarray, member: np.ndarray, rounds: Sequence[int], classes=None) -> float:
    """Spearman correlation between the scores of the first ⌊R/2⌋ rounds (in sorted order) and of the others."""
    unique = sorted(set(rounds))
    if len(unique) < 2:
        return math.nan
    half = len(unique) // 2
    first, second = round_scores(align, member, rounds, [unique[:half], unique[half:]])
    return spearman(class_centred(first, classes), class_centred(second, classes))


def reliability(align: np.ndarray, member: np.ndarray, rounds: Sequence[int], classes=None) -> dict:
    """The reliability numbers of one set of points scored by encoders of several rounds.

    * ``r_one_round``: mean Spearman correlation between the scores of two single rounds (over all pairs);
    * ``split_half``: Spearman correlation between the scores of the first ⌊R/2⌋ rounds and of the others
      (R ≥ 2), and ``split_half_full``: that projected to all R rounds (factor R / ⌈R/2⌉);
    * ``predicted_full``: Spearman–Brown from ``r_one_round`` to all R rounds;
    * ``rounds_for_0_7``: rounds whose average would reach 0.7.

    With `classes` ([N]), every score is centred on its class mean before ranking (:func:`class_centred`): the
    reliability of a ranking within classes.
    """
    unique = sorted(set(rounds))
    result = {"rounds": len(unique), "encoders": int(len(rounds)), "n_points": int(align.shape[1]),
              "r_one_round": math.nan, "split_half": math.nan, "split_half_full": math.nan,
              "predicted_full": math.nan, "rounds_for_0_7": math.nan}
    if len(unique) < 2:
        return result
    singles = [class_centred(score, classes) for score in single_round_scores(align, member, rounds)]
    pairs = [spearman(singles[i], singles[j]) for i, j in combinations(range(len(unique)), 2)]
    r_one = float(np.mean(pairs))
    half = len(unique) // 2
    split = split_half(align, member, rounds, classes)
    result.update(r_one_round=r_one, split_half=split,
                  split_half_full=spearman_brown(split, len(unique) / (len(unique) - half)),
                  predicted_full=spearman_brown(r_one, len(unique)),
                  rounds_for_0_7=measurements_for(0.7, r_one))
    return result


def placebo_membership(n_points: int, rounds: Sequence[int], roles: Sequence[str], seed) -> np.ndarray:
    """A balanced pseudo-membership for points no encoder saw: per round, a random half of the points is called
    "in" the round's ``half_a`` encoder and the other half "in" its ``half_b`` encoder ([K, N] bool)."""
    seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed]
    member = np.zeros((len(rounds), n_points), dtype=bool)
    for r in sorted(set(rounds)):
        order = np.random.default_rng([*seeds, r]).permutation(n_points)
        in_a = np.zeros(n_points, dtype=bool)
        in_a[order[: n_points // 2]] = True
        for k, (encoder_round, role) in enumerate(zip(rounds, roles)):
            if encoder_round == r:
                member[k] = in_a if role.endswith("a") else ~in_a
    return member


def placebo_split_halves(align: np.ndarray, rounds: Sequence[int], roles: Sequence[str], seed: int, draws: int,
                         classes=None) -> np.ndarray:
    """The split-half correlation of `draws` placebo memberships (:func:`placebo_membership`, seeds
    [seed, draw]) of the same encoders and points: the null distribution of :func:`split_half` ([draws])."""
    return np.array([split_half(align, placebo_membership(align.shape[1], rounds, roles, [seed, draw]), rounds,
                                classes) for draw in range(draws)])


def single_round_scores(align: np.ndarray, member: np.ndarray, rounds: Sequence[int]) -> np.ndarray:
    """[R, N]: each round's own in/out score of every point (:func:`round_scores` of one round at a time)."""
    return np.stack(round_scores(align, member, rounds, [[r] for r in sorted(set(rounds))]))


def decompose_variance(first: np.ndarray, second: np.ndarray) -> dict:
    """The parts of one round's score variance from two [R, N] single-round score matrices of the same encoders
    measured with two independent draws of views: ``view`` = mean (first − second)² / 2; ``within`` = the mean
    over points of the variance over rounds (views, training runs and membership draws); the training part =
    within − view; ``signal`` = the variance over points of the mean over rounds − within / R (the points' own,
    reproducible part); ``implied_r_one_round`` = signal / (signal + within)."""
    rounds = first.shape[0]
    view = float(np.mean((first - second) ** 2) / 2)
    within = float(np.mean(first.var(axis=0, ddof=1)))
    signal = float(first.mean(axis=0).var(ddof=1) - within / rounds)
    return {"rounds": rounds, "n_points": int(first.shape[1]), "signal": signal, "view": view,
            "training_and_membership": within - view, "implied_r_one_round": signal / (signal + within)}


def auc(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """The probability that a positive point scores above a negative one (ties count half: Mann–Whitney U over
    n+ n−) and the one-sided Mann–Whitney p of "positives score higher"."""
    scores, positive = np.asarray(scores, dtype=float), np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"need positive and negative points, got {n_pos} and {n_neg}")
    test = stats.mannwhitneyu(scores[positive], scores[~positive], alternative="greater")
    return float(test.statistic) / (n_pos * n_neg), float(test.pvalue)


def round_bootstrap_interval(align: np.ndarray, member: np.ndarray, rounds: Sequence[int], n_boot: int, seed: int,
                             level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per point, a percentile-bootstrap interval of the in/out score m_raw over rounds: resample the rounds with
    replacement (each round scores every point once in and once out, so every resample scores every point) and
    take the (1 − level)/2 and (1 + level)/2 quantiles. `align` is centred per encoder, [K, N]. With one round
    the interval is the point itself."""
    unique = sorted(set(rounds))
    singles = np.stack(round_scores(align, member, rounds, [[r] for r in unique]))  # [R, N]
    rng = np.random.default_rng(seed)
    draws = singles[rng.integers(0, len(unique), size=(n_boot, len(unique)))].mean(axis=1)  # [B, N]
    return np.quantile(draws, (1 - level) / 2, axis=0), np.quantile(draws, (1 + level) / 2, axis=0)
