"""Statistical tests and summaries behind Tables 1, 2, 13 and 16 of the SSLMem paper.

Small pure functions over 1-D arrays of scores:

* :func:`one_sided_welch` — two-sample Welch t-test (unequal variances), one- or two-sided, with the
  pooled-sd Cohen's d; Table 2 and the last row of Table 16.
* :func:`one_sample` — one-sample t-test against a constant; Table 16.
* :func:`kendall_tau` — rank agreement between two score vectors; Table 13.
* :func:`wilcoxon_signed_rank` — paired test of two measures of the same units; ClassMem vs UnitMem.
* :func:`mean_std`, :func:`bootstrap_ci` — means over seeds and confidence intervals of means.
* :func:`pair_level_test`, :func:`mixed_model_test` — the same claims with the f/g pair (the training run, whose
  noise every point it scores shares) as the unit: a t-test over the per-pair subset-mean differences, and a
  linear mixed model with the pair as a random effect; :func:`evaluate_hypothesis_over_pairs` runs both for a
  :class:`Hypothesis` and says whether its claim holds (:func:`claim_over_pairs`).

The paper's null hypotheses are data, not code: :data:`TABLE2_HYPOTHESES` and :data:`TABLE16_HYPOTHESES`
list every row as a :class:`Hypothesis`, and :func:`evaluate_hypothesis` runs the matching test on the
per-subset scores.

Alternatives follow statsmodels: ``"larger"`` is H1: mean(x) > mean(y) (so H0: mean(x) <= mean(y)),
``"smaller"`` is H1: mean(x) < mean(y), ``"two-sided"`` is H1: mean(x) != mean(y).

Example::

    >>> r = one_sided_welch([1, 2, 3, 4], [0, 0, 1, 1], alternative="larger")
    >>> round(r.t, 4), r.p_value < 0.05
    (2.8284, True)
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.stats.weightstats import DescrStatsW, ttest_ind

from sslmem.artifacts import SUBSETS

ALTERNATIVES = ("larger", "smaller", "two-sided")


def check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(
            f"alternative={alternative!r} is not supported; use one of {ALTERNATIVES} "
            "('larger' tests H0: mean(x) <= mean(y))"
        )


def _as_sample(values, name: str, min_size: int = 2) -> np.ndarray:
    """Return `values` as a finite 1-D float array, or raise ValueError saying what is wrong."""
    array = np.asarray(values, dtype=float).ravel()
    if array.size < min_size:
        raise ValueError(f"{name} has {array.size} values; a t-test needs at least {min_size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains {int(np.sum(~np.isfinite(array)))} NaN/inf values; drop them first")
    return array


def pooled_cohens_d(x, y) -> float:
    """Cohen's d of x against y: (mean(x) − mean(y)) / pooled sd, with the pooled sd
    sqrt(((n_x − 1) var_x + (n_y − 1) var_y) / (n_x + n_y − 2)) from sample variances (ddof=1)."""
    x = _as_sample(x, "x")
    y = _as_sample(y, "y")
    pooled_var = ((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2)
    if pooled_var == 0:
        return float("nan")  # both samples constant: the standardised difference is undefined
    return float((x.mean() - y.mean()) / np.sqrt(pooled_var))


@dataclass(frozen=True)
class WelchResult:
    """Result of :func:`one_sided_welch`. `t` and `df` are Welch's; `cohens_d` uses the pooled sd."""

    t: float
    p_value: float
    df: float
    mean_x: float
    mean_y: float
    n_x: int
    n_y: int
    cohens_d: float
    alternative: str

    def as_dict(self) -> dict:
        return asdict(self)


def one_sided_welch(x, y, alternative: str = "larger") -> WelchResult:
    """Welch's two-sample t-test of x against y (unequal variances).

    Args:
        x, y: 1-D samples (at least two finite values each).
        alternative: ``"larger"`` tests H0: mean(x) <= mean(y) against H1: mean(x) > mean(y);
            ``"smaller"`` tests H0: mean(x) >= mean(y); ``"two-sided"`` tests H0: mean(x) = mean(y).

    Returns:
        :class:`WelchResult` with Welch's t = (mean_x − mean_y) / sqrt(var_x/n_x + var_y/n_y), the
        p-value of the chosen alternative, the Welch–Satterthwaite df and the pooled-sd Cohen's d.
    """
    check_alternative(alternative)
    x = _as_sample(x, "x")
    y = _as_sample(y, "y")
    t, p_value, df = ttest_ind(x, y, alternative=alternative, usevar="unequal")
    return WelchResult(
        t=float(t),
        p_value=float(p_value),
        df=float(df),
        mean_x=float(x.mean()),
        mean_y=float(y.mean()),
        n_x=int(x.size),
        n_y=int(y.size),
        cohens_d=pooled_cohens_d(x, y),
        alternative=alternative,
    )


