"""Tables 3 and 10 and their figures (the dense study): the removal study's encoders fine-tuned on segmentation and
depth, mean ± std over seeds per k and selection, and a paired one-sided t-test over seeds of top vs random.

Each metric file (``sslmem dense``) is one fine-tuned encoder: its task metrics and the probe's top-1. Percentages:
mIoU, pixel accuracy, δ < 1.25 and the probe's top-1 (the paper's units); RMSE in metres. The test is on the
task's main metric: mIoU lower (segmentation) or RMSE higher (depth) with the memorised points removed than with
as many random ones, seed by seed (:func:`sslmem.report.studies.paired_test`). The paper's values stand beside a
row only when the setup is the paper's run (MAE ViT-base on ImageNet, 300 epochs), the task dataset is the paper's
(ADE20K, NYU-Depth v2) and, for segmentation, the fine-tune lasted the paper's 100 epochs (Table 10 names none).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sslmem.artifacts import SETUP_KEYS
from sslmem.io import atomic_to_csv
from sslmem.report.figures import _panel_grid, save_figure
from sslmem.report.readers import load_paper_values, matches_paper_row, read_table
from sslmem.report.roles import parse_removal_role
from sslmem.report.studies import SELECTION_COLOURS, paired_test
from sslmem.stats import mean_std

GROUP_KEYS = [*SETUP_KEYS, "task_dataset"]
# Per task: the metrics (file column → table column stem, scale), the tested metric and the direction in which
# removing memorised points would hurt ("less": lower is worse; "greater": higher is worse).
TASKS = {
    "segmentation": {"metrics": {"miou": 100.0, "pixel_accuracy": 100.0, "probe_top1": 100.0}, "tested": "miou",
                     "alternative": "less", "paper": "table3", "paper_metric": "miou"},
    "depth": {"metrics": {"rmse": 1.0, "delta1": 100.0, "probe_top1": 100.0}, "tested": "rmse",
              "alternative": "greater", "paper": "table10", "paper_metric": "rmse"},
}
TEST_COLUMNS = ["n_pairs", "mean_difference", "t_statistic", "p_value"]
METRIC_COLUMNS = ("dataset", "setup", "method", "arch", "seed", "role", "task", "task_dataset", "epochs")


def read_metrics(metric_paths, task: str) -> pd.DataFrame:
    """The metric files of one task, checked: a missing file or column, another task's file, or one encoder twice
    is an error naming it."""
    frames = []
    needed = [*METRIC_COLUMNS, *TASKS[task]["metrics"]]
    for path in metric_paths:
        frame = read_table(path, "sslmem dense")
        missing = [column for column in needed if column not in frame.columns]
        if missing:
            raise ValueError(f"{path}: dense metric file lacks column(s) {missing}")
        if (frame["task"] != task).any():
            raise ValueError(f"{path}: a {sorted(set(frame['task']))} file where {task!r} metrics were expected")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=needed)
    metrics = pd.concat(frames, ignore_index=True)
    twice = metrics[metrics.duplicated([*GROUP_KEYS, "role", "seed"], keep=False)]
    if not twice.empty:
        raise ValueError(f"the same encoder fine-tuned twice on {task}: {twice[['setup', 'role', 'seed']].values.tolist()}")
    return metrics


def summary_rows(metrics: pd.DataFrame, task: str) -> pd.DataFrame:
    """One row per (setup, task dataset, k, selection): n, mean and std (ddof 1) of each metric over seeds, and
    the per-seed values of the tested metric (for the paired test)."""
    spec = TASKS[task]
    parsed = metrics["role"].map(parse_removal_role)
    metrics = metrics.assign(selection=[p[0] for p in parsed], k=[p[1] for p in parsed])
    rows = []
    for keys, group in metrics.groupby([*GROUP_KEYS, "k", "selection"], sort=True):
        row = {**dict(zip([*GROUP_KEYS, "k", "selection"], keys)), "n_seeds": len(group),
               "epochs": int(group["epochs"].iloc[0])}
        for column, scale in spec["metrics"].items():
            row[f"{column}_mean"], row[f"{column}_std"] = mean_std(scale * group[column].astype(float).to_numpy())
        row["seeds"] = " ".join(map(str, sorted(group["seed"].astype(int))))
        row["_by_seed"] = dict(zip(group["seed"].astype(int), spec["metrics"][spec["tested"]] * group[spec["tested"]]))
        rows.append(row)
    return pd.DataFrame(rows)


def with_tests(rows: pd.DataFrame, task: str) -> pd.DataFrame:
    """The paired test of top vs random on each `top` row (other rows: empty)."""
    keys = [*GROUP_KEYS, "k"]
    random = {tuple(r[k] for k in keys): r["_by_seed"] for _, r in rows[rows["selection"] == "random"].iterrows()}
    empty = dict.fromkeys(TEST_COLUMNS, np.nan) | {"n_pairs": 0}
    tests = [paired_test(r["_by_seed"], random.get(tuple(r[k] for k in keys), {}), TASKS[task]["alternative"])
             if r["selection"] == "top" else empty for _, r in rows.iterrows()]
    return pd.concat([rows.drop(columns="_by_seed"), pd.DataFrame(tests, index=rows.index)], axis=1)


def paper_cells(rows: pd.DataFrame, task: str, identities: Mapping) -> pd.DataFrame:
    """The paper's metric and probe top-1 (± std) beside the rows of its own run; NaN elsewhere."""
    spec = TASKS[task]
    paper = load_paper_values()[spec["paper"]]
    cells = []
    for row in rows.itertuples():
        entry = {}
        if (matches_paper_row(paper["setup"], row.dataset, identities.get(row.setup))
                and row.task_dataset == paper["task_dataset"]
                and paper.get("finetune_epochs") in (None, row.epochs)):
            entry = next((e for e in paper["rows"] if (e["k"], e["selection"]) == (row.k, row.selection)), {})
        cells.append({f"paper_{spec['paper_metric']}": entry.get(spec["paper_metric"], np.nan),
                      "paper_probe_top1": entry.get("top1", np.nan), "paper_probe_top1_std": entry.get("top1_std", np.nan)})
    return pd.DataFrame(cells, index=rows.index)


