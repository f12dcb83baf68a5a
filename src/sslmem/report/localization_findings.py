"""The localization paper's findings side by side with ours: `results/localization_findings.csv`.

One row per (finding, dataset, setup): the paper's statement, the result it is measured in, what we computed and
a verdict. The verdict rests on the tests the source tables already made over seeds (encoders), never on points:

- ``holds``: every sub-test of the row (a layer, a block, a fraction) is significant at its α in the paper's
  direction;
- ``holds in part``: some are;
- ``direction only``: none is significant, but every estimate points the paper's way (too few seeds, or too
  small an effect, to tell);
- ``does not hold``: some estimate points the other way and none is significant;
- ``untested``: one seed (no test over encoders), with the sign of the estimate in the note;
- ``descriptive``: the paper's statement is a description (where units lie, how many memorise points rather
  than classes), measured without a test; the verdict says whether the description fits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sslmem.io import atomic_to_csv
from sslmem.report.unitmem_conditions import spearman_exact

FINDINGS_COLUMNS = ["finding", "paper", "source", "dataset", "setup", "measure", "ours", "n_seeds", "n_tests",
                    "n_significant", "n_paper_direction", "p_min", "alpha", "verdict"]

PAPER = {
    "depth": "(1) memorisation (LayerMem) increases with layer depth",
    "spread": "(1) highly memorising units are distributed across the entire encoder",
    "points_not_classes": "(2) SSL units memorise individual points (UnitMem > ClassMem), supervised units classes",
    "atypical": "(3) atypical points cause much higher layer and unit memorisation than typical ones",
    "vit_mlp": "(4) in ViTs most memorisation happens in the fully connected (MLP) layers",
    "training": "Fig. 4: UnitMem of the last layer grows over training",
    "augmentations": "Fig. 5: UnitMem is higher when trained with augmentations",
    "privacy": "Fig. 1c: stronger privacy (smaller ε) lowers UnitMem",
    "finetune": "fine-tuning the most memorising layer(s) beats fine-tuning the least memorising",
    "pruning": "pruning the highest-UnitMem units costs more accuracy than pruning the lowest or random ones",
}


def verdict(significant, direction, n_seeds: int) -> str:
    """The verdict of a row from its sub-tests' significance and direction (booleans) and its seeds."""
    significant, direction = np.asarray(significant, dtype=bool), np.asarray(direction, dtype=bool)
    if n_seeds < 2:
        return "untested"
    if significant.size and significant.all():
        return "holds"
    if significant.any():
        return "holds in part"
    return "direction only" if direction.size and direction.all() else "does not hold"


def _row(finding, source, dataset, setup, measure, ours, n_seeds, significant, direction, p_values, alpha) -> dict:
    p_values = np.asarray(p_values, dtype=float)
    return {"finding": finding, "paper": PAPER[finding], "source": source, "dataset": dataset, "setup": setup,
            "measure": measure, "ours": ours, "n_seeds": int(n_seeds), "n_tests": int(np.size(significant)),
            "n_significant": int(np.sum(significant)), "n_paper_direction": int(np.sum(direction)),
            "p_min": float(np.nanmin(p_values)) if np.isfinite(p_values).any() else np.nan, "alpha": alpha,
            "verdict": verdict(significant, direction, n_seeds)}


def depth_and_spread_rows(resnet9: pd.DataFrame, alpha: float) -> list[dict]:
    """Finding (1), per dataset and setup of the ResNet9 table: Spearman's ρ of LayerMem against depth (exact
    p over the layers of one build: a trend, not a test over encoders) and in how many layers the encoder's
    top units lie."""
    rows = []
    for (dataset, setup), group in resnet9.groupby(["dataset", "setup"], sort=True):
        group = group.sort_values("layer_index")
        n_seeds = int(group["n_pairs"].max())
        for column, name in (("layermem", "LayerMem"), ("unitmem_mean", "mean UnitMem")):
            if column not in group:
                continue
            rho, p_value = spearman_exact(group[column].to_numpy())
            rows.append(_row("depth", "localization_resnet9", dataset, setup, f"{name} against depth (Spearman ρ)",
                             f"ρ = {rho:.2f} over {len(group)} layers (p = {p_value:.2g}); {name} "
                             f"{group[column].iloc[0]:.3f} (first) → {group[column].iloc[-1]:.3f} (last)",
                             n_seeds, [p_value < alpha], [rho > 0], [p_value], alpha))
        with_top = int((group["top_unit_share"] > 0).sum())
        spread = _row("spread", "localization_resnet9", dataset, setup,
                                 "layers holding some of the encoder's top UnitMem units",
                                 f"{with_top} of {len(group)} layers; last layer {group['top_unit_share'].iloc[-1]:.0%}"
                                 f" of the top units ({group['unit_share'].iloc[-1]:.0%} of all units)",
                                 n_seeds, [], [], [np.nan], alpha)
        spread["verdict"] = "descriptive: " + ("fits" if with_top == len(group) else "does not fit")
        rows.append(spread)
    return rows