@dataclass(frozen=True)
class OneSampleResult:
    """Result of :func:`one_sample`; `cohens_d` = (mean − value) / sd (sample sd, ddof=1)."""

    t: float
    p_value: float
    df: float
    mean: float
    value: float
    n: int
    cohens_d: float
    alternative: str

    def as_dict(self) -> dict:
        return asdict(self)


def one_sample(x, value: float = 0.0, alternative: str = "larger") -> OneSampleResult:
    """One-sample t-test of mean(x) against a constant `value`.

    ``"larger"`` tests H0: mean(x) <= value; ``"smaller"`` tests H0: mean(x) >= value (e.g. Table 16's
    "H0: 0 <= m(S_I)"); ``"two-sided"`` tests H0: mean(x) = value.
    """
    check_alternative(alternative)
    x = _as_sample(x, "x")
    t, p_value, df = DescrStatsW(x).ttest_mean(value, alternative=alternative)
    sd = x.std(ddof=1)
    cohens_d = float((x.mean() - value) / sd) if sd > 0 else float("nan")
    return OneSampleResult(
        t=float(t),
        p_value=float(p_value),
        df=float(df),
        mean=float(x.mean()),
        value=float(value),
        n=int(x.size),
        cohens_d=cohens_d,
        alternative=alternative,
    )


@dataclass(frozen=True)
class KendallResult:
    """Kendall's tau-b between two rankings and its two-sided p-value (scipy)."""

    tau: float
    p_value: float


