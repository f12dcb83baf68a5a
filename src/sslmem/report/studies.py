"""Tables and figure of the retraining studies: removal (Figs. 3, 6, 7; Table 14) and coreset (Table 17).

Both read the probe files of the study's encoders and of the half-A reference encoders, and compare the
memorised selection (``top``) with the random one seed by seed: a paired one-sided t-test over the seeds both
have (scipy.stats.ttest_rel). Accuracies are in percent; std over seeds with ddof=1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from sslmem.artifacts import SETUP_KEYS
from sslmem.io import atomic_to_csv
from sslmem.report.figures import _panel_grid, save_figure
from sslmem.report.readers import load_paper_values, matches_paper_row, paper_dataset, read_probes, read_table
from sslmem.stats import mean_std

GROUP_KEYS = [*SETUP_KEYS, "probe_dataset"]
SELECTION_COLOURS = {"top": "tab:red", "random": "tab:gray", "none": "black", "all": "black"}


def paired_test(top: Mapping[int, float], random: Mapping[int, float], alternative: str) -> dict:
    """Paired t-test of top − random over the seeds both have; `alternative` "less" (top lower) or "greater"."""
    seeds = sorted(set(top) & set(random))
    differences = np.array([top[s] - random[s] for s in seeds])
    result = {"n_pairs": len(seeds), "mean_difference": float(differences.mean()) if len(seeds) else np.nan,
              "t_statistic": np.nan, "p_value": np.nan}
    if len(seeds) >= 2 and np.ptp(differences) > 0:
        test = scipy_stats.ttest_rel([top[s] for s in seeds], [random[s] for s in seeds], alternative=alternative)
        result.update(t_statistic=float(test.statistic), p_value=float(test.pvalue))
    return result


def _accuracy_rows(probes: pd.DataFrame, parse_role: Callable, level: str) -> pd.DataFrame:
    """One row per (setup, probe dataset, level, selection): accuracies per seed → n, mean, std, seeds."""
    parsed = probes["role"].map(parse_role)
    probes = probes.assign(selection=[p[0] for p in parsed], **{level: [p[1] for p in parsed]},
                           top1_percent=100.0 * probes["top1"].astype(float))
    rows = []
    for keys, group in probes.groupby([*GROUP_KEYS, level, "selection"], sort=True):
        mean, std = mean_std(group["top1_percent"].to_numpy())
        by_seed = dict(zip(group["seed"].astype(int), group["top1_percent"]))
        rows.append({**dict(zip([*GROUP_KEYS, level, "selection"], keys)), "n_seeds": len(group),
                     "top1_mean": mean, "top1_std": std, "seeds": " ".join(map(str, sorted(by_seed))),
                     "_by_seed": by_seed})
    return pd.DataFrame(rows)


def _with_tests(rows: pd.DataFrame, level: str, alternative: str) -> pd.DataFrame:
    """Adds the paired test of top vs random to each `top` row (other rows: empty)."""
    keys = [*GROUP_KEYS, level]
    random_by_key = {tuple(row[k] for k in keys): row["_by_seed"]
                     for _, row in rows[rows["selection"] == "random"].iterrows()}
    empty = {"n_pairs": 0, "mean_difference": np.nan, "t_statistic": np.nan, "p_value": np.nan}
    tests = [paired_test(row["_by_seed"], random_by_key.get(tuple(row[k] for k in keys), {}), alternative)
             if row["selection"] == "top" else empty
             for _, row in rows.iterrows()]
    return pd.concat([rows.drop(columns="_by_seed"), pd.DataFrame(tests, index=rows.index)], axis=1)


REMOVAL_COLUMNS = [*GROUP_KEYS, "k", "selection", "n_seeds", "top1_mean", "top1_std", "n_pairs", "mean_difference",
                   "t_statistic", "p_value", "paper_top1", "paper_top1_std", "seeds"]


def removal_table(probe_paths, out, identities: Mapping | None = None, paper_values_path=None) -> pd.DataFrame:
    """Accuracy per k and selection (k = 0: the half-A reference), the paired test top < random per k, Table 14's
    value beside rows of its run (see :func:`sslmem.report.readers.matches_paper_row`)."""
    from sslmem.report.roles import parse_removal_role as parse_role

    rows = _with_tests(_accuracy_rows(read_probes(probe_paths), parse_role, "k"), "k", alternative="less")
    paper = load_paper_values(paper_values_path)["table14"]
    identities = identities or {}

    def paper_cell(row, key):
        if not matches_paper_row(paper["setup"], row.dataset, identities.get(row.setup)):
            return np.nan
        for entry in paper["rows"]:
            if (entry["probe_dataset"], entry["k"], entry["selection"]) == (
                    paper_dataset(row.probe_dataset), row.k, row.selection):
                return entry[key]
        return np.nan

    rows["paper_top1"] = [paper_cell(row, "top1") for row in rows.itertuples()]
    rows["paper_top1_std"] = [paper_cell(row, "top1_std") for row in rows.itertuples()]
    table = rows[REMOVAL_COLUMNS].sort_values([*GROUP_KEYS, "k", "selection"], kind="stable").reset_index(drop=True)
    atomic_to_csv(table, out)
    return table


def removal_figure(removal_csv, out) -> None:
    """Accuracy against k per (dataset, setup, probe dataset): memorised and random, error bars over seeds."""
    table = read_table(removal_csv, "removal")
    groups = list(table.groupby(["dataset", "setup", "probe_dataset"], sort=True))
    figure, axes = _panel_grid(len(groups))
    for ax, ((dataset, setup, probe_dataset), group) in zip(axes, groups):
        reference = group[group["selection"] == "none"]
        for selection, label in (("top", "most memorised removed"), ("random", "random removed")):
            line = pd.concat([reference, group[group["selection"] == selection]]).sort_values("k")
            ax.errorbar(line["k"], line["top1_mean"], yerr=line["top1_std"].fillna(0), marker="o", capsize=2,
                        color=SELECTION_COLOURS[selection], label=label)
        ax.set_title(f"{setup} on {dataset}, probed on {probe_dataset}", fontsize=8)
        ax.set_xlabel("points removed (k)")
        ax.set_ylabel("linear-probe top-1 (%)")
        ax.legend(fontsize=6, frameon=False)
    save_figure(figure, out)


COR_COLUMNS = [*GROUP_KEYS, "percent_kept", "selection", "n_seeds", "top1_mean", "top1_std", "n_pairs",
               "mean_difference", "t_statistic", "p_value", "paper_top1", "paper_top1_std", "seeds"]


def coreset_table(probe_paths, out, identities: Mapping | None = None, paper_values_path=None) -> pd.DataFrame:
    """Accuracy per kept fraction and selection (100 %: the half-A reference), the paired test top > random per
    fraction, Table 17's value beside rows of its run."""
    from sslmem.report.roles import parse_coreset_role as parse_role

    rows = _with_tests(_accuracy_rows(read_probes(probe_paths), parse_role, "percent_kept"), "percent_kept",
                       alternative="greater")
    paper = load_paper_values(paper_values_path)["table17"]
    identities = identities or {}

    def paper_cell(row, index):
        if not matches_paper_row(paper["setup"], row.dataset, identities.get(row.setup)):
            return np.nan
        for entry in paper["rows"]:
            if (entry["percent"], entry["selection"]) == (row.percent_kept, row.selection):
                value = entry.get(paper_dataset(row.probe_dataset))
                return value[index] if value else np.nan
        return np.nan

    rows["paper_top1"] = [paper_cell(row, 0) for row in rows.itertuples()]
    rows["paper_top1_std"] = [paper_cell(row, 1) for row in rows.itertuples()]
    table = rows[COR_COLUMNS].sort_values([*GROUP_KEYS, "percent_kept", "selection"], ascending=[True] * 5 + [False, True],
                                          kind="stable").reset_index(drop=True)
    atomic_to_csv(table, out)
    return table
