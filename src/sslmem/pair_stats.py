"""Tests at the level of the randomness: the f/g pair, not the point (Tables 2, 16, 8 and 12 beside the paper's
point-level tests of :mod:`sslmem.stats`).

Every point a pair of encoders scores shares that pair's training run: a run that happens to favour S_C shifts
all of S_C at once. Point-level tests (Welch over the 100 points of a subset) count such a shift 100 times; the
tests here count it once. Their unit is the pair (seed s of the "pair" score rows): a t-test over the per-pair
differences (:func:`pair_level_test`) and a linear mixed model with the pair as a random effect
(:func:`mixed_model_test`, statsmodels' MixedLM).

Example::

    from sslmem.pair_stats import pair_level_test
    pair_level_test([1.0, 2.0, 3.0])   # t = 2 / (1 / sqrt 3), df 2
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.regression.mixed_linear_model import MixedLM

from sslmem.stats import Hypothesis, check_alternative

MIN_PAIRS_T = 2  # a t-test over pairs needs a spread, so at least two pairs
MIN_PAIRS_MIXED = 3  # fewer pairs cannot separate the pair variance from the pair × subset variance


@dataclass(frozen=True)
class PairLevelResult:
    """Result of :func:`pair_level_test`.

    Attributes:
        n_pairs: pairs tested (those with a value in every sample).
        effect: mean over pairs of the per-pair difference, minus `value`.
        t: the one-sample t statistic effect / (sd / sqrt(n_pairs)) (sd with ddof=1); NaN when untestable.
        df: n_pairs − 1.
        p_value: p of `alternative`; NaN when untestable (see `note`).
        pairs_holding: pairs whose difference lies on the claimed side of `value` ("larger": above, "smaller":
            below, "two-sided": on the side of the mean effect; a difference equal to `value` holds in no case).
        note: empty when tested, else why not.
        alternative: the alternative tested.
    """

    n_pairs: int
    effect: float
    t: float
    df: float
    p_value: float
    pairs_holding: int
    note: str
    alternative: str

    def as_dict(self) -> dict:
        return asdict(self)


def _by_pair(values) -> dict:
    """Pair → value from a mapping (a dict or a pandas Series, keyed by pair) or a sequence (keyed by position)."""
    if hasattr(values, "items"):
        return {key: float(value) for key, value in values.items()}
    return {index: float(value) for index, value in enumerate(np.asarray(values, dtype=float).ravel())}


def pair_level_test(first, second=None, alternative: str = "larger", value: float = 0.0) -> PairLevelResult:
    """One-sample t-test over pairs of encoders: the pair, not the point, is the unit.

    Args:
        first: one number per pair (a mapping pair → value, or a sequence): the per-pair subset-mean
            difference, or, with `second`, the per-pair mean of the first sample.
        second: optional per-pair means of the second sample; then the test is paired: the differences
            first[p] − second[p] over the pairs both have (by key; sequences by position).
        alternative: ``"larger"`` tests H0: mean difference <= `value`; ``"smaller"`` H0: >= `value`;
            ``"two-sided"`` H0: = `value`.
        value: the constant the mean difference is tested against (0 for a difference of subsets; the reference
            value of a one-sample hypothesis when `first` holds per-pair subset means).

    Returns:
        :class:`PairLevelResult` with t = (mean(d) − value) / (sd(d) / sqrt(n)), df = n − 1 and the p-value of
        `alternative` (Student's t). With fewer than two pairs, or differences without spread (sd = 0), t and p
        are NaN and `note` says why; `effect` and `pairs_holding` are given whenever there is a pair.

    Example: per-pair differences [1, 2, 3]: mean 2, sd 1, t = 2 / (1 / sqrt(3)) = 2 sqrt(3), df 2.
    """
    check_alternative(alternative)
    first = _by_pair(first)
    if second is None:
        pairs = sorted(first, key=str)
        differences = np.array([first[p] for p in pairs], dtype=float)
    else:
        second = _by_pair(second)
        pairs = sorted(set(first) & set(second), key=str)
        differences = np.array([first[p] - second[p] for p in pairs], dtype=float)
    differences = differences[np.isfinite(differences)]
    n = int(differences.size)
    nan = float("nan")
    if n == 0:
        return PairLevelResult(0, nan, nan, nan, nan, 0, "no pair: the score file has no pair rows to test over",
                               alternative)
    effect = float(differences.mean() - value)
    deviations = differences - value
    if alternative == "larger":
        holding = int(np.sum(deviations > 0))
    elif alternative == "smaller":
        holding = int(np.sum(deviations < 0))
    else:
        holding = int(np.sum(np.sign(deviations) == np.sign(effect))) if effect != 0 else 0
    if n < MIN_PAIRS_T:
        return PairLevelResult(n, effect, nan, nan, nan, holding,
                               f"{n} pair: a test over pairs needs at least {MIN_PAIRS_T}", alternative)
    sd = float(differences.std(ddof=1))
    if sd <= 1e-12 * float(np.abs(differences).max()):  # equal up to rounding (e.g. 0.2 − 0.3 and 0.0 − 0.1)
        return PairLevelResult(n, effect, nan, float(n - 1), nan, holding,
                               "the per-pair differences are all equal: no spread to test against", alternative)
    t = effect / (sd / np.sqrt(n))
    if alternative == "larger":
        p_value = scipy_stats.t.sf(t, n - 1)
    elif alternative == "smaller":
        p_value = scipy_stats.t.cdf(t, n - 1)
    else:
        p_value = 2 * scipy_stats.t.sf(abs(t), n - 1)
    return PairLevelResult(n, effect, float(t), float(n - 1), float(p_value), holding, "", alternative)


def per_pair_means(frame, subsets: Sequence[str], value: str = "m", pair: str = "pair",
                   subset: str = "subset") -> dict[str, dict]:
    """Subset → {pair → mean of `value` over that subset's rows of the pair} (pairs without rows left out)."""
    means = frame[frame[subset].isin(list(subsets))].groupby([subset, pair])[value].mean()
    return {name: {key: float(v) for key, v in means.loc[name].items()} if name in means.index.get_level_values(0)
            else {} for name in subsets}


@dataclass(frozen=True)
class MixedResult:
    """Result of :func:`mixed_model_test`.

    Attributes:
        effect: the fixed effect tested: the coefficient of the first subset against the second (a difference of
            means), or the intercept minus the reference value (one sample).
        se: its standard error (REML fit).
        z: the Wald statistic effect / se.
        df: n_pairs − 1, the degrees of freedom of the t reference distribution.
        p_value: p of `alternative` from z against Student's t with `df` (see :func:`mixed_model_test`).
        n_pairs, n_points: the pairs (groups) and rows fitted.
        note: empty when fitted, else why the numbers are NaN.
        alternative: the alternative tested.
    """

    effect: float
    se: float
    z: float
    df: float
    p_value: float
    n_pairs: int
    n_points: int
    note: str
    alternative: str

    def as_dict(self) -> dict:
        return asdict(self)


def mixed_model_test(frame, subset_1: str, subset_2: str | None = None, alternative: str = "larger",
                     reference_value: float = 0.0, value: str = "m", pair: str = "pair",
                     subset: str = "subset") -> MixedResult:
    """Linear mixed model of the per-point scores with the pair as a random effect (statsmodels MixedLM, REML).

    Two subsets (`subset_2` given): ``m ~ subset + (1 | pair) + (1 | pair:subset)`` on the rows of the two
    subsets, fitted as ``MixedLM.from_formula("m ~ x", groups=pair, re_formula="1", vc_formula={"pair_subset":
    "0 + C(subset)"})`` with x = 1 on `subset_1`: the pair's random intercept takes the shift a training run gives
    every point it scores (the S_S offset), the pair × subset component the shift it gives one subset only, which
    is what makes the difference of subsets vary from pair to pair. ``effect`` is the coefficient of x (subset_1
    minus subset_2). Without the pair × subset term the subset effect would be judged against the points' own
    spread alone, as a point-level test.

    One subset (`subset_2` None): ``m ~ 1 + (1 | pair)`` on its rows; ``effect`` is the intercept minus
    `reference_value` (e.g. Table 16's m(S_C) against 0).

    On balanced data (every pair scores the same points) the effect is the mean over pairs of the per-pair
    difference of subset means, and, unless a variance component is estimated at 0, its standard error is that
    of :func:`pair_level_test`. The p-value compares z = effect / se with Student's t with n_pairs − 1 degrees
    of freedom (the pairs are the independent units; a normal reference would overstate the evidence of 3–5
    pairs), so on balanced data it equals the pair-level p-value; the model adds weighting of unbalanced data
    and, where the pairs' spread is below the points' own, the points' spread.

    Pairs without rows of every subset tested are left out. Fewer than 3 pairs, a fit that does not converge
    (Nelder–Mead, then Powell, then L-BFGS) or a standard error that is not finite give NaN numbers and a `note`
    saying why.
    """
    check_alternative(alternative)
    subsets = (subset_1,) if subset_2 is None else (subset_1, subset_2)
    data = frame.loc[frame[subset].isin(subsets), [value, subset, pair]]
    data = data[np.isfinite(data[value].to_numpy(dtype=float))]
    complete = data.groupby(pair)[subset].nunique()
    complete = complete[complete == len(subsets)].index
    data = data[data[pair].isin(complete)]
    n_pairs, n_points = int(len(complete)), int(len(data))
    nan = float("nan")

    def failed(note: str) -> MixedResult:
        return MixedResult(nan, nan, nan, float(n_pairs - 1) if n_pairs else nan, nan, n_pairs, n_points, note,
                           alternative)

    if n_pairs < MIN_PAIRS_MIXED:
        return failed(f"{n_pairs} pair(s) with rows of {list(subsets)}: the mixed model needs at least "
                      f"{MIN_PAIRS_MIXED}")
    fit_data = pd.DataFrame({
        "y": data[value].to_numpy(dtype=float),
        "x": (data[subset] == subset_1).to_numpy(dtype=float),
        "s": data[subset].astype(str).to_numpy(),
        "g": data[pair].astype(str).to_numpy(),
    })
    if subset_2 is None:
        model = MixedLM.from_formula("y ~ 1", fit_data, groups="g")
    else:
        model = MixedLM.from_formula("y ~ x", fit_data, groups="g", re_formula="1",
                                     vc_formula={"pair_subset": "0 + C(s)"})
    try:
        with warnings.catch_warnings():
            # Boundary fits (a variance at 0) and optimiser retries warn; convergence and the SE are checked below.
            warnings.simplefilter("ignore")
            fit = model.fit(reml=True, method=["nm", "powell", "lbfgs"])
            coefficient, se = float(fit.fe_params.iloc[-1]), float(fit.bse_fe.iloc[-1])
    except (np.linalg.LinAlgError, ValueError) as error:
        return failed(f"the mixed model could not be fitted: {error}")
    if not fit.converged:
        return failed("the mixed model did not converge (Nelder-Mead, Powell and L-BFGS tried)")
    if not (np.isfinite(se) and se > 1e-12 * float(np.abs(fit_data["y"]).max())):
        return failed(f"the mixed model's standard error is {se:.3g}: a singular fit (scores without spread)")
    effect = coefficient - (reference_value if subset_2 is None else 0.0)
    z = effect / se
    df = n_pairs - 1
    if alternative == "larger":
        p_value = scipy_stats.t.sf(z, df)
    elif alternative == "smaller":
        p_value = scipy_stats.t.cdf(z, df)
    else:
        p_value = 2 * scipy_stats.t.sf(abs(z), df)
    return MixedResult(effect, se, float(z), float(df), float(p_value), n_pairs, n_points, "", alternative)


def claim_over_pairs(mixed_p: float, pair_p: float, alpha: float) -> tuple[bool, str]:
    """Whether a claim holds at `alpha` by the test that accounts for training noise: the mixed model's p where it
    was fitted, else the pair-level t-test's; neither (too few pairs) → False. Returns (holds, the test used:
    "mixed model", "pair t" or "none")."""
    if np.isfinite(mixed_p):
        return bool(mixed_p < alpha), "mixed model"
    if np.isfinite(pair_p):
        return bool(pair_p < alpha), "pair t"
    return False, "none"


# The columns :func:`evaluate_hypothesis_over_pairs` returns, in the order the tables write them.
PAIR_LEVEL_COLUMNS = ("n_pairs", "pair_effect", "pair_t", "pair_p", "pairs_holding", "pair_note", "mixed_effect",
                      "mixed_se", "mixed_z", "mixed_p", "mixed_note", "claim_test", "claim_holds")


def evaluate_hypothesis_over_pairs(hypothesis: Hypothesis, pair_scores, alpha: float, value: str = "m",
                                   pair: str = "seed", subset: str = "subset") -> dict:
    """Test `hypothesis` with the f/g pair as the unit, on per-point scores of the pairs (the "pair" rows of a
    score file: columns `value`, `subset`, and `pair`, the seed).

    Returns the flat dict of :data:`PAIR_LEVEL_COLUMNS`: the pair-level t-test of the per-pair subset-mean
    difference mean_s(subset_1) − mean_s(subset_2) (or mean_s(subset_1) − reference value) over pairs
    (:func:`pair_level_test`: n_pairs, pair_effect, pair_t, pair_p, pairs_holding, pair_note), the mixed model
    (:func:`mixed_model_test`: mixed_effect, mixed_se, mixed_z, mixed_p, mixed_note) and claim_holds at `alpha`
    with the test it rests on (:func:`claim_over_pairs`).
    """
    means = per_pair_means(pair_scores, hypothesis.subsets, value=value, pair=pair, subset=subset)
    if hypothesis.subset_2 is None:
        tested = pair_level_test(means[hypothesis.subset_1], alternative=hypothesis.alternative,
                                 value=hypothesis.reference_value)
    else:
        tested = pair_level_test(means[hypothesis.subset_1], means[hypothesis.subset_2],
                                 alternative=hypothesis.alternative)
    mixed = mixed_model_test(pair_scores, hypothesis.subset_1, hypothesis.subset_2, hypothesis.alternative,
                             hypothesis.reference_value, value=value, pair=pair, subset=subset)
    holds, test = claim_over_pairs(mixed.p_value, tested.p_value, alpha)
    return {"n_pairs": tested.n_pairs, "pair_effect": tested.effect, "pair_t": tested.t, "pair_p": tested.p_value,
            "pairs_holding": tested.pairs_holding, "pair_note": tested.note, "mixed_effect": mixed.effect,
            "mixed_se": mixed.se, "mixed_z": mixed.z, "mixed_p": mixed.p_value, "mixed_note": mixed.note,
            "claim_test": test, "claim_holds": holds}