def kendall_tau(a, b) -> KendallResult:
    """Kendall's tau-b rank correlation between equally long score vectors `a` and `b` (Table 13).

    Example: ``kendall_tau([1, 2, 3, 4], [1, 2, 4, 3]).tau == 4 / 6`` (5 concordant, 1 discordant pair).
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.size != b.size:
        raise ValueError(f"kendall_tau needs equally long inputs, got {a.size} and {b.size}")
    if a.size < 2:
        raise ValueError(f"kendall_tau needs at least 2 pairs, got {a.size}")
    result = scipy_stats.kendalltau(a, b)
    return KendallResult(tau=float(result.statistic), p_value=float(result.pvalue))


@dataclass(frozen=True)
class WilcoxonResult:
    """Wilcoxon's signed-rank test of x − y over paired values: the statistic (scipy's: the smaller of the two
    rank sums, two-sided), its two-sided p-value, and the number of pairs tested (both values finite)."""

    statistic: float
    p_value: float
    n: int


def wilcoxon_signed_rank(x, y) -> WilcoxonResult:
    """Two-sided Wilcoxon signed-rank test of H0: the differences x − y are symmetric about 0 (scipy, zero
    differences dropped as Wilcoxon's original). Pairs where either value is NaN are left out first. With no
    nonzero difference there is nothing to rank: statistic and p-value are NaN.

    Why rank-based: per-unit UnitMem and ClassMem are bounded ratios with skewed, heavy-tailed differences, where a
    paired t-test's normality does not hold."""
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.size != y.size:
        raise ValueError(f"wilcoxon_signed_rank needs paired values, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    differences = x[keep] - y[keep]
    if not np.any(differences != 0):
        return WilcoxonResult(statistic=float("nan"), p_value=float("nan"), n=int(keep.sum()))
    result = scipy_stats.wilcoxon(differences, zero_method="wilcox", alternative="two-sided")
    return WilcoxonResult(statistic=float(result.statistic), p_value=float(result.pvalue), n=int(keep.sum()))


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of `values`, e.g. one number per seed.

    The std is NaN for fewer than two values, so a single seed never shows a spread of 0. Empty input
    gives (NaN, NaN).
    """
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        return float("nan"), float("nan")
    std = float(array.std(ddof=1)) if array.size >= 2 else float("nan")
    return float(array.mean()), std


def bootstrap_ci(values, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of `values`.

    Resamples `values` with replacement `n_boot` times from ``numpy.random.default_rng(seed)``, so the
    interval is a pure function of (values, n_boot, seed, level). Returns (low, high); (NaN, NaN) for
    empty input.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot={n_boot} must be a positive number of resamples")
    if not 0 < level < 1:
        raise ValueError(f"level={level} must lie strictly between 0 and 1 (e.g. 0.95)")
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    # Draw in chunks so memory stays bounded for large score sets (5000 points x 1000 resamples).
    chunk = max(1, 2_000_000 // array.size)
    means = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, array.size, size=(stop - start, array.size))
        means[start:stop] = array[idx].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Hypothesis:
    """One null hypothesis of Table 2 / Table 16, as data.

    Attributes:
        key: stable identifier, also the key of the paper's value in paper_values.yaml (e.g. "SC_le_SS").
        label: the hypothesis as the paper writes it, e.g. "H0: m(S_C) <= m(S_S)".
        subset_1: subset whose scores are the first sample (x).
        subset_2: subset of the second sample (y); None for a one-sample test against `reference_value`.
        alternative: statsmodels alternative for H1 on (x, y) or (x, reference_value).
        reference_value: the constant of a one-sample test.
    """

    key: str
    label: str
    subset_1: str
    subset_2: str | None
    alternative: str
    reference_value: float = 0.0

    def __post_init__(self):
        check_alternative(self.alternative)
        for subset in (self.subset_1, self.subset_2):
            if subset is not None and subset not in SUBSETS:
                raise ValueError(f"Hypothesis {self.key}: unknown subset {subset!r}; use one of {SUBSETS}")

    @property
    def subsets(self) -> tuple[str, ...]:
        """The subsets whose scores this test reads."""
        return (self.subset_1,) if self.subset_2 is None else (self.subset_1, self.subset_2)


# Table 2 (Sec. 4.2): S_C (S_I) is memorised more (less) than S_S and S_E. All one-sided two-sample tests.
TABLE2_HYPOTHESES: tuple[Hypothesis, ...] = (
    Hypothesis("SC_le_SS", "H0: m(S_C) <= m(S_S)", "S_C", "S_S", "larger"),
    Hypothesis("SC_le_SE", "H0: m(S_C) <= m(S_E)", "S_C", "S_E", "larger"),
    Hypothesis("SS_le_SI", "H0: m(S_S) <= m(S_I)", "S_S", "S_I", "larger"),
    Hypothesis("SE_le_SI", "H0: m(S_E) <= m(S_I)", "S_E", "S_I", "larger"),
)

# Table 16 (App. C): scores against 0, plus S_C against S_E. "0 <= m(S_I)" has H1: m(S_I) < 0, and
# "0 = m(S_S)" is the only two-sided test (it measures the global offset of m).
TABLE16_HYPOTHESES: tuple[Hypothesis, ...] = (
    Hypothesis("SC_le_0", "H0: m(S_C) <= 0", "S_C", None, "larger"),
    Hypothesis("0_le_SI", "H0: 0 <= m(S_I)", "S_I", None, "smaller"),
    Hypothesis("0_eq_SS", "H0: 0 = m(S_S)", "S_S", None, "two-sided"),
    Hypothesis("SE_le_0", "H0: m(S_E) <= 0", "S_E", None, "larger"),
    Hypothesis("SC_le_SE", "H0: m(S_C) <= m(S_E)", "S_C", "S_E", "larger"),
)


def evaluate_hypothesis(hypothesis: Hypothesis, scores_by_subset: Mapping[str, Sequence[float]]) -> dict:
    """Run the test `hypothesis` describes on per-subset scores.

    Returns a flat dict: n_1, n_2 (NaN for a one-sample test), mean_1, mean_2 (the reference value for a
    one-sample test), t_statistic, df, p_value, cohens_d.
    """
    missing = [s for s in hypothesis.subsets if s not in scores_by_subset]
    if missing:
        raise ValueError(f"{hypothesis.label} needs scores of subsets {missing}, which are missing")
    x = scores_by_subset[hypothesis.subset_1]
    if hypothesis.subset_2 is None:
        r = one_sample(x, hypothesis.reference_value, hypothesis.alternative)
        return dict(n_1=r.n, n_2=float("nan"), mean_1=r.mean, mean_2=r.value, t_statistic=r.t, df=r.df,
                    p_value=r.p_value, cohens_d=r.cohens_d)
    w = one_sided_welch(x, scores_by_subset[hypothesis.subset_2], hypothesis.alternative)
    return dict(n_1=w.n_x, n_2=w.n_y, mean_1=w.mean_x, mean_2=w.mean_y, t_statistic=w.t, df=w.df,
                p_value=w.p_value, cohens_d=w.cohens_d)