def table_columns(task: str) -> list[str]:
    spec = TASKS[task]
    values = [f"{column}_{stat}" for column in spec["metrics"] for stat in ("mean", "std")]
    return [*GROUP_KEYS, "epochs", "k", "selection", "n_seeds", *values, *TEST_COLUMNS,
            f"paper_{spec['paper_metric']}", "paper_probe_top1", "paper_probe_top1_std", "seeds"]


def dense_table(metric_paths, out, task: str, identities: Mapping | None = None) -> pd.DataFrame:
    metrics = read_metrics(metric_paths, task)
    columns = table_columns(task)
    if metrics.empty:
        table = pd.DataFrame(columns=columns)
    else:
        rows = with_tests(summary_rows(metrics, task), task)
        rows = pd.concat([rows, paper_cells(rows, task, identities or {})], axis=1)
        table = rows[columns].sort_values([*GROUP_KEYS, "k", "selection"], kind="stable").reset_index(drop=True)
    atomic_to_csv(table, out)
    return table


def table3(metric_paths, out, identities: Mapping | None = None) -> pd.DataFrame:
    """Table 3: segmentation after removal (mIoU, pixel accuracy, probe top-1)."""
    return dense_table(metric_paths, out, "segmentation", identities)


def table10(metric_paths, out, identities: Mapping | None = None) -> pd.DataFrame:
    """Table 10: depth after removal (RMSE, δ < 1.25, probe top-1)."""
    return dense_table(metric_paths, out, "depth", identities)


def dense_figure(table_csv, out) -> None:
    """The tested metric against k per (dataset, setup, task dataset): memorised and random, error bars over seeds
    (k = 0, no removal, starts both lines)."""
    table = read_table(table_csv, "table3 / table10")
    metric = "miou" if "miou_mean" in table.columns else "rmse"
    label = {"miou": "mIoU (%)", "rmse": "RMSE (m)"}[metric]
    groups = list(table.groupby(GROUP_KEYS, sort=True)) if not table.empty else []
    figure, axes = _panel_grid(max(1, len(groups)))
    for ax, (keys, group) in zip(axes, groups):
        reference = group[group["selection"] == "none"]
        for selection, name in (("top", "most memorised removed"), ("random", "random removed")):
            line = pd.concat([reference, group[group["selection"] == selection]]).sort_values("k")
            ax.errorbar(line["k"], line[f"{metric}_mean"], yerr=line[f"{metric}_std"].fillna(0), marker="o",
                        capsize=2, color=SELECTION_COLOURS[selection], label=name)
        ax.set_title(f"{keys[1]} on {keys[0]}, fine-tuned on {keys[4]}", fontsize=8)
        ax.set_xlabel("points removed (k)")
        ax.set_ylabel(label)
        ax.legend(fontsize=6, frameon=False)
    save_figure(figure, out)
