"""Hand-computed checks of sslmem.stats (Tables 2, 13, 16)."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from sslmem.stats import (
    TABLE2_HYPOTHESES,
    TABLE16_HYPOTHESES,
    Hypothesis,
    bootstrap_ci,
    evaluate_hypothesis,
    kendall_tau,
    mean_std,
    one_sample,
    one_sided_welch,
    pooled_cohens_d,
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
