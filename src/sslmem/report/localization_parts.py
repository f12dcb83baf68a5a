"""Localization study, items 1 and 2 (:mod:`sslmem.studies.localization`): ResNet9 layer by layer (LayerMem,
UnitMem, where the most memorising units sit; Fig. 1a) and a ViT's attention vs MLP branches (finding 4), from
the per-layer score files and per-unit files the align jobs write."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sslmem.artifacts import SETUP_KEYS
from sslmem.io import atomic_to_csv
from sslmem.pair_stats import pair_level_test
from sslmem.report.localization import layermem_frame
from sslmem.report.readers import read_layer_scores, read_units

RESNET9_COLUMNS = [
    "dataset", "setup", "method", "arch", "layer_index", "layer", "is_last_layer", "layermem", "delta_layermem",
    "layermem_above_offset", "layermem_pair_mean", "layermem_pair_std", "n_pairs", "n_encoders", "n_units",
    "n_undefined_units", "unitmem_mean", "unitmem_median", "unitmem_p90", "top_unit_share", "unit_share",
]
# A part of a ViT block by the suffix of its unit-layer name (sslmem.models.Encoder.part_units), and how its units
# are read (the unit_reading column).
PARTS = {".attn": "attn", ".mlp": "mlp", ".mlp.fc1": "mlp_hidden", ".mlp.act": "mlp_gelu"}
UNIT_READINGS = {
    "attn": "max(0, attention branch output channel)",
    "mlp": "max(0, MLP branch output channel)",
    "mlp_hidden": "max(0, fc1 pre-activation) of each hidden unit",
    "mlp_gelu": "GELU output of each hidden unit (as the core's UnitMem)",
}
VIT_PARTS_COLUMNS = [
    "dataset", "setup", "method", "arch", "block", "part", "unit_reading", "layermem", "layermem_pair_mean",
    "layermem_pair_std", "n_pairs", "n_encoders", "n_units", "n_undefined_units", "unitmem_mean", "unitmem_median",
    "unitmem_p90",
]
VIT_TEST_COLUMNS = [
    "dataset", "setup", "method", "arch", "measure", "block", "n_seeds", "mean_mlp", "mean_attn", "mean_diff",
    "t_stat", "p_value", "seeds_mlp_higher", "direction", "alpha", "holds", "note",
]
UNIT_KEYS = [*SETUP_KEYS, "layer_index", "layer"]


def unit_summary(units: pd.DataFrame) -> pd.DataFrame:
    """UnitMem per (setup, layer) over the units of every f encoder in `units`: encoders, units per encoder, undefined
    units (NaN: dead, or negative on average) and the mean, median and 90th percentile of the defined ones."""
    rows = []
    for keys, group in units.groupby(UNIT_KEYS, sort=True):
        values = group["unitmem"].to_numpy(dtype=float)
        alive = values[~np.isnan(values)]
        encoders = int(group["seed"].nunique())
        rows.append({**dict(zip(UNIT_KEYS, keys)), "n_encoders": encoders, "n_units": int(len(group) // encoders),
                     "n_undefined_units": int(values.size - alive.size),
                     "unitmem_mean": float(alive.mean()) if alive.size else np.nan,
                     "unitmem_median": float(np.median(alive)) if alive.size else np.nan,
                     "unitmem_p90": float(np.quantile(alive, 0.9)) if alive.size else np.nan})
    return pd.DataFrame(rows, columns=[*UNIT_KEYS, "n_encoders", "n_units", "n_undefined_units", "unitmem_mean",
                                       "unitmem_median", "unitmem_p90"])


def top_unit_shares(units: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Per (setup, layer): the share of each encoder's top `fraction` of units by UnitMem (over all its layers,
    ceil(fraction · defined units), ties broken by order) that lie in the layer, averaged over encoders, beside
    the layer's share of all the encoder's units. Equal shares: the most memorising units spread like the units."""
    rows = []
    for keys, encoder in units.groupby([*SETUP_KEYS, "seed"], sort=True):
        defined = encoder.dropna(subset=["unitmem"])
        k = math.ceil(fraction * len(defined))
        top = defined.sort_values("unitmem", ascending=False, kind="stable").head(k)
        for (layer_index, layer), part in encoder.groupby(["layer_index", "layer"], sort=True):
            in_top = int(((top["layer_index"] == layer_index)).sum())
            rows.append({**dict(zip([*SETUP_KEYS, "seed"], keys)), "layer_index": layer_index, "layer": layer,
                         "top_unit_share": in_top / k if k else np.nan, "unit_share": len(part) / len(encoder)})
    frame = pd.DataFrame(rows)
    return frame.groupby(UNIT_KEYS, sort=True)[["top_unit_share", "unit_share"]].mean().reset_index()


