"""UnitMem of one layer under the conditions of study unitmem_conditions (localization paper, Figs. 4, 5, 1c):
the per-encoder table, the paper's directions tested over seeds, and one figure per condition."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from sslmem.io import atomic_save_figure, atomic_to_csv
from sslmem.report.localization_uses import TEST_COLUMNS, paired_test

CONDITION_COLUMNS = ["condition", "dataset", "setup", "encoder_setup", "method", "arch", "level", "level_value", "seed",
                     "layer", "n_units", "n_undefined_units", "unitmem_mean", "unitmem_median"]
TESTS_COLUMNS = ["condition", "dataset", "setup", "comparison", *TEST_COLUMNS]
_EPOCH = re.compile(r"/epoch(\d+)/")


def layer_summary(units: pd.DataFrame, layer: str | None) -> pd.DataFrame:
    """Per encoder (dataset, setup, method, arch, seed): the chosen layer's (None: the last, the highest
    layer_index) number of units, of NaN units, and mean / median UnitMem over the defined ones."""
    rows = []
    for keys, group in units.groupby(["dataset", "setup", "method", "arch", "seed"], sort=True):
        name = layer if layer is not None else group.loc[group["layer_index"].idxmax(), "layer"]
        part = group[group["layer"] == name]
        if part.empty:
            raise ValueError(f"{keys}: no unit layer {name!r} (layers: {sorted(set(group['layer']))})")
        values = part["unitmem"].to_numpy(dtype=float)
        alive = values[~np.isnan(values)]
        rows.append({**dict(zip(["dataset", "setup", "method", "arch", "seed"], keys)), "layer": name,
                     "n_units": int(values.size), "n_undefined_units": int(values.size - alive.size),
                     "unitmem_mean": float(alive.mean()) if alive.size else math.nan,
                     "unitmem_median": float(np.median(alive)) if alive.size else math.nan})
    return pd.DataFrame(rows)


def _units(paths) -> pd.DataFrame:
    from sslmem.report.readers import read_units

    paths = [Path(p) for p in paths]
    return read_units(paths) if paths else pd.DataFrame()


def _training_rows(paths, layer) -> list[pd.DataFrame]:
    frames = []
    for path in paths:
        match = _EPOCH.search(str(Path(path).as_posix()))
        if match is None:
            raise ValueError(f"{path}: not a snapshot's per-unit file (no /epoch<e>/ folder)")
        summary = layer_summary(_units([path]), layer)
        epoch = int(match.group(1))
        frames.append(summary.assign(condition="training", encoder_setup=summary["setup"], level=f"epoch {epoch}",
                                     level_value=float(epoch)))
    return frames


def conditions_table(snapshot_unit_paths, noaug_unit_paths, base_unit_paths, private_unit_paths, out,
                     augmentation_pairs, privacy_levels, layer) -> pd.DataFrame:
    """One row per condition, level and f encoder: the layer's UnitMem (:func:`layer_summary`)."""
    frames = _training_rows(snapshot_unit_paths, layer)
    base = layer_summary(_units(base_unit_paths), layer) if list(base_unit_paths) else pd.DataFrame()
    if list(noaug_unit_paths):
        without = layer_summary(_units(noaug_unit_paths), layer)
        for pair in augmentation_pairs:
            own = without[(without["dataset"] == pair["dataset"]) & (without["setup"] == pair["variant_setup"])]
            frames.append(own.assign(condition="augmentations", encoder_setup=own["setup"], setup=pair["setup"],
                                     level="without augmentation", level_value=0.0))
            mine = base[(base["dataset"] == pair["dataset"]) & (base["setup"] == pair["setup"])]
            frames.append(mine.assign(condition="augmentations", encoder_setup=mine["setup"],
                                      level="with augmentation", level_value=1.0))
    if list(private_unit_paths):
        private = layer_summary(_units(private_unit_paths), layer)
        for dataset, setup in dict.fromkeys((p["dataset"], p["setup"]) for p in privacy_levels):
            mine = base[(base["dataset"] == dataset) & (base["setup"] == setup)]
            frames.append(mine.assign(condition="privacy", encoder_setup=mine["setup"], level="eps inf",
                                      level_value=math.inf))
        for level in privacy_levels:
            own = private[(private["dataset"] == level["dataset"]) & (private["setup"] == level["private_setup"])]
            frames.append(own.assign(condition="privacy", encoder_setup=own["setup"], setup=level["setup"],
                                     level=f"eps {level['epsilon']:g}", level_value=float(level["epsilon"])))
    frames = [frame for frame in frames if not frame.empty]
    table = pd.concat(frames, ignore_index=True)[CONDITION_COLUMNS] if frames else pd.DataFrame(columns=CONDITION_COLUMNS)
    atomic_to_csv(table, out)
    return table


PAPER = {
    "training": "UnitMem of the last layer rises over training (Fig. 4)",
    "augmentations": "UnitMem is higher when trained with augmentations than without (Fig. 5)",
    "privacy": "stronger privacy (smaller ε) lowers UnitMem (Fig. 1c)",
}