def points_not_classes_rows(classmem: pd.DataFrame) -> list[dict]:
    """Finding (2) from the ClassMem table: the share of units whose UnitMem exceeds their ClassMem, per setup
    (mean over layers); it fits when every SSL setup's share is above every supervised setup's."""
    shares = classmem.groupby(["dataset", "setup", "supervised"], sort=True)["fraction_unitmem_above_classmem"].mean()
    ssl, supervised = shares.xs(False, level="supervised"), shares.xs(True, level="supervised")
    fits = bool(len(ssl) and len(supervised) and ssl.min() > supervised.max())
    rows = []
    for (dataset, setup, is_supervised), share in shares.items():
        row = _row("points_not_classes", "classmem_vs_unitmem", dataset, setup,
                   "share of units with UnitMem > ClassMem (mean over layers)",
                   f"{share:.0%} ({'supervised' if is_supervised else 'SSL'}; SSL {ssl.min():.0%}–{ssl.max():.0%}, "
                   f"supervised {supervised.min():.0%}–{supervised.max():.0%})" if len(ssl) and len(supervised)
                   else f"{share:.0%}", 1, [], [], [np.nan], np.nan)
        row["verdict"] = "descriptive: " + ("fits" if fits else "does not fit")
        rows.append(row)
    return rows


def tested_rows(finding: str, source: str, frame: pd.DataFrame, keys: list[str], measure_of, ours_of,
                significant: str, direction, statistic: str) -> list[dict]:
    """Rows of a table that holds one test per line (over seeds): grouped by `keys`, each group one row."""
    rows = []
    for values, group in frame.groupby(keys, sort=True):
        key = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
        n_seeds = int(group["n_seeds"].max())
        paper_way = direction(group).to_numpy(dtype=bool)
        ours = ", ".join(ours_of(r) for r in group.itertuples(index=False))
        rows.append(_row(finding, source, key["dataset"], key["setup"], measure_of(key), ours, n_seeds,
                         group[significant].fillna(False).astype(bool).to_numpy(), paper_way,
                         group["p_value"].to_numpy(dtype=float), float(group["alpha"].iloc[0])))
        rows[-1]["ours"] += f" ({statistic}; {n_seeds} seed(s))" if statistic else ""
        if rows[-1]["verdict"] == "untested":
            rows[-1]["ours"] += "; one seed: " + ("the paper's direction" if paper_way.all() else
                                                  "not all in the paper's direction")
    return rows


def _effect(value: float) -> str:
    """A signed estimate, three significant digits."""
    return f"{value:+.3g}"


def findings_table(resnet9_csv, vit_test_csv, atypical_csv, classmem_csv, conditions_csv, finetune_csv,
                   pruning_csv, out, alpha: float) -> pd.DataFrame:
    """Write `results/localization_findings.csv` (see the module docstring) from the localization results."""
    rows = depth_and_spread_rows(pd.read_csv(resnet9_csv), alpha)
    rows += points_not_classes_rows(pd.read_csv(classmem_csv))
    atypical = pd.read_csv(atypical_csv)
    rows += tested_rows("atypical", "localization_atypical", atypical, ["dataset", "setup", "comparison", "measure"],
                        lambda k: (f"Kendall τ of a point's SSLMem and its UnitMem, per layer" if "tau" in k["comparison"]
                                   else f"{k['comparison']}: {k['measure']} per layer, high vs low group"),
                        lambda r: f"{r.layer} {_effect(r.effect)} (p {r.p_value:.2g})", "holds",
                        lambda g: g["effect"] > 0, "paired t over seeds")
    vit = pd.read_csv(vit_test_csv)
    rows += tested_rows("vit_mlp", "localization_vit_parts_test", vit[vit["block"].astype(str) == "all"],
                        ["dataset", "setup", "measure"], lambda k: f"{k['measure']}: MLP − attention, all blocks",
                        lambda r: f"{r.mean_mlp:.3f} vs {r.mean_attn:.3f} (p {r.p_value:.2g})", "holds",
                        lambda g: g["mean_diff"] > 0, "paired t over seeds")
    conditions = pd.read_csv(conditions_csv)
    for condition in ("training", "augmentations", "privacy"):
        part = conditions[conditions["condition"] == condition]
        rows += tested_rows(condition, "unitmem_condition_tests", part, ["dataset", "setup"],
                            lambda k, c=condition: f"UnitMem of the last layer: {c}",
                            lambda r: f"{r.comparison}: {_effect(r.statistic if np.isnan(r.mean_difference) else r.mean_difference)}"
                                      f" (p {r.p_value:.2g})", "significant",
                            lambda g: g["direction_holds"].fillna(False).astype(bool), "")
    finetune = pd.read_csv(finetune_csv)
    rows += tested_rows("finetune", "finetune_by_layermem", finetune[finetune["comparison"] == "most_vs_least"],
                        ["dataset", "setup"], lambda k: "downstream top-1: most vs least memorising layer unfrozen",
                        lambda r: f"{r.layers_a} vs {r.layers_b}: {r.top1_a_mean:.1f} vs {r.top1_b_mean:.1f} % "
                                  f"(p {r.p_value:.2g})", "significant",
                        lambda g: g["direction_holds"].fillna(False).astype(bool), "paired t over seeds")
    pruning = pd.read_csv(pruning_csv)
    rows += tested_rows("pruning", "pruning_by_unitmem", pruning, ["dataset", "setup", "comparison"],
                        lambda k: f"linear-probe top-1 after pruning: {k['comparison']}",
                        lambda r: f"{r.fraction:g}: {r.top1_a_mean:.1f} vs {r.top1_b_mean:.1f} % (p {r.p_value:.2g})",
                        "significant", lambda g: g["direction_holds"].fillna(False).astype(bool),
                        "paired t over seeds")
    table = pd.DataFrame(rows, columns=FINDINGS_COLUMNS)
    atomic_to_csv(table, out)
    return table
