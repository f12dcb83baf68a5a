"""results/replication.csv: the claims of Tables 2 and 16 in every group of seeds of the replication study.

One row per (dataset, setup, group, claim). Group 0 is the setup's own f/g pairs (the core scores), each further
group the setup retrained with seeds of its own (``<setup>-rep<g>``). Per row: the point-level test of the paper
(``p_value``, ``point_holds``), the tests with the f/g pair as the unit (:data:`sslmem.pair_stats.PAIR_LEVEL_COLUMNS`;
``claim_holds`` rests on them), and, the same on every row of a claim, in how many groups it held
(``groups_holding`` of ``n_groups``; ``groups_holding_points`` by the point-level test).

Example::

    from sslmem.report.replication import replication_table
    replication_table(score_paths, "results/replication.csv", groups=[...], alpha=0.01)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from sslmem.artifacts import ordered
from sslmem.io import atomic_to_csv
from sslmem.report.readers import read_scores
from sslmem.stats import TABLE2_HYPOTHESES, TABLE16_HYPOTHESES, evaluate_hypothesis
from sslmem.pair_stats import PAIR_LEVEL_COLUMNS, evaluate_hypothesis_over_pairs

REPLICATION_COLUMNS = (
    "dataset", "setup", "method", "arch", "representation", "group", "group_setup", "seeds", "table",
    "hypothesis_key", "hypothesis", "n_1", "n_2", "mean_1", "mean_2", "p_value", "point_holds", *PAIR_LEVEL_COLUMNS,
    "alpha", "n_groups", "groups_holding", "groups_holding_points",
)
CLAIMS = (("table2", TABLE2_HYPOTHESES), ("table16", TABLE16_HYPOTHESES))


def _group_rows(scores: pd.DataFrame, group: Mapping, alpha: float) -> list[dict]:
    """Every claim of Tables 2 and 16 on one group's scores (its ensemble over points, its pairs)."""
    rows_of = scores[(scores["dataset"] == group["dataset"]) & (scores["setup"] == group["group_setup"])]
    if rows_of.empty:
        raise ValueError(f"no scores of {group['group_setup']!r} on {group['dataset']!r} among the score files "
                         "given: the replication study's target builds them (snakemake study_replication)")
    ensemble = rows_of[rows_of["estimate"] == "ensemble"]
    pairs = rows_of[rows_of["estimate"] == "pair"]
    by_subset = {subset: points["m"].to_numpy() for subset, points in ensemble.groupby("subset")}
    first = rows_of.iloc[0]
    rows = []
    for table, hypotheses in CLAIMS:
        for hypothesis in hypotheses:
            points = evaluate_hypothesis(hypothesis, by_subset)
            over_pairs = evaluate_hypothesis_over_pairs(hypothesis, pairs, alpha)
            rows.append({"dataset": group["dataset"], "setup": group["setup"], "method": first["method"],
                         "arch": first["arch"], "representation": first["representation"], "group": group["group"],
                         "group_setup": group["group_setup"], "seeds": " ".join(map(str, group["seeds"])),
                         "table": table, "hypothesis_key": hypothesis.key, "hypothesis": hypothesis.label,
                         **{key: points[key] for key in ("n_1", "n_2", "mean_1", "mean_2", "p_value")},
                         "point_holds": bool(points["p_value"] < alpha), **over_pairs, "alpha": alpha})
    return rows


def replication_table(score_paths, out, groups: Sequence[Mapping], alpha: float) -> pd.DataFrame:
    """Write results/replication.csv from the score files of every group (see the module doc)."""
    if not groups:
        raise ValueError("studies.replication.runs is empty: list a setup and its groups of seeds")
    scores = read_scores(score_paths, require_estimate="ensemble")
    table = pd.DataFrame([row for group in groups for row in _group_rows(scores, group, alpha)])
    claim = ["dataset", "setup", "table", "hypothesis_key"]
    counted = table.groupby(claim, sort=False).agg(
        n_groups=("group", "nunique"), groups_holding=("claim_holds", "sum"),
        groups_holding_points=("point_holds", "sum")).reset_index()
    table = table.merge(counted, on=claim, how="left")
    table = ordered(table, REPLICATION_COLUMNS, "replication table")
    atomic_to_csv(table, out)
    return table
