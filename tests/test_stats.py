"""Hand-computed checks of sslmem.stats (Tables 2, 13, 16), and of the tests with the f/g pair as the unit."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from sslmem.stats import (
    TABLE2_HYPOTHESES, TABLE16_HYPOTHESES, Hypothesis, bootstrap_ci, evaluate_hypothesis, kendall_tau, mean_std,
    one_sample, one_sided_welch, pooled_cohens_d,
)
from sslmem.pair_stats import (
    PAIR_LEVEL_COLUMNS, claim_over_pairs, evaluate_hypothesis_over_pairs, mixed_model_test, pair_level_test,
    per_pair_means,
)

X = [1.0, 2.0, 3.0, 4.0]
Y = [0.0, 0.0, 1.0, 1.0]


def test_welch_t_matches_hand_arithmetic():
    # means: x = 10/4 = 2.5, y = 2/4 = 0.5
    # sample variances: x = (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3; y = (0.25 * 4) / 3 = 1/3
    # se = sqrt(var_x/n_x + var_y/n_y) = sqrt(5/12 + 1/12) = sqrt(1/2)
    # t = (2.5 - 0.5) / sqrt(1/2) = 2 * sqrt(2)
    # Welch-Satterthwaite df = (5/12 + 1/12)^2 / ((5/12)^2/3 + (1/12)^2/3) = 0.25 / (26/432) = 108/26
    result = one_sided_welch(X, Y, alternative="larger")
    assert result.t == pytest.approx(2 * math.sqrt(2))
    assert result.df == pytest.approx(108 / 26)
    assert (result.mean_x, result.mean_y, result.n_x, result.n_y) == (2.5, 0.5, 4, 4)
    # one-sided p = P(T_df > t)
    assert result.p_value == pytest.approx(scipy_stats.t.sf(2 * math.sqrt(2), 108 / 26))


def test_one_sided_p_halves_two_sided_p_in_the_direction_of_the_effect():
    two_sided = one_sided_welch(X, Y, alternative="two-sided").p_value
    larger = one_sided_welch(X, Y, alternative="larger").p_value
    smaller = one_sided_welch(X, Y, alternative="smaller").p_value
    assert larger == pytest.approx(two_sided / 2)
    assert smaller == pytest.approx(1 - two_sided / 2)
    # Swapping the samples flips which tail is small.
    assert one_sided_welch(Y, X, alternative="smaller").p_value == pytest.approx(larger)


def test_cohens_d_uses_pooled_sd():
    # pooled var = (3 * 5/3 + 3 * 1/3) / (4 + 4 - 2) = 6 / 6 = 1, so d = (2.5 - 0.5) / 1 = 2
    assert pooled_cohens_d(X, Y) == pytest.approx(2.0)
    assert one_sided_welch(X, Y).cohens_d == pytest.approx(2.0)
    assert one_sided_welch(Y, X).cohens_d == pytest.approx(-2.0)


def test_one_sample_against_zero():
    # [1, 2, 3]: mean 2, sd 1, se = 1/sqrt(3), t = 2 * sqrt(3), df 2, d = 2 / 1
    result = one_sample([1.0, 2.0, 3.0], 0.0, alternative="larger")
    assert result.t == pytest.approx(2 * math.sqrt(3))
    assert result.df == 2
    assert result.cohens_d == pytest.approx(2.0)
    assert result.p_value == pytest.approx(scipy_stats.t.sf(2 * math.sqrt(3), 2))
    two_sided = one_sample([1.0, 2.0, 3.0], 0.0, alternative="two-sided").p_value
    assert two_sided == pytest.approx(2 * result.p_value)
    assert one_sample([1.0, 2.0, 3.0], 0.0, alternative="smaller").p_value == pytest.approx(1 - result.p_value)


def test_kendall_tau_of_one_swap():
    # [1,2,3,4] vs [1,2,4,3]: 6 pairs, 5 concordant, 1 discordant -> tau = (5 - 1) / 6
    result = kendall_tau([1, 2, 3, 4], [1, 2, 4, 3])
    assert result.tau == pytest.approx(4 / 6)
    assert 0 < result.p_value <= 1
    assert kendall_tau([1, 2, 3], [3, 2, 1]).tau == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="equally long"):
        kendall_tau([1, 2, 3], [1, 2])


def test_mean_std_uses_sample_std_and_nan_for_one_value():
    mean, std = mean_std([1.0, 2.0, 3.0])
    assert (mean, std) == (2.0, 1.0)
    mean, std = mean_std([0.3])
    assert mean == 0.3 and math.isnan(std)


def test_bootstrap_ci_is_deterministic_under_seed_and_brackets_the_mean():
    values = np.random.default_rng(7).normal(0.3, 0.1, size=500)
    first = bootstrap_ci(values, n_boot=500, seed=3, level=0.95)
    again = bootstrap_ci(values, n_boot=500, seed=3, level=0.95)
    other = bootstrap_ci(values, n_boot=500, seed=4, level=0.95)
    assert first == again
    assert first != other
    assert first[0] < values.mean() < first[1]
    # The interval is close to the normal approximation mean ± 1.96 se.
    se = values.std(ddof=1) / math.sqrt(values.size)
    assert first[1] - first[0] == pytest.approx(2 * 1.96 * se, rel=0.15)
    narrower = bootstrap_ci(values, n_boot=500, seed=3, level=0.5)
    assert narrower[1] - narrower[0] < first[1] - first[0]


def test_invalid_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="alternative"):
        one_sided_welch(X, Y, alternative="greater")
    with pytest.raises(ValueError, match="at least 2"):
        one_sided_welch([1.0], Y)
    with pytest.raises(ValueError, match="NaN"):
        one_sample([1.0, float("nan"), 2.0])
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0, 2.0], level=95)


def test_hypothesis_tables_match_the_paper_rows():
    assert [h.label for h in TABLE2_HYPOTHESES] == [
        "H0: m(S_C) <= m(S_S)", "H0: m(S_C) <= m(S_E)", "H0: m(S_S) <= m(S_I)", "H0: m(S_E) <= m(S_I)",
    ]
    assert all(h.alternative == "larger" and h.subset_2 is not None for h in TABLE2_HYPOTHESES)
    assert [h.label for h in TABLE16_HYPOTHESES] == [
        "H0: m(S_C) <= 0", "H0: 0 <= m(S_I)", "H0: 0 = m(S_S)", "H0: m(S_E) <= 0", "H0: m(S_C) <= m(S_E)",
    ]
    assert [h.alternative for h in TABLE16_HYPOTHESES] == ["larger", "smaller", "two-sided", "larger", "larger"]
    with pytest.raises(ValueError, match="unknown subset"):
        Hypothesis("bad", "H0: m(S_X) <= 0", "S_X", None, "larger")


def test_evaluate_hypothesis_runs_the_described_test():
    scores = {"S_C": X, "S_S": Y, "S_I": [-1.0, -2.0, -1.5], "S_E": [0.1, 0.0, -0.1]}
    row = evaluate_hypothesis(TABLE2_HYPOTHESES[0], scores)
    assert row["t_statistic"] == pytest.approx(2 * math.sqrt(2))
    assert (row["n_1"], row["n_2"]) == (4, 4)
    row = evaluate_hypothesis(TABLE16_HYPOTHESES[1], scores)  # H0: 0 <= m(S_I), H1: mean < 0
    assert row["mean_2"] == 0.0 and math.isnan(row["n_2"])
    assert row["t_statistic"] < 0 and row["p_value"] < 0.05


# --- tests with the f/g pair as the unit ----------------------------------------------------------------------

def test_pair_level_test_matches_hand_arithmetic():
    # Per-pair differences [1, 2, 3]: mean 2, sd 1, se = 1/sqrt(3), t = 2 / (1/sqrt(3)) = 2 sqrt(3), df 2.
    result = pair_level_test([1.0, 2.0, 3.0], alternative="larger")
    assert (result.n_pairs, result.effect, result.df, result.pairs_holding, result.note) == (3, 2.0, 2.0, 3, "")
    assert result.t == pytest.approx(2 * math.sqrt(3))
    assert result.p_value == pytest.approx(scipy_stats.t.sf(2 * math.sqrt(3), 2))
    assert pair_level_test([1.0, 2.0, 3.0], alternative="smaller").p_value == pytest.approx(1 - result.p_value)
    assert pair_level_test([1.0, 2.0, 3.0], alternative="two-sided").p_value == pytest.approx(2 * result.p_value)
    # Against a value: [1, 2, 3] − 2.5 has mean −0.5; one pair (3) lies above 2.5.
    against = pair_level_test([1.0, 2.0, 3.0], alternative="larger", value=2.5)
    assert against.effect == pytest.approx(-0.5) and against.pairs_holding == 1
    assert against.t == pytest.approx(-0.5 / (1 / math.sqrt(3)))


def test_pair_level_test_pairs_two_samples_by_key():
    # Pairs 0, 1, 2 in both (pair 9 only in the first): differences 1, 2, 3 whatever the order given.
    first = {2: 13.0, 0: 11.0, 1: 12.0, 9: 100.0}
    second = pd.Series({0: 10.0, 1: 10.0, 2: 10.0})
    result = pair_level_test(first, second, alternative="larger")
    assert result.n_pairs == 3 and result.effect == pytest.approx(2.0)
    assert result.t == pytest.approx(2 * math.sqrt(3))


def test_pair_level_test_says_why_it_cannot_test():
    one = pair_level_test([0.4], alternative="larger")
    assert one.n_pairs == 1 and one.effect == 0.4 and one.pairs_holding == 1
    assert math.isnan(one.p_value) and math.isnan(one.t) and "at least 2" in one.note
    flat = pair_level_test([0.2 - 0.3, 0.0 - 0.1], alternative="two-sided")  # equal up to rounding
    assert math.isnan(flat.p_value) and "no spread" in flat.note and flat.pairs_holding == 2
    none = pair_level_test([], alternative="larger")
    assert none.n_pairs == 0 and math.isnan(none.effect) and "no pair" in none.note
    # Two-sided: the pairs on the side of the mean effect hold.
    assert pair_level_test([-1.0, -2.0, 0.5], alternative="two-sided").pairs_holding == 2


def scores_of_pairs(differences, offsets=None, n=50, spread=0.01, seed=0) -> pd.DataFrame:
    """Per pair s: n points of S_S at offsets[s] and n of S_C at offsets[s] + differences[s], each with its own
    small noise (sd `spread`). Balanced: every pair scores n points of each subset."""
    rng = np.random.default_rng(seed)
    offsets = offsets if offsets is not None else [0.0] * len(differences)
    rows = []
    for pair, (difference, offset) in enumerate(zip(differences, offsets)):
        for subset, shift in (("S_C", difference), ("S_S", 0.0)):
            for value in offset + shift + spread * rng.standard_normal(n):
                rows.append({"pair": pair, "subset": subset, "m": value})
    return pd.DataFrame(rows)


def ensemble_of(frame: pd.DataFrame) -> pd.Series:
    """The ensemble estimate Table 2 tests: per subset and point (its position within the pair), m averaged over
    the pairs."""
    point = frame.groupby(["pair", "subset"]).cumcount()
    return frame.groupby(["subset", point])["m"].mean()


def test_mixed_model_and_pairs_see_the_training_noise_the_points_do_not():
    # Each pair's run shifts S_C by its own amount (+0.3, −0.1, +0.2, 0.0): the points of a subset agree closely
    # (sd 0.01), so the point-level Welch test over the pooled points finds S_C > S_S beyond doubt, while over
    # the 4 pairs the difference (mean 0.1, sd 0.18) is not significant. Large pair offsets on top change nothing.
    frame = scores_of_pairs([0.3, -0.1, 0.2, 0.0], offsets=[0.0, 5.0, -3.0, 1.0])
    ensemble = ensemble_of(frame)
    welch = one_sided_welch(ensemble.loc["S_C"], ensemble.loc["S_S"], alternative="larger")
    assert welch.p_value < 1e-10

    means = per_pair_means(frame, ["S_C", "S_S"])
    pairs = pair_level_test(means["S_C"], means["S_S"], alternative="larger")
    mixed = mixed_model_test(frame, "S_C", "S_S", alternative="larger")
    assert pairs.n_pairs == 4 and pairs.pairs_holding == 2 and pairs.p_value > 0.1
    assert mixed.note == "" and mixed.n_pairs == 4 and mixed.n_points == 400 and mixed.df == 3
    assert mixed.p_value > 0.1
    # Balanced data: the effect is the mean per-pair difference (the difference of means), the SE the pairs'.
    assert mixed.effect == pytest.approx(pairs.effect, abs=1e-6)
    subset_means = frame.groupby("subset")["m"].mean()
    assert mixed.effect == pytest.approx(subset_means["S_C"] - subset_means["S_S"], abs=1e-6)
    assert mixed.se == pytest.approx(pairs.effect / pairs.t, rel=1e-3)
    assert mixed.z == pytest.approx(pairs.t, rel=1e-3)
    assert mixed.p_value == pytest.approx(pairs.p_value, rel=1e-2)


def test_mixed_model_and_pairs_agree_with_the_points_when_every_pair_shows_the_effect():
    # Every pair: S_C 0.3 above S_S (± 0.02), large pair offsets: all three tests reject at 0.01.
    frame = scores_of_pairs([0.30, 0.32, 0.28, 0.31, 0.29], offsets=[0.0, 2.0, -1.0, 4.0, 0.5], seed=1)
    means = per_pair_means(frame, ["S_C", "S_S"])
    pairs = pair_level_test(means["S_C"], means["S_S"], alternative="larger")
    mixed = mixed_model_test(frame, "S_C", "S_S", alternative="larger")
    ensemble = ensemble_of(frame)
    welch = one_sided_welch(ensemble.loc["S_C"], ensemble.loc["S_S"], alternative="larger")
    assert welch.p_value < 0.01 and pairs.p_value < 0.01 and mixed.p_value < 0.01
    assert pairs.pairs_holding == 5
    assert mixed.effect == pytest.approx(np.mean([0.30, 0.32, 0.28, 0.31, 0.29]), abs=0.01)
    assert mixed.effect == pytest.approx(pairs.effect, abs=1e-6)
    # The one-sided p in the other direction is its complement.
    other = mixed_model_test(frame, "S_C", "S_S", alternative="smaller")
    assert other.p_value == pytest.approx(1 - mixed.p_value)


def test_mixed_model_one_sample_takes_the_pair_offset_as_its_random_intercept():
    # S_C's points sit at the pair's offset (0.4, −0.2, 0.3, −0.1, 0.1 ± 0.01): 0.1 on average. Against 0 the
    # points of one pair look decisive; over the 5 pairs (sd 0.27) the mean is not different from 0.
    offsets = [0.4, -0.2, 0.3, -0.1, 0.1]
    frame = scores_of_pairs([0.0] * 5, offsets=offsets, seed=2)
    candidates = frame[frame["subset"] == "S_C"]
    assert one_sample(candidates["m"], 0.0, alternative="larger").p_value < 1e-3  # points as if independent
    means = per_pair_means(frame, ["S_C"])["S_C"]
    pairs = pair_level_test(means, alternative="larger", value=0.0)
    mixed = mixed_model_test(frame, "S_C", None, alternative="larger", reference_value=0.0)
    assert pairs.effect == pytest.approx(np.mean(list(means.values())))
    assert pairs.t == pytest.approx(pairs.effect / (np.std(list(means.values()), ddof=1) / math.sqrt(5)))
    assert pairs.p_value > 0.1 and mixed.p_value > 0.1
    assert mixed.effect == pytest.approx(pairs.effect, abs=1e-6)
    assert mixed.p_value == pytest.approx(pairs.p_value, rel=1e-2)
    shifted = mixed_model_test(frame, "S_C", None, alternative="larger", reference_value=0.1)
    assert shifted.effect == pytest.approx(mixed.effect - 0.1, abs=1e-6)


def test_mixed_model_says_why_it_has_no_numbers():
    two = mixed_model_test(scores_of_pairs([0.3, 0.1]), "S_C", "S_S")
    assert math.isnan(two.effect) and math.isnan(two.p_value) and "at least 3" in two.note and two.n_pairs == 2
    # A pair without S_S is left out: 3 pairs of which 2 complete.
    frame = scores_of_pairs([0.3, 0.1, 0.2])
    incomplete = mixed_model_test(frame[~((frame["pair"] == 2) & (frame["subset"] == "S_S"))], "S_C", "S_S")
    assert incomplete.n_pairs == 2 and "at least 3" in incomplete.note
    constant = pd.DataFrame({"pair": np.repeat([0, 1, 2], 4), "subset": ["S_C", "S_C", "S_S", "S_S"] * 3, "m": 1.0})
    flat = mixed_model_test(constant, "S_C", "S_S")
    assert math.isnan(flat.p_value) and flat.note


def test_claim_rests_on_the_mixed_model_then_the_pairs():
    assert claim_over_pairs(0.001, 0.5, 0.01) == (True, "mixed model")
    assert claim_over_pairs(0.5, 0.001, 0.01) == (False, "mixed model")
    assert claim_over_pairs(float("nan"), 0.001, 0.01) == (True, "pair t")
    assert claim_over_pairs(float("nan"), float("nan"), 0.01) == (False, "none")


def test_evaluate_hypothesis_over_pairs_returns_the_table_columns():
    frame = scores_of_pairs([0.30, 0.32, 0.28, 0.31, 0.29], seed=3).rename(columns={"pair": "seed"})
    row = evaluate_hypothesis_over_pairs(TABLE2_HYPOTHESES[0], frame, alpha=0.01)  # H0: m(S_C) <= m(S_S)
    assert list(row) == list(PAIR_LEVEL_COLUMNS)
    assert row["n_pairs"] == 5 and row["pairs_holding"] == 5 and row["pair_note"] == "" and row["mixed_note"] == ""
    assert row["claim_test"] == "mixed model" and row["claim_holds"]
    one = evaluate_hypothesis_over_pairs(TABLE16_HYPOTHESES[0], frame, alpha=0.01)  # H0: m(S_C) <= 0
    means = frame[frame["subset"] == "S_C"].groupby("seed")["m"].mean()
    assert one["pair_effect"] == pytest.approx(means.mean())
    assert one["mixed_effect"] == pytest.approx(means.mean(), abs=1e-6)
