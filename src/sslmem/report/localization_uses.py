"""Tables and figures of the localization studies' paired comparisons over seeds: fine-tuning by LayerMem and
pruning by UnitMem (study localization_uses), and the shared paired test of both and of the UnitMem conditions
(study unitmem_conditions).

Why paired over seeds: every value one encoder gives (each fine-tuning condition, each pruning strategy) shares
that encoder's training noise, so the unit of the test is the encoder (seed), not the image or the unit."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sslmem.io import atomic_save_figure, atomic_to_csv

TEST_COLUMNS = ["statistic", "p_value", "n_seeds", "mean_difference", "test", "paper_direction", "direction_holds",
                "significant", "alpha"]


def paired_test(a: pd.Series, b: pd.Series, alpha: float, paper: str, label: str = "a > b") -> dict:
    """One-sided paired t-test of H0: mean(a − b) <= 0 over the seeds both have (a Series per seed each):
    `statistic` t, `p_value`, `n_seeds`, `mean_difference` (a − b), whether the paper's direction holds (the mean
    difference > 0) and is significant at `alpha`. With fewer than 2 seeds (or all differences equal) there is no
    test: statistic and p NaN, `direction_holds` from the sign alone, `significant` False."""
    from sslmem.stats import one_sample

    common = a.index.intersection(b.index)
    differences = (a.loc[common] - b.loc[common]).to_numpy(dtype=float)
    differences = differences[np.isfinite(differences)]
    mean = float(differences.mean()) if differences.size else math.nan
    if differences.size >= 2 and np.ptp(differences) > 0:
        result = one_sample(differences, 0.0, alternative="larger")
        statistic, p_value = result.t, result.p_value
    else:
        statistic, p_value = math.nan, math.nan
    return {"statistic": statistic, "p_value": p_value, "n_seeds": int(differences.size), "mean_difference": mean,
            "test": f"paired t over seeds, one-sided ({label})" if differences.size >= 2 else
            f"none: {differences.size} seed(s), the sign of the difference only ({label})", "paper_direction": paper,
            "direction_holds": bool(mean > 0) if differences.size else None,
            "significant": bool(p_value < alpha) if not math.isnan(p_value) else False, "alpha": alpha}


def _read(paths, required: set[str]) -> pd.DataFrame:
    frames = [pd.read_csv(path) for path in paths]
    if not frames:
        raise ValueError("no per-encoder files to tabulate")
    table = pd.concat(frames, ignore_index=True)
    missing = required - set(table.columns)
    if missing:
        raise ValueError(f"per-encoder files lack columns {sorted(missing)}")
    return table


FINETUNE_COLUMNS = ["dataset", "setup", "method", "arch", "task_dataset", "comparison", "rank_by", "layers_a",
                    "layers_b", "top1_a_mean", "top1_b_mean", "top1_head_only_mean", *TEST_COLUMNS]
FINETUNE_COMPARISONS = (("most", "least", "fine-tuning the most memorising layer(s) beats the least memorising"),
                        ("most", "head_only", "fine-tuning the most memorising layer(s) beats the head alone"))


def finetune_table(finetune_paths, out, alpha: float) -> pd.DataFrame:
    """One row per (dataset, setup, task, comparison): mean top-1 (%) of the two conditions over seeds and the
    paired test of a > b."""
    table = _read(finetune_paths, {"dataset", "setup", "seed", "condition", "layers", "top1", "task_dataset"})
    rows = []
    for (dataset, setup, method, arch, task), group in table.groupby(
            ["dataset", "setup", "method", "arch", "task_dataset"], sort=True):
        top1 = {c: part.set_index("seed")["top1"] * 100 for c, part in group.groupby("condition")}
        layers = {c: ";".join(sorted(set(part["layers"].fillna("").astype(str)))) for c, part in group.groupby("condition")}
        for a, b, paper in FINETUNE_COMPARISONS:
            rows.append({"dataset": dataset, "setup": setup, "method": method, "arch": arch, "task_dataset": task,
                         "comparison": f"{a}_vs_{b}", "rank_by": group["rank_by"].iloc[0],
                         "layers_a": layers[a], "layers_b": layers[b], "top1_a_mean": float(top1[a].mean()),
                         "top1_b_mean": float(top1[b].mean()), "top1_head_only_mean": float(top1["head_only"].mean()),
                         **paired_test(top1[a], top1[b], alpha, paper, label=f"top-1 {a} > top-1 {b}")})
    frame = pd.DataFrame(rows, columns=FINETUNE_COLUMNS)
    atomic_to_csv(frame, out)
    return frame


PRUNING_COLUMNS = ["dataset", "setup", "method", "arch", "task_dataset", "fraction", "comparison", "top1_unpruned_mean",
                   "top1_a_mean", "top1_b_mean", "n_pruned_mean", "n_units", *TEST_COLUMNS]
# The accuracy *lost* by pruning the top units is larger: b − a > 0, so the test is of b over a.
PRUNING_COMPARISONS = (("top", "bottom", "pruning the highest-UnitMem units costs more accuracy than the lowest"),
                       ("top", "random", "pruning the highest-UnitMem units costs more accuracy than random ones"))


def pruning_table(prune_paths, out, alpha: float) -> pd.DataFrame:
    """One row per (dataset, setup, task, fraction, comparison): mean top-1 (%) over seeds of the pruned encoders
    (a: top, b: bottom or random) and the paired test that a loses more (b − a > 0)."""
    table = _read(prune_paths, {"dataset", "setup", "seed", "strategy", "fraction", "top1", "n_pruned", "n_units"})
    rows = []
    for (dataset, setup, method, arch, task), group in table.groupby(
            ["dataset", "setup", "method", "arch", "task_dataset"], sort=True):
        unpruned = group[group["strategy"] == "none"].set_index("seed")["top1"] * 100
        for fraction in sorted(set(group.loc[group["strategy"] != "none", "fraction"])):
            part = group[group["fraction"] == fraction]
            top1 = {s: p.set_index("seed")["top1"] * 100 for s, p in part.groupby("strategy")}
            for a, b, paper in PRUNING_COMPARISONS:
                test = paired_test(top1[b], top1[a], alpha, paper, label=f"top-1 {b} > top-1 {a}")
                rows.append({"dataset": dataset, "setup": setup, "method": method, "arch": arch, "task_dataset": task,
                             "fraction": float(fraction), "comparison": f"{a}_vs_{b}",
                             "top1_unpruned_mean": float(unpruned.mean()), "top1_a_mean": float(top1[a].mean()),
                             "top1_b_mean": float(top1[b].mean()),
                             "n_pruned_mean": float(part.loc[part["strategy"] == a, "n_pruned"].mean()),
                             "n_units": int(part["n_units"].iloc[0]), **test})
    frame = pd.DataFrame(rows, columns=PRUNING_COLUMNS)
    atomic_to_csv(frame, out)
    return frame


def finetune_figure(finetune_paths, out) -> None:
    import matplotlib.pyplot as plt

    table = _read(finetune_paths, {"dataset", "setup", "seed", "condition", "top1"})
    groups = list(table.groupby(["dataset", "setup"], sort=True))
    figure, axes = plt.subplots(1, max(1, len(groups)), figsize=(4 * max(1, len(groups)), 3.2), squeeze=False)
    order = ["head_only", "least", "most"]
    for axis, ((dataset, setup), group) in zip(axes[0], groups):
        for seed, part in group.groupby("seed"):
            values = part.set_index("condition").reindex(order)["top1"] * 100
            axis.plot(order, values.to_numpy(), marker="o", label=f"seed {seed}")
        axis.set_title(f"{setup} ({dataset})", fontsize=9)
        axis.set_ylabel("downstream top-1 (%)")
        axis.legend(fontsize=7)
    figure.tight_layout()
    atomic_save_figure(figure, out)
    plt.close(figure)


def pruning_figure(prune_paths, out) -> None:
    import matplotlib.pyplot as plt

    table = _read(prune_paths, {"dataset", "setup", "seed", "strategy", "fraction", "top1"})
    groups = list(table.groupby(["dataset", "setup"], sort=True))
    figure, axes = plt.subplots(1, max(1, len(groups)), figsize=(4 * max(1, len(groups)), 3.2), squeeze=False)
    for axis, ((dataset, setup), group) in zip(axes[0], groups):
        unpruned = group[group["strategy"] == "none"]["top1"] * 100
        for strategy in ("top", "bottom", "random"):
            part = group[group["strategy"] == strategy].groupby("fraction")["top1"]
            means = pd.concat([pd.Series({0.0: unpruned.mean()}), part.mean() * 100])
            stds = pd.concat([pd.Series({0.0: unpruned.std(ddof=1)}), part.std(ddof=1) * 100]).fillna(0)
            axis.errorbar(means.index, means.to_numpy(), yerr=stds.to_numpy(), marker="o", capsize=3, label=strategy)
        axis.set_title(f"{setup} ({dataset})", fontsize=9)
        axis.set_xlabel("fraction of units zeroed per layer")
        axis.set_ylabel("linear-probe top-1 (%)")
        axis.legend(fontsize=7, title="UnitMem", title_fontsize=7)
    figure.tight_layout()
    atomic_save_figure(figure, out)
    plt.close(figure)
