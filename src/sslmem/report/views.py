"""Table 8 (SSLMem App. B.1): the same encoders' SSLMem measured with their training augmentation and with other
view families (:mod:`sslmem.studies.measure_views`).

Inputs: the core score files of the re-measured setups (the training augmentation's row) and one score file per
(family, dataset, setup), ``results/studies/measure_views/<family>/scores/<dataset>/<setup>.parquet``
(:data:`~sslmem.artifacts.VIEW_SCORES`; the family is read from the path). Every family scores the same candidates
with the same encoders, so besides each family's mean the table compares it with the training augmentation point
by point: the mean paired difference of m (bootstrap interval over candidates) and Kendall's tau between the two
rankings of S_C. That interval treats the candidates as independent, yet every candidate a pair of encoders scores
shares that pair's training run; the difference is therefore also tested with the f/g pair as the unit (the "pair"
rows of both files): a two-sided t-test over the per-pair differences of mean m over S_C and a linear mixed model
with the pair as a random effect (:func:`sslmem.pair_stats.pair_level_test`, :func:`sslmem.pair_stats.mixed_model_test`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sslmem.artifacts import SETUP_KEYS, TABLE8_COLUMNS, VIEW_SCORES, ordered
from sslmem.io import atomic_to_csv
from sslmem.report.readers import load_paper_values, matches_paper_row, read_scores
from sslmem.stats import bootstrap_ci, kendall_tau, mean_std
from sslmem.pair_stats import claim_over_pairs, mixed_model_test, pair_level_test
from sslmem.report.roles import TRAINING_FAMILY

# VIEW_SCORES with its fields as path components, the family captured (a path may have any prefix).
VIEW_SCORES_REGEX = re.compile(
    re.escape(VIEW_SCORES).replace(r"\{family\}", "(?P<family>[^/]+)")
    .replace(r"\{dataset\}", "[^/]+").replace(r"\{setup\}", "[^/]+") + "$"
)
# A candidate is the same point under every family: matched on these keys.
CANDIDATE_KEYS = ["point_id", "source"]


def family_of(path) -> str:
    """The view family of a score file, from its path (:data:`~sslmem.artifacts.VIEW_SCORES`)."""
    match = VIEW_SCORES_REGEX.search(Path(path).as_posix())
    if match is None:
        raise ValueError(f"{path} is not a view score file ({VIEW_SCORES})")
    return match.group("family")


def view_label(family: Mapping) -> str:
    """E.g. "rotation(degrees=90)"."""
    parameters = ", ".join(f"{key}={value}" for key, value in family.items() if key != "kind")
    return f"{family['kind']}({parameters})"


def table8(training_score_paths, view_score_paths, out, families: Mapping[str, Mapping],
           training_views: Mapping[str, str], n_boot: int = 1000, seed: int = 0, level: float = 0.95,
           identities: Mapping[str, Mapping] | None = None, paper_values_path=None,
           alpha: float = 0.01) -> pd.DataFrame:
    """Table 8: per (dataset, setup), the training augmentation's row, then one row per family of `families`
    (name → definition, in row order; `training_views`: setup → the name of its training augmentation).

    * ``sslmem_ensemble`` (with a percentile-bootstrap interval over candidates), ``sslmem_mean``/``sslmem_std``
      (over the per-pair means; std NaN for one pair) and ``m_candidates_minus_shared``: as in table1.
    * ``diff_vs_training`` (interval), ``kendall_tau_vs_training``/``kendall_p_vs_training``: the family's ensemble
      m against the training augmentation's over the same candidates; empty on the training row (the reference).
    * ``paper_*``: the paper's Table 8 row whose view definition is this row's, only when the setup is the paper's
      run (:func:`~sslmem.report.readers.matches_paper_row`: SimCLR ResNet50, CIFAR10, 600 epochs, encoder output).
    * the same comparison with the f/g pair as the unit (empty on the training row), on the "pair" rows of S_C:
      ``n_pairs_vs_training`` pairs scored under both; ``pair_diff_vs_training`` the mean over pairs of
      mean_s(m family) − mean_s(m training), ``pair_t_vs_training``/``pair_p_vs_training`` its two-sided t-test
      over pairs (NaN with ``pair_note_vs_training`` below 2 pairs or without spread); ``pairs_below_training``
      the pairs in which the family's SSLMem is below the training augmentation's (the paper's "the training
      augmentation gives the highest score"); ``mixed_diff_vs_training``/``mixed_se_vs_training``/
      ``mixed_p_vs_training`` the family effect of MixedLM m ~ family + (1 | pair) + (1 | pair:family) (REML,
      two-sided; NaN with ``mixed_note_vs_training`` below 3 pairs or without convergence);
      ``differs_from_training``: the mixed model's p < `alpha` where it fits, else the pair t-test's
      (``claim_test_vs_training`` names which; "none": too few pairs, False).

    No files (measure.table8.runs empty): a table of the header only. Writes `out` atomically, returns the table.
    """
    by_family = _scores_by_family(view_score_paths, families)
    training = read_scores(training_score_paths) if training_score_paths else None
    paper = load_paper_values(paper_values_path)["table8"]
    rows = []
    if training is not None:
        for keys, reference in training.groupby(list(SETUP_KEYS), sort=True):
            identity = (identities or {}).get(keys[1])
            context = dict(zip(SETUP_KEYS, keys), epochs=identity["epochs"] if identity else np.nan)
            reference_row = _row(reference, None, n_boot, seed, level, alpha)
            rows.append({**context, **reference_row, "view_family": TRAINING_FAMILY,
                         "view": f"training augmentation ({training_views.get(keys[1], '?')})",
                         **_paper_cells(paper, TRAINING_FAMILY, keys[0], identity, reference_row["representation"])})
            for name, family in families.items():
                group = _setup_rows(by_family[name], keys, name)
                row = _row(group, reference, n_boot, seed, level, alpha)
                rows.append({**context, **row, "view_family": name, "view": view_label(family),
                             **_paper_cells(paper, family, keys[0], identity, row["representation"])})
    table = ordered(pd.DataFrame(rows, columns=list(TABLE8_COLUMNS)), TABLE8_COLUMNS, "table8")
    atomic_to_csv(table, out)
    return table


def _scores_by_family(view_score_paths, families: Mapping) -> dict[str, pd.DataFrame]:
    """Each family's score files read together (a setup once per family); every family of `families` present."""
    paths: dict[str, list] = {}
    for path in view_score_paths or []:
        paths.setdefault(family_of(path), []).append(path)
    missing = [name for name in families if name not in paths]
    if missing and view_score_paths:
        raise ValueError(f"no score files of view families {missing} among {[str(p) for p in view_score_paths]}")
    return {name: read_scores(paths[name]) for name in families if name in paths}


def _setup_rows(scores: pd.DataFrame, keys: tuple, family: str) -> pd.DataFrame:
    group = scores[(scores[list(SETUP_KEYS)] == pd.Series(keys, index=list(SETUP_KEYS))).all(axis=1)]
    if group.empty:
        raise ValueError(f"view family {family!r}: no scores of setup {keys[1]!r} on {keys[0]!r}")
    return group


def _row(group: pd.DataFrame, reference: pd.DataFrame | None, n_boot: int, seed: int, level: float,
         alpha: float) -> dict:
    """SSLMem numbers of one (dataset, setup, family) and, given the training augmentation's rows, the comparison."""
    ensemble = group[group["estimate"] == "ensemble"]
    candidates = ensemble[ensemble["subset"] == "S_C"]
    shared = ensemble.loc[ensemble["subset"] == "S_S", "m"]
    per_seed = group[(group["estimate"] == "pair") & (group["subset"] == "S_C")].groupby("seed")["m"].mean()
    sslmem_mean, sslmem_std = mean_std(per_seed.to_numpy())
    low, high = bootstrap_ci(candidates["m"].to_numpy(), n_boot=n_boot, seed=seed, level=level)
    row = {
        "representation": group["representation"].iat[0], "n_seeds": int(per_seed.size),
        "n_candidates": len(candidates), "sslmem_ensemble": float(candidates["m"].mean()),
        "sslmem_ensemble_ci_low": low, "sslmem_ensemble_ci_high": high,
        "sslmem_mean": sslmem_mean, "sslmem_std": sslmem_std,
        "m_candidates_minus_shared": float(candidates["m"].mean() - shared.mean()) if len(shared) else np.nan,
    }
    if reference is not None:
        row.update(_compared_with_training(candidates, reference, n_boot, seed, level))
        row.update(_compared_over_pairs(group, reference, alpha))
    return row


def _compared_over_pairs(group: pd.DataFrame, reference: pd.DataFrame, alpha: float) -> dict:
    """The family against the training augmentation with the f/g pair as the unit, on the pair rows of S_C."""
    def pair_candidates(scores: pd.DataFrame, family: str) -> pd.DataFrame:
        rows = scores[(scores["estimate"] == "pair") & (scores["subset"] == "S_C")]
        return rows[["seed", "m"]].assign(family=family)

    both = pd.concat([pair_candidates(group, "view"), pair_candidates(reference, TRAINING_FAMILY)],
                     ignore_index=True)
    means = both.groupby(["family", "seed"])["m"].mean()
    by_pair = {family: dict(means.loc[family]) if family in means.index.get_level_values(0) else {}
               for family in ("view", TRAINING_FAMILY)}
    tested = pair_level_test(by_pair["view"], by_pair[TRAINING_FAMILY], alternative="two-sided")
    common = set(by_pair["view"]) & set(by_pair[TRAINING_FAMILY])
    below = sum(by_pair["view"][s] < by_pair[TRAINING_FAMILY][s] for s in common)
    mixed = mixed_model_test(both, "view", TRAINING_FAMILY, alternative="two-sided", pair="seed", subset="family")
    differs, test = claim_over_pairs(mixed.p_value, tested.p_value, alpha)
    return {"n_pairs_vs_training": tested.n_pairs, "pair_diff_vs_training": tested.effect,
            "pair_t_vs_training": tested.t, "pair_p_vs_training": tested.p_value, "pairs_below_training": int(below),
            "pair_note_vs_training": tested.note, "mixed_diff_vs_training": mixed.effect,
            "mixed_se_vs_training": mixed.se, "mixed_p_vs_training": mixed.p_value,
            "mixed_note_vs_training": mixed.note, "claim_test_vs_training": test, "differs_from_training": differs}


def _compared_with_training(candidates: pd.DataFrame, reference: pd.DataFrame, n_boot: int, seed: int,
                            level: float) -> dict:
    """Paired over the candidates both score: mean difference of m (bootstrap interval) and Kendall's tau."""
    trained = reference[(reference["estimate"] == "ensemble") & (reference["subset"] == "S_C")]
    paired = candidates[[*CANDIDATE_KEYS, "m"]].merge(trained[[*CANDIDATE_KEYS, "m"]], on=CANDIDATE_KEYS,
                                                      suffixes=("", "_training"), validate="one_to_one")
    if len(paired) != len(candidates) or len(paired) != len(trained):
        raise ValueError(f"the view family scored {len(candidates)} candidates, the training augmentation "
                         f"{len(trained)}, {len(paired)} in common: measured on different splits")
    difference = (paired["m"] - paired["m_training"]).to_numpy()
    low, high = bootstrap_ci(difference, n_boot=n_boot, seed=seed, level=level)
    tau = kendall_tau(paired["m"], paired["m_training"])
    return {"diff_vs_training": float(difference.mean()), "diff_vs_training_ci_low": low,
            "diff_vs_training_ci_high": high, "kendall_tau_vs_training": tau.tau, "kendall_p_vs_training": tau.p_value}


def _paper_cells(paper: Mapping, view, dataset: str, identity: Mapping | None, representation: str) -> dict:
    """The paper's Table 8 row of this view (a family definition, or "training"), only beside the paper's run."""
    empty = {"paper_view": np.nan, "paper_sslmem": np.nan, "paper_sslmem_std": np.nan}
    if not matches_paper_row(paper["setup"], dataset, identity, representation):
        return empty
    for entry in paper["rows"]:
        if entry["view"] == view:
            return {"paper_view": entry["label"], "paper_sslmem": entry["sslmem"],
                    "paper_sslmem_std": entry["sslmem_std"]}
    return empty