def spearman_exact(values) -> tuple[float, float]:
    """Spearman's rho of `values` against their order and its two-sided p-value: exact over all orderings for at
    most 8 values (the t approximation is wrong for so few: 3 values in order would give p = 0, the exact p is
    1/3), else scipy's."""
    import itertools

    from scipy.stats import spearmanr

    values = np.asarray(values, dtype=float)
    rho = float(spearmanr(np.arange(values.size), values).statistic)
    if values.size > 8:
        return rho, float(spearmanr(np.arange(values.size), values).pvalue)
    # ρ of every ordering at once: the Pearson correlation of each permutation of 0..n-1 with the values' ranks
    # (ties averaged), as spearmanr computes it one ordering at a time (8! = 40320 calls took seconds).
    ranks = pd.Series(values).rank().to_numpy()
    orders = np.array(list(itertools.permutations(range(values.size))), dtype=float)
    orders -= orders.mean(axis=1, keepdims=True)
    centred = ranks - ranks.mean()
    denominator = np.linalg.norm(orders, axis=1) * np.linalg.norm(centred)
    rhos = orders @ centred / denominator if np.linalg.norm(centred) > 0 else np.zeros(len(orders))
    return rho, float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))


def _spearman(group: pd.DataFrame, alpha: float, paper: str) -> dict:
    """Spearman's rho of the mean over the seeds present at every level against the level (∞ ranks last)."""
    levels = group["level_value"].nunique()
    common = group.groupby("seed")["level_value"].nunique()
    seeds = common.index[common == levels]
    curve = group[group["seed"].isin(seeds)].groupby("level_value")["unitmem_mean"].mean().sort_index()
    if len(curve) < 3 or len(seeds) == 0:
        rho, p_value = math.nan, math.nan
    else:
        rho, p_value = spearman_exact(curve.to_numpy())
    return {"statistic": rho, "p_value": p_value, "n_seeds": int(len(seeds)), "mean_difference": math.nan,
            "test": (f"Spearman rho of the mean over the {len(seeds)} seed(s) at every level against the level "
                     f"({len(curve)} levels), two-sided, exact"),
            "paper_direction": paper, "direction_holds": bool(rho > 0) if not math.isnan(rho) else None,
            "significant": bool(p_value < alpha) if not math.isnan(p_value) else False, "alpha": alpha}


def condition_tests_table(table_csv, out, alpha: float) -> pd.DataFrame:
    """The paper's direction per condition, dataset and setup, tested over seeds (a row per comparison)."""
    table = pd.read_csv(table_csv)
    rows = []
    for (condition, dataset, setup), group in table.groupby(["condition", "dataset", "setup"], sort=True):
        per_level = {value: part.set_index("seed")["unitmem_mean"] for value, part in group.groupby("level_value")}
        levels = sorted(per_level)
        keys = {"condition": condition, "dataset": dataset, "setup": setup}
        paper = PAPER[condition]
        if condition == "training":
            rows.append({**keys, "comparison": f"epoch {levels[-1]:g} vs epoch {levels[0]:g}",
                         **paired_test(per_level[levels[-1]], per_level[levels[0]], alpha, paper, "last > first")})
            rows.append({**keys, "comparison": "trend over epochs", **_spearman(group, alpha, paper)})
        elif condition == "augmentations" and len(levels) == 2:
            rows.append({**keys, "comparison": "with vs without augmentation",
                         **paired_test(per_level[1.0], per_level[0.0], alpha, paper, "with > without")})
        elif condition == "privacy" and math.inf in per_level:
            for epsilon in levels[:-1]:
                rows.append({**keys, "comparison": f"eps inf vs eps {epsilon:g}",
                             **paired_test(per_level[math.inf], per_level[epsilon], alpha, paper, "inf > eps")})
            rows.append({**keys, "comparison": "trend over eps", **_spearman(group, alpha, paper)})
    frame = pd.DataFrame(rows, columns=TESTS_COLUMNS)
    atomic_to_csv(frame, out)
    return frame


def condition_figure(table_csv, out, condition: str) -> None:
    """UnitMem against the level of one condition, a line per seed and the mean in black, a panel per setup."""
    import matplotlib.pyplot as plt

    table = pd.read_csv(table_csv)
    table = table[table["condition"] == condition]
    groups = list(table.groupby(["dataset", "setup"], sort=True))
    figure, axes = plt.subplots(1, max(1, len(groups)), figsize=(4 * max(1, len(groups)), 3.2), squeeze=False)
    if not groups:
        axes[0][0].text(0.5, 0.5, f"no {condition} runs in this preset", ha="center", va="center")
        axes[0][0].set_axis_off()
    for axis, ((dataset, setup), group) in zip(axes[0], groups):
        labels = group.drop_duplicates("level_value").sort_values("level_value")
        positions = {value: index for index, value in enumerate(labels["level_value"])}
        for seed, part in group.groupby("seed"):
            part = part.sort_values("level_value")
            axis.plot([positions[v] for v in part["level_value"]], part["unitmem_mean"], marker="o", alpha=0.5,
                      label=f"seed {seed}")
        mean = group.groupby("level_value")["unitmem_mean"].mean()
        axis.plot([positions[v] for v in mean.index], mean.to_numpy(), color="black", linewidth=2, label="mean")
        axis.set_xticks(range(len(positions)), labels["level"].tolist(), rotation=30, fontsize=7)
        axis.set_ylabel(f"mean UnitMem ({group['layer'].iloc[0]})")
        axis.set_title(f"{setup} ({dataset})", fontsize=9)
        axis.legend(fontsize=7)
    figure.tight_layout()
    atomic_save_figure(figure, out)
    plt.close(figure)
