"""Table 5 (effect of differential privacy) and its figure, from the privacy study's files and the core ones.

ε = ∞ rows are the base setup's core encoders (the same recipe without privacy); a private setup's rows come
from its own score, probe and UnitMem files and from its checkpoints' meta, where the privacy hook recorded the
accounting (:mod:`sslmem.training.privacy`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sslmem import io as sio
from sslmem.io import atomic_to_csv
from sslmem.report.figures import _panel_grid, save_figure
from sslmem.report.readers import (
    load_paper_values,
    matches_paper_row,
    read_table,
    read_units,
)
from sslmem.report.variants import measured, read_with_variants

TABLE5_COLUMNS = [
    "dataset", "setup", "private_setup", "method", "arch", "epsilon", "epsilon_spent", "delta", "noise_multiplier",
    "max_grad_norm", "sample_rate", "steps", "n_seeds", "sslmem_mean", "sslmem_std", "minus_shared_mean",
    "minus_shared_std", "probe_top1_mean", "probe_top1_std", "unitmem_last_layer", "paper_sslmem",
    "paper_sslmem_std", "paper_top1",
]
ACCOUNTING = ("epsilon_spent", "delta", "noise_multiplier", "max_grad_norm", "sample_rate", "steps")


def accounting(checkpoint_paths) -> pd.DataFrame:
    """One row per private encoder: its setup and the privacy its training recorded."""
    rows = []
    for path in checkpoint_paths:
        meta = sio.load_checkpoint(path)["meta"]
        if "privacy" not in meta:
            raise ValueError(f"{path}: a privacy study encoder without privacy accounting in its meta (trained "
                             "without DP-SGD?); retrain it")
        rows.append({"dataset": meta["dataset"], "setup": meta["setup"], **meta["privacy"]})
    return pd.DataFrame(rows)


def _last_layer_unitmem(units: pd.DataFrame | None, dataset: str, setup: str) -> float:
    if units is None:
        return np.nan
    own = units[(units["dataset"] == dataset) & (units["setup"] == setup) & (units["role"] == "f")]
    if own.empty:
        return np.nan
    return float(own.loc[own["layer_index"] == own["layer_index"].max(), "unitmem"].mean())


def _measured(dataset: str, setup: str, scores, probes, units) -> dict:
    return {**measured(dataset, setup, scores, probes), "unitmem_last_layer": _last_layer_unitmem(units, dataset, setup)}


def table5(score_paths, probe_paths, private_score_paths, private_probe_paths, checkpoint_paths, out,
           privacy_levels: Mapping[str, Mapping], unit_paths=None, private_unit_paths=None,
           identities: Mapping | None = None, paper_values_path=None) -> pd.DataFrame:
    """Rows per (dataset, setup): ε = ∞ (the core encoders), then each ε of the study, decreasing.

    `privacy_levels` maps a private setup's name to {setup, epsilon}. Accounting columns are the mean over the
    setup's encoders (equal for all but ε spent, which differs only by rounding). The paper's values stand
    beside rows whose base setup is the paper's run (:func:`matches_paper_row`, Table 5: MAE ViT-tiny CIFAR10,
    1000 epochs) at the paper's ε.
    """
    scores, probes = read_with_variants(score_paths, probe_paths, private_score_paths, private_probe_paths)
    unit_files = list(unit_paths or []) + list(private_unit_paths or [])
    units = read_units(unit_files) if unit_files else None
    spent = accounting(checkpoint_paths)
    paper = load_paper_values(paper_values_path)["table5"]
    identities = identities or {}
    datasets = sorted(set(spent["dataset"])) if len(spent) else []
    rows = []
    for dataset in datasets:
        levels = {name: level for name, level in privacy_levels.items()
                  if ((spent["setup"] == name) & (spent["dataset"] == dataset)).any()}
        for base in sorted({level["setup"] for level in levels.values()}):
            ordered = [(None, np.inf)] + sorted(((name, level["epsilon"]) for name, level in levels.items()
                                                 if level["setup"] == base), key=lambda item: -item[1])
            for private_name, epsilon in ordered:
                source = private_name or base
                method_arch = scores.loc[(scores["setup"] == source), ["method", "arch"]].drop_duplicates()
                row = {"dataset": dataset, "setup": base, "private_setup": private_name or "", "epsilon": epsilon,
                       "method": method_arch["method"].iat[0] if len(method_arch) else "",
                       "arch": method_arch["arch"].iat[0] if len(method_arch) else "",
                       **_measured(dataset, source, scores, probes, units)}
                mine = spent[(spent["dataset"] == dataset) & (spent["setup"] == source)] if private_name else None
                row.update({key: float(mine[key].mean()) if mine is not None and len(mine) else np.nan
                            for key in ACCOUNTING})
                match = {}
                if matches_paper_row(paper["setup"], dataset, identities.get(base)):
                    match = next((r for r in paper["rows"] if float(r["epsilon"]) == float(epsilon)), {})
                row.update(paper_sslmem=match.get("sslmem", np.nan), paper_sslmem_std=match.get("sslmem_std", np.nan),
                           paper_top1=match.get("top1", np.nan))
                rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE5_COLUMNS)
    atomic_to_csv(table, out)
    return table


def table5_figure(table5_csv, out) -> None:
    """SSLMem and probe accuracy against ε (log axis; ∞ drawn at the right end), one line per (dataset, setup)."""
    table = read_table(table5_csv, "table5")
    figure, axes = _panel_grid(2)
    left, right = axes
    finite = table.loc[np.isfinite(table["epsilon"]), "epsilon"]
    infinity = (finite.max() * 4) if len(finite) else 100.0
    for (dataset, setup), group in table.groupby(["dataset", "setup"], sort=True):
        x = group["epsilon"].replace(np.inf, infinity).to_numpy(dtype=float)
        order = np.argsort(x)
        label = f"{setup} ({dataset})"
        for axis, column, paper in ((left, "sslmem", "paper_sslmem"), (right, "probe_top1", "paper_top1")):
            axis.errorbar(x[order], group[f"{column}_mean"].to_numpy()[order],
                          yerr=group[f"{column}_std"].fillna(0).to_numpy()[order], marker="o", capsize=3, label=label)
            if group[paper].notna().any():
                axis.scatter(x[order], group[paper].to_numpy()[order], marker="s", color="grey", label="paper")
        left.plot(x[order], group["minus_shared_mean"].to_numpy()[order], linestyle="--", marker="x",
                  label=f"{label}: S_C − S_S")
    for axis, ylabel in ((left, "SSLMem (dashed: S_C − S_S)"), (right, "linear-probe top-1 (%)")):
        axis.set_xscale("log")
        axis.minorticks_off()  # the log axis' minor labels would crowd the few ε values
        ticks = sorted(set(finite)) + [infinity]
        axis.set_xticks(ticks, [f"{t:g}" for t in ticks[:-1]] + ["∞"])
        axis.set_xlabel("privacy budget ε")
        axis.set_ylabel(ylabel)
    left.legend(fontsize="small")
    save_figure(figure, out)