def _f_units(unit_paths) -> pd.DataFrame:
    units = read_units(unit_paths)
    units = units[units["role"] == "f"]
    if units.empty:
        raise ValueError("no unitmem rows of f encoders: UnitMem is measured on f (trained on S_C)")
    return units


def resnet9_table(layer_score_paths, unit_paths, out, top_unit_fraction: float = 0.1) -> pd.DataFrame:
    """LayerMem (:func:`sslmem.report.localization.layermem_frame`) and UnitMem (:func:`unit_summary`,
    :func:`top_unit_shares`) per layer of each setup, one row per (dataset, setup, layer)."""
    layers = layermem_frame(layer_score_paths)
    units = _f_units(unit_paths)
    merged = layers.merge(unit_summary(units), on=UNIT_KEYS, how="outer").merge(
        top_unit_shares(units, top_unit_fraction), on=UNIT_KEYS, how="left")
    last = merged.groupby(list(SETUP_KEYS))["layer_index"].transform("max")
    merged["is_last_layer"] = merged["layer_index"] == last
    table = merged.sort_values([*SETUP_KEYS, "layer_index"])[RESNET9_COLUMNS].reset_index(drop=True)
    atomic_to_csv(table, out)
    return table


def resnet9_figure(table_csv, unit_paths, out) -> None:
    """Left: the last layer's UnitMem per dataset and setup (box over every unit of every f encoder; Fig. 1a).
    Right: LayerMem and mean UnitMem per layer, one line per dataset and setup."""
    from matplotlib.figure import Figure

    from sslmem.report.figures import save_figure

    table = pd.read_csv(table_csv)
    units = _f_units(unit_paths).dropna(subset=["unitmem"])
    last = table[table["is_last_layer"]]
    figure = Figure(figsize=(11, 4), layout="constrained")
    left, middle, right = figure.subplots(1, 3)
    boxes, labels = [], []
    for row in last.itertuples():
        values = units.loc[(units["dataset"] == row.dataset) & (units["setup"] == row.setup)
                           & (units["layer"] == row.layer), "unitmem"]
        boxes.append(values.to_numpy())
        labels.append(f"{row.dataset}\n{row.setup}")
    if boxes:
        left.boxplot(boxes, tick_labels=labels)
    left.set(title="UnitMem of the last layer (Fig. 1a)", ylabel="UnitMem")
    for (dataset, setup), group in table.groupby(["dataset", "setup"], sort=True):
        middle.plot(group["layer"], group["layermem"], marker="o", label=f"{dataset} {setup}")
        right.plot(group["layer"], group["unitmem_mean"], marker="o", label=f"{dataset} {setup}")
    middle.set(title="LayerMem per layer", ylabel="LayerMem (mean m over S_C)")
    right.set(title="Mean UnitMem per layer", ylabel="UnitMem")
    for axis in (middle, right):
        axis.tick_params(axis="x", rotation=45)
        axis.legend(fontsize=7)
    save_figure(figure, out)


def part_of(layer: str) -> tuple[int, str]:
    """("block3.mlp.fc1") → (3, "mlp_hidden"): the block and part of a ViT part's layer name."""
    block, _, rest = layer.partition(".")
    if not block.startswith("block") or f".{rest}" not in PARTS:
        raise ValueError(f"{layer!r} is not a ViT part (block<i>.attn, .mlp, .mlp.fc1 or .mlp.act)")
    return int(block.removeprefix("block")), PARTS[f".{rest}"]


