"""Fig. 2b of the SSLMem paper (the dynamics study, :mod:`sslmem.studies.dynamics`): training loss, linear-probe
accuracy and memorisation at each snapshot epoch, as a table (`fig2b_values`) and a figure drawn from it (`fig2b`).

Memorisation at an epoch is read from that epoch's score file exactly as the core tables read the final one: the
ensemble estimate (m over all f and g snapshots of the epoch, normalised by its range over the scored points), its
mean over the candidates S_C (Table 1's `sslmem_ensemble`), over the top fraction of them, and less its mean over
S_S (a pair's global offset, which dominates m at the default preset's scale; README, "Default preset").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sslmem.artifacts import FIG2B_COLUMNS, ordered
from sslmem.io import atomic_to_csv
from sslmem.report.figures import _panel_grid, save_figure
from sslmem.report.readers import own_dataset_probes, read_probes, read_scores, read_table
from sslmem.report.training import read_train_logs
from sslmem.stats import mean_std

# The figure's panels: column of the table → axis label.
PANELS = {
    "train_loss": "training loss (f) ÷ first snapshot's",
    "probe_top1": "linear-probe top-1 (%)",
    "m_candidates": "mean m over S_C",
    "m_top": "mean m of the most memorised S_C",
    "m_candidates_minus_shared": "m(S_C) − m(S_S)",
}


def top_count(n: int, fraction: float) -> int:
    """How many of `n` candidates make the top `fraction`: ⌈fraction · n⌉, at least 1 (rounded first, so that
    0.1 · 100 is 10 and not 11 through floating point)."""
    return max(1, math.ceil(round(fraction * n, 9)))


def memorisation(scores: pd.DataFrame, top_fraction: float) -> dict:
    """The memorisation numbers of one score file (one dataset, setup and epoch) from its ensemble rows."""
    ensemble = scores[scores["estimate"] == "ensemble"]
    candidates = ensemble[ensemble["subset"] == "S_C"]
    shared = ensemble.loc[ensemble["subset"] == "S_S", "m"]
    if candidates.empty:
        raise ValueError(f"{scores['source_file'].iat[0]}: no ensemble scores of the candidates S_C")
    n_top = top_count(len(candidates), top_fraction)
    m_candidates = float(candidates["m"].mean())
    m_shared = float(shared.mean()) if len(shared) else np.nan
    return {
        "representation": ensemble["representation"].iat[0],
        "n_pairs": int(scores.loc[scores["estimate"] == "pair", "seed"].nunique()),
        "n_candidates": int(len(candidates)),
        "m_candidates": m_candidates,
        "top_fraction": float(top_fraction),
        "n_top": n_top,
        "m_top": float(candidates["m"].nlargest(n_top).mean()),
        "m_shared": m_shared,
        "m_candidates_minus_shared": m_candidates - m_shared,
        "m_raw_candidates": float(candidates["m_raw"].mean()),
    }


def final_top_means(scores: pd.DataFrame, epochs: Sequence[int], top_fraction: float) -> dict[int, float]:
    """Per epoch, the mean ensemble m of the candidates that are the top fraction at the last epoch (a fixed set of
    points, so that a rise is not the selection of whichever points drew high at each epoch)."""
    candidates = scores[(scores["estimate"] == "ensemble") & (scores["subset"] == "S_C")]
    last = candidates[candidates["epoch"] == max(epochs)]
    top = last.nlargest(top_count(len(last), top_fraction), "m")[["point_id", "source"]]
    chosen = candidates.merge(top, on=["point_id", "source"])
    return chosen.groupby("epoch")["m"].mean().to_dict()


def f_probe_top1(probes: pd.DataFrame, dataset: str, setup: str, epoch: int) -> tuple[float, float]:
    """Mean and std (over the f snapshots) of linear-probe top-1 on their own dataset at `epoch`, in %."""
    own = probes[(probes["dataset"] == dataset) & (probes["setup"] == setup) & (probes["role"] == "f")
                 & (probes["epoch"] == epoch)]
    return mean_std(100.0 * own["top1"].to_numpy(dtype=float))


def f_train_loss(logs: pd.DataFrame, dataset: str, setup: str, epoch: int) -> float:
    """The training loss of `epoch` (the log's mean over the epoch's steps), mean over the f encoders."""
    rows = logs[(logs["dataset"] == dataset) & (logs["setup"] == setup) & (logs["role"] == "f")
                & (logs["epoch"] == epoch)]
    return float(rows["loss"].mean()) if len(rows) else np.nan


def read_by_epoch(paths, reader) -> pd.DataFrame:
    """The files of each snapshot epoch read together by `reader` (the core readers, which refuse one encoder or
    setup in two files of one call), with the column `epoch`."""
    from sslmem.report.roles import epoch_of

    by_epoch: dict[int, list] = {}
    for path in paths:
        by_epoch.setdefault(epoch_of(path), []).append(path)
    if not by_epoch:
        raise ValueError("no files of the dynamics study given")
    return pd.concat([reader(files).assign(epoch=epoch) for epoch, files in sorted(by_epoch.items())],
                     ignore_index=True)


def values_table(scores: pd.DataFrame, probes: pd.DataFrame, logs: pd.DataFrame, plan: Sequence[Mapping],
                 top_fraction: float) -> pd.DataFrame:
    """One row per planned (dataset, setup, snapshot epoch), FIG2B_COLUMNS; a planned epoch without its score
    file is an error naming it (the table must not silently skip a snapshot)."""
    rows = []
    for entry in plan:
        dataset, setup, epochs = entry["dataset"], entry["setup"], list(entry["snapshots"])
        group = scores[(scores["dataset"] == dataset) & (scores["setup"] == setup)]
        missing = sorted(set(epochs) - set(group["epoch"]))
        if missing:
            raise ValueError(f"{setup} on {dataset}: no score file of snapshot epoch(s) {missing}")
        fixed_top = final_top_means(group, epochs, top_fraction)
        method, arch = group[["method", "arch"]].iloc[0]
        for epoch in epochs:
            top1_mean, top1_std = f_probe_top1(probes, dataset, setup, epoch)
            rows.append({"dataset": dataset, "setup": setup, "method": method, "arch": arch, "epoch": epoch,
                         "epochs": entry["epochs"], "train_loss": f_train_loss(logs, dataset, setup, epoch),
                         "probe_top1": top1_mean, "probe_top1_std": top1_std,
                         "m_final_top": fixed_top.get(epoch, np.nan),
                         **memorisation(group[group["epoch"] == epoch], top_fraction)})
    return ordered(pd.DataFrame(rows, columns=list(FIG2B_COLUMNS)), FIG2B_COLUMNS, "fig2b_values")


def fig2b_values(score_paths, probe_paths, train_log_paths, out, plan: Sequence[Mapping],
                 top_fraction: float) -> pd.DataFrame:
    """Fig. 2b's numbers from the snapshots' score and probe files and the encoders' train logs; writes `out`."""
    scores = read_by_epoch(score_paths, read_scores)
    probes = own_dataset_probes(read_by_epoch(probe_paths, read_probes))
    table = values_table(scores, probes, read_train_logs(train_log_paths), plan, top_fraction)
    atomic_to_csv(table, out)
    return table


