"""Where memorisation lives (Localizing Memorization in SSL Vision Encoders): LayerMem per layer and UnitMem
per unit, from the align stage's per-layer scores and per-unit files."""

from __future__ import annotations


import numpy as np
import pandas as pd

from sslmem.io import atomic_to_csv
from sslmem.artifacts import SETUP_KEYS
from sslmem.report.readers import read_layer_scores, read_scores, read_units
from sslmem.stats import mean_std

LAYERMEM_COLUMNS = [
    "dataset", "setup", "method", "arch", "layer_index", "layer", "layermem", "delta_layermem",
    "layermem_pair_mean", "layermem_pair_std", "n_pairs", "offset_m_S_S", "layermem_above_offset", "n_candidates",
]


def layermem_table(score_paths, out) -> pd.DataFrame:
    """Write :func:`layermem_frame` of the per-layer score files to `out` (atomically) and return it."""
    table = layermem_frame(score_paths)
    atomic_to_csv(table, out)
    return table


def layermem_frame(score_paths) -> pd.DataFrame:
    """LayerMem_l = mean m over S_C of the scores measured on layer l's output (ensemble estimate), and
    ΔLayerMem_l = LayerMem_l − LayerMem_{l−1} (the first layer's Δ is its LayerMem). Per-pair values give
    ``layermem_pair_mean``/``_std``; ``offset_m_S_S`` is the layer's mean m over S_S (points both f and g
    trained on), and ``layermem_above_offset`` = LayerMem − that offset: with few f/g pairs a layer's global
    f-vs-g difference can be most of its LayerMem, and only the part above it is specific to S_C."""
    scores = read_layer_scores(score_paths)
    rows = []
    for (dataset, setup, method, arch), group in scores.groupby(list(SETUP_KEYS), sort=True):
        previous = 0.0
        for (layer_index, layer), part in group.groupby(["layer_index", "layer"], sort=True):
            candidates = part[part["subset"] == "S_C"]
            ensemble = candidates.loc[candidates["estimate"] == "ensemble", "m"]
            per_pair = candidates[candidates["estimate"] == "pair"].groupby("seed")["m"].mean()
            pair_mean, pair_std = mean_std(per_pair.to_numpy())
            shared = part.loc[(part["estimate"] == "ensemble") & (part["subset"] == "S_S"), "m"]
            layermem = float(ensemble.mean())
            offset = float(shared.mean()) if len(shared) else np.nan
            rows.append({
                "dataset": dataset, "setup": setup, "method": method, "arch": arch,
                "layer_index": int(layer_index), "layer": layer, "layermem": layermem,
                "delta_layermem": layermem - previous, "layermem_pair_mean": pair_mean,
                "layermem_pair_std": pair_std, "n_pairs": int(per_pair.size),
                "offset_m_S_S": offset, "layermem_above_offset": layermem - offset,
                "n_candidates": int(ensemble.size),
            })
            previous = layermem
    return pd.DataFrame(rows, columns=LAYERMEM_COLUMNS)


# ----------------------------------------------------------------------------------------------------------
# UnitMem (Localizing Memorization in SSL Vision Encoders)
# ----------------------------------------------------------------------------------------------------------

UNITMEM_COLUMNS = [
    "dataset", "setup", "method", "arch", "layer_index", "layer", "subset", "n_encoders", "n_units",
    "n_undefined_units", "unitmem_mean", "unitmem_median", "unitmem_std", "unitmem_p90", "n_argmax_points",
    "mean_m_argmax_points", "mean_m_subset",
]
def unitmem_table(unit_paths, score_paths, out) -> pd.DataFrame:
    """UnitMem per (dataset, setup, layer) from the per-unit files of the f encoders (`unit_paths`), pooled over
    encoders: mean, median, std and 90th percentile over units (``n_undefined_units``: NaN UnitMem, a dead unit
    or one whose activations are negative on average); and, from the ensemble scores, the mean m of the distinct points some unit of the layer
    singles out (its argmax) beside the mean m of every point of the subset UnitMem was measured on."""
    units = read_units(unit_paths)
    units = units[units["role"] == "f"]
    if units.empty:
        raise ValueError("no unitmem rows of f encoders: UnitMem is measured on f (trained on S_C)")
    scores = read_scores(score_paths, require_estimate="ensemble")
    ensemble = scores[scores["estimate"] == "ensemble"]
    rows = []
    for (dataset, setup, method, arch, layer_index, layer, subset), group in units.groupby(
        [*SETUP_KEYS, "layer_index", "layer", "subset"], sort=True
    ):
        values = group["unitmem"].to_numpy(dtype=float)
        alive = values[~np.isnan(values)]
        own = ensemble[(ensemble["dataset"] == dataset) & (ensemble["setup"] == setup)
                       & (ensemble["subset"] == subset)].set_index("point_id")["m"]
        argmax_points = sorted(set(group.loc[~group["unitmem"].isna(), "argmax_point_id"]))
        rows.append({
            "dataset": dataset, "setup": setup, "method": method, "arch": arch, "layer_index": int(layer_index),
            "layer": layer, "subset": subset, "n_encoders": int(group["seed"].nunique()),
            "n_units": int(len(group) // max(1, group["seed"].nunique())), "n_undefined_units": int(values.size - alive.size),
            "unitmem_mean": float(alive.mean()) if alive.size else np.nan,
            "unitmem_median": float(np.median(alive)) if alive.size else np.nan,
            "unitmem_std": float(alive.std(ddof=1)) if alive.size > 1 else np.nan,
            "unitmem_p90": float(np.quantile(alive, 0.9)) if alive.size else np.nan,
            "n_argmax_points": len(argmax_points),
            "mean_m_argmax_points": float(own.reindex(argmax_points).mean()) if len(own) else np.nan,
            "mean_m_subset": float(own.mean()) if len(own) else np.nan,
        })
    table = pd.DataFrame(rows, columns=UNITMEM_COLUMNS)
    atomic_to_csv(table, out)
    return table
