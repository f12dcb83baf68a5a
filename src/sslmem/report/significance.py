"""Significance tests between subsets' scores: Tables 2 and 16 of the SSLMem paper.

Each hypothesis is tested twice. At the level of the points (the paper's test): Welch or one-sample t over the
points of the subsets (``t_statistic``, ``p_value``, ``reject_h0``). At the level of the randomness: every point an
f/g pair scores shares that pair's training run, so the claim is also tested with the pair as the unit, on the
score file's "pair" rows (:data:`sslmem.pair_stats.PAIR_LEVEL_COLUMNS`): a t-test over the per-pair subset-mean
differences (``pair_*``) and a linear mixed model with the pair as a random effect (``mixed_*``).
``claim_holds`` rests on the latter (the mixed model where it fits, else the pair t-test), and ``pairs_holding`` of
``n_pairs`` says in how many independent pairs the difference has the claimed sign.

Example::

    from sslmem.report.significance import table2
    table2(["results/scores/fashion_mnist/simclr-resnet18.parquet"], "results/table2.csv", alpha=0.01)
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from sslmem.io import atomic_to_csv
from sslmem.artifacts import ESTIMATES, SETUP_KEYS
from sslmem.report.readers import load_paper_values, matches_paper_row, read_scores, setup_text
from sslmem.stats import TABLE2_HYPOTHESES, TABLE16_HYPOTHESES, Hypothesis, evaluate_hypothesis
from sslmem.pair_stats import PAIR_LEVEL_COLUMNS, evaluate_hypothesis_over_pairs

HYPOTHESIS_TABLE_COLUMNS = [
    "dataset", "setup", "method", "arch", "representation", "hypothesis", "n_1", "n_2", "mean_1", "mean_2", "t_statistic", "p_value",
    "cohens_d", "reject_h0", "alpha", "paper_p_value", "paper_effect_size", "paper_setup",
    # Beyond the fixed columns: the test's identity and the S_S offset (each f/g pair carries a global offset).
    "hypothesis_key", "test", "df", "offset_m_S_S", "estimate", "seed",
    # The same hypothesis with the f/g pair as the unit (the setup's "pair" rows; the same on every seed's row):
    # t-test over pairs, mixed model with the pair as a random effect, and the claim resting on them.
    *PAIR_LEVEL_COLUMNS,
]


def _hypothesis_table(
    score_paths, out, alpha: float, hypotheses: Sequence[Hypothesis], paper_table: dict, estimate: str,
    identities: Mapping[str, Mapping] | None,
) -> pd.DataFrame:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must lie strictly between 0 and 1 (the paper uses 0.01)")
    if estimate not in ESTIMATES:
        raise ValueError(f"estimate={estimate!r}; use one of {ESTIMATES}")
    all_scores = read_scores(score_paths, require_estimate=estimate)
    scores = all_scores[all_scores["estimate"] == estimate]
    pair_scores = {keys: group for keys, group in all_scores[all_scores["estimate"] == "pair"].groupby(
        [*SETUP_KEYS, "representation"], sort=False)}
    paper_rows = paper_table["rows"]
    rows = []
    identities = identities or {}
    over_pairs: dict[tuple, dict] = {}  # (setup, representation, hypothesis) → its pair-level columns
    for (dataset, setup, method, arch, representation, seed), group in scores.groupby(
        [*SETUP_KEYS, "representation", "seed"], sort=True
    ):
        pairs = pair_scores.get((dataset, setup, method, arch, representation), all_scores.iloc[:0])
        # The paper's values stand only beside its own setup (MAE ViT-tiny, CIFAR10, 600 epochs, encoder output).
        is_paper = matches_paper_row(paper_table["setup"], dataset, identities.get(setup), representation)
        by_subset = {subset: part["m"].to_numpy() for subset, part in group.groupby("subset")}
        for hypothesis in hypotheses:
            missing = [s for s in hypothesis.subsets if s not in by_subset]
            if missing:
                raise ValueError(
                    f"{group['source_file'].iat[0]}: {hypothesis.label} needs subset(s) {missing}, which have "
                    f"no rows with estimate {estimate!r}, seed {seed}"
                )
            result = evaluate_hypothesis(hypothesis, by_subset)
            key = (dataset, setup, method, arch, representation, hypothesis.key)
            if key not in over_pairs:
                over_pairs[key] = evaluate_hypothesis_over_pairs(hypothesis, pairs, alpha)
            paper = paper_rows.get(hypothesis.key, {}) if is_paper else {}
            rows.append({
                "dataset": dataset, "setup": setup, "method": method, "arch": arch, "representation": representation,
                "hypothesis": hypothesis.label,
                **result,
                "reject_h0": bool(result["p_value"] < alpha), "alpha": alpha,
                "paper_p_value": paper.get("p_value", np.nan),
                "paper_effect_size": paper.get("effect_size", np.nan),
                "paper_setup": setup_text(paper_table["setup"]) if is_paper else "",
                "hypothesis_key": hypothesis.key,
                "test": "one-sample t" if hypothesis.subset_2 is None else "Welch t",
                "offset_m_S_S": float(np.mean(by_subset["S_S"])) if "S_S" in by_subset else np.nan,
                "estimate": estimate, "seed": int(seed),
                **over_pairs[key],
            })
    table = pd.DataFrame(rows, columns=HYPOTHESIS_TABLE_COLUMNS)
    # Nullable integers: one-sample rows have no n_2, and counts should not print as 5000.0.
    table = table.astype({"n_1": "Int64", "n_2": "Int64", "n_pairs": "Int64", "pairs_holding": "Int64"})
    atomic_to_csv(table, out)
    return table


def table2(score_paths, out, alpha: float = 0.01, estimate: str = "ensemble",
           paper_values_path=None, identities: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """Table 2: one-sided Welch t-tests between subsets, one row per (dataset, setup, hypothesis).

    Hypotheses are :data:`sslmem.stats.TABLE2_HYPOTHESES`; m of the `estimate` rows (default the ensemble
    over all f and g encoders). Columns: see :data:`HYPOTHESIS_TABLE_COLUMNS`; ``reject_h0`` is
    ``p_value < alpha``; ``offset_m_S_S`` is the mean m over S_S, the global offset of this estimate. The
    paper's p-value and effect size of the same hypothesis stand beside the rows of its setup only (MAE ViT-tiny,
    CIFAR10, 600 epochs, encoder output; `identities`: setup → {method, arch, epochs, representation}).

    The pair-level columns (:func:`sslmem.pair_stats.evaluate_hypothesis_over_pairs`, on the setup's "pair" rows,
    whatever `estimate` the point-level test reads): ``n_pairs`` pairs with both subsets; ``pair_effect`` the mean
    over pairs of mean_s(subset_1) − mean_s(subset_2), ``pair_t``/``pair_p`` its one-sided t-test over pairs
    (df n_pairs − 1; NaN with ``pair_note`` for fewer than 2 pairs), ``pairs_holding`` the pairs whose difference
    is > 0; ``mixed_effect``/``mixed_se``/``mixed_z``/``mixed_p`` the subset effect of MixedLM
    m ~ subset + (1 | pair) + (1 | pair:subset) (REML; NaN with ``mixed_note`` below 3 pairs or without
    convergence); ``claim_holds`` is mixed_p < alpha where the model fits, else pair_p < alpha (``claim_test``
    names which; "none": too few pairs, the claim is not taken to hold).
    Writes `out` atomically and returns the table.
    """
    paper = load_paper_values(paper_values_path)["table2"]
    return _hypothesis_table(score_paths, out, alpha, TABLE2_HYPOTHESES, paper, estimate, identities)


def table16(score_paths, out, alpha: float = 0.01, estimate: str = "ensemble",
            paper_values_path=None, identities: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """Table 16: t-tests of subsets against 0 (and S_C against S_E), same shape as :func:`table2`.

    Hypotheses are :data:`sslmem.stats.TABLE16_HYPOTHESES`: one-sample tests (n_2 empty, mean_2 = 0) except
    the last row, a one-sided Welch test. "H0: 0 = m(S_S)" is two-sided; rejecting it means the estimate
    carries a global offset (see ``offset_m_S_S``). The pair-level columns as in :func:`table2`; for a one-sample
    row the per-pair value is mean_s(subset) − 0, the mixed model m ~ 1 + (1 | pair) (its intercept), and for the
    two-sided row ``pairs_holding`` counts the pairs on the side of the mean.
    """
    paper = load_paper_values(paper_values_path)["table16"]
    return _hypothesis_table(score_paths, out, alpha, TABLE16_HYPOTHESES, paper, estimate, identities)