def fig2b(table_csv, out) -> None:
    """One panel per quantity of PANELS against the epoch, one line per (dataset, setup); the probe panel with the
    spread over the f snapshots."""
    table = read_table(table_csv, "fig2b_values")
    figure, axes = _panel_grid(len(PANELS))
    for (dataset, setup), group in table.groupby(["dataset", "setup"], sort=True):
        group = group.sort_values("epoch")
        label = f"{setup} ({dataset}, {int(group['n_pairs'].iat[0])} pairs)"
        for axis, column in zip(axes, PANELS):
            if column == "train_loss":
                # Relative to the first snapshot: the methods' losses differ in scale (SimCLR's NT-Xent ~4, MAE's
                # pixel loss <1), and the panel is about when each one levels off (the table keeps the values).
                axis.plot(group["epoch"], group[column] / group[column].iat[0], marker="o", markersize=3, label=label)
            elif column == "probe_top1":
                axis.errorbar(group["epoch"], group[column], yerr=group["probe_top1_std"].fillna(0), marker="o",
                              markersize=3, capsize=2, label=label)
            else:
                axis.plot(group["epoch"], group[column], marker="o", markersize=3, label=label)
    for axis, (column, ylabel) in zip(axes, PANELS.items()):
        axis.set_xlabel("epoch")
        axis.set_ylabel(ylabel)
        if column.startswith("m_"):
            axis.axhline(0.0, color="grey", linewidth=0.6)
    top = table["top_fraction"].iat[0] if len(table) else 0.1
    axes[PANELS_INDEX["m_top"]].set_ylabel(f"mean m of the top {100 * top:g} % of S_C")
    axes[0].legend(fontsize="small")
    save_figure(figure, out)


PANELS_INDEX = {column: index for index, column in enumerate(PANELS)}