def _with_parts(frame: pd.DataFrame) -> pd.DataFrame:
    parsed = [part_of(layer) for layer in frame["layer"]]
    return frame.assign(block=[b for b, _ in parsed], part=[p for _, p in parsed])


def vit_parts_table(layer_score_paths, unit_paths, out) -> pd.DataFrame:
    """Per (dataset, setup, block, part): LayerMem of the attention and MLP branches and UnitMem of every part's
    units (:data:`UNIT_READINGS`)."""
    layers = _with_parts(layermem_frame(layer_score_paths)).drop(columns=["layer_index", "layer"])
    units = _with_parts(unit_summary(_f_units(unit_paths))).drop(columns=["layer_index", "layer"])
    keys = [*SETUP_KEYS, "block", "part"]
    table = layers.merge(units, on=keys, how="outer").assign(unit_reading=lambda t: t["part"].map(UNIT_READINGS))
    order = {part: index for index, part in enumerate(UNIT_READINGS)}
    table = table.sort_values([*SETUP_KEYS, "block", "part"], key=lambda c: c.map(order) if c.name == "part" else c)
    table = table[VIT_PARTS_COLUMNS].reset_index(drop=True)
    atomic_to_csv(table, out)
    return table


def _per_seed_parts(layer_score_paths, unit_paths) -> pd.DataFrame:
    """One value per (setup, measure, seed, block, part ∈ attn/mlp): the pair's mean m over S_C of the branch
    output (layermem) and the f encoder's mean defined UnitMem of the branch output's channels (unitmem)."""
    scores = read_layer_scores(layer_score_paths)
    pairs = scores[(scores["estimate"] == "pair") & (scores["subset"] == "S_C")]
    layer = pairs.groupby([*SETUP_KEYS, "seed", "layer"])["m"].mean().reset_index(name="value")
    units = _f_units(unit_paths).dropna(subset=["unitmem"])
    unit = units.groupby([*SETUP_KEYS, "seed", "layer"])["unitmem"].mean().reset_index(name="value")
    frame = pd.concat([_with_parts(layer).assign(measure="layermem"), _with_parts(unit).assign(measure="unitmem")])
    return frame[frame["part"].isin(["attn", "mlp"])]


def vit_parts_test(layer_score_paths, unit_paths, out, alpha: float = 0.01) -> pd.DataFrame:
    """Finding 4 tested over seeds: per (setup, measure, block and all blocks), the per-seed MLP − attention
    difference and a one-sided paired t-test over seeds (H1: MLP > attention)."""
    frame = _per_seed_parts(layer_score_paths, unit_paths)
    rows = []
    for keys, group in frame.groupby([*SETUP_KEYS, "measure"], sort=True):
        blocks = [(str(block), part) for block, part in group.groupby("block", sort=True)]
        overall = group.groupby(["seed", "part"])["value"].mean().reset_index()
        for block, part in [*blocks, ("all", overall)]:
            by_part = part.pivot_table(index="seed", columns="part", values="value")
            if not {"attn", "mlp"} <= set(by_part.columns):
                continue
            test = pair_level_test(by_part["mlp"], by_part["attn"], alternative="larger")
            rows.append({**dict(zip([*SETUP_KEYS, "measure"], keys)), "block": block, "n_seeds": test.n_pairs,
                         "mean_mlp": float(by_part["mlp"].mean()), "mean_attn": float(by_part["attn"].mean()),
                         "mean_diff": test.effect, "t_stat": test.t, "p_value": test.p_value,
                         "seeds_mlp_higher": test.pairs_holding,
                         "direction": "mlp > attn" if test.effect > 0 else "mlp <= attn", "alpha": alpha,
                         "holds": bool(test.p_value < alpha) if np.isfinite(test.p_value) else False,
                         "note": test.note})
    table = pd.DataFrame(rows, columns=VIT_TEST_COLUMNS)
    atomic_to_csv(table, out)
    return table
