"""Tables and figures of the recipe-variants studies (:mod:`sslmem.studies.variants`): per level, the SSLMem and
accuracy of the derived setup's encoders beside the run's own setup (the level "none": ε = ∞, λ = 0)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sslmem.io import atomic_to_csv
from sslmem.report.figures import _panel_grid, save_figure
from sslmem.report.readers import own_dataset_probes, read_probes, read_scores, read_table
from sslmem.report.summaries import sslmem_summary
from sslmem.stats import mean_std

MEASURED_COLUMNS = ["n_seeds", "sslmem_mean", "sslmem_std", "minus_shared_mean", "minus_shared_std",
                    "probe_top1_mean", "probe_top1_std"]


def candidates_minus_shared(group: pd.DataFrame) -> np.ndarray:
    """Per f/g pair: mean m over S_C − mean m over S_S. A pair's global offset (its f and g differing on every point,
    trained or not) moves both means alike, so this is the part of SSLMem that is about the candidates."""
    pairs = group[group["estimate"] == "pair"]
    means = pairs.groupby(["seed", "subset"])["m"].mean().unstack()
    if not {"S_C", "S_S"} <= set(means.columns):
        return np.array([])
    return (means["S_C"] - means["S_S"]).to_numpy()


def measured(dataset: str, setup: str, scores: pd.DataFrame, probes: pd.DataFrame) -> dict:
    """SSLMem (mean m over S_C per f/g pair; mean ± std over pairs), the same less each pair's S_S mean, and probe
    top-1 (%) of the f encoders."""
    group = scores[(scores["dataset"] == dataset) & (scores["setup"] == setup)]
    summary = sslmem_summary(group, n_boot=1, seed=0, level=0.95) if len(group) else {"n_seeds": 0}
    minus_mean, minus_std = mean_std(candidates_minus_shared(group) if len(group) else [])
    own = probes[(probes["dataset"] == dataset) & (probes["setup"] == setup) & (probes["role"] == "f")]
    top1_mean, top1_std = mean_std(100.0 * own["top1"].to_numpy(dtype=float))
    return {"n_seeds": summary["n_seeds"], "sslmem_mean": summary.get("sslmem_mean", np.nan),
            "sslmem_std": summary.get("sslmem_std", np.nan), "minus_shared_mean": minus_mean,
            "minus_shared_std": minus_std, "probe_top1_mean": top1_mean, "probe_top1_std": top1_std}


def read_with_variants(score_paths, probe_paths, variant_score_paths, variant_probe_paths):
    scores = pd.concat([read_scores(score_paths), read_scores(variant_score_paths)], ignore_index=True)
    probes = own_dataset_probes(pd.concat([read_probes(probe_paths), read_probes(variant_probe_paths)],
                                          ignore_index=True))
    return scores, probes


def variant_table(score_paths, probe_paths, variant_score_paths, variant_probe_paths, out,
                  levels: Mapping[str, Mapping], level_name: str) -> pd.DataFrame:
    """Rows per (dataset, setup): level 0 (the setup's own encoders), then every derived setup by level.
    `levels` maps a derived setup's name to {setup, level}."""
    scores, probes = read_with_variants(score_paths, probe_paths, variant_score_paths, variant_probe_paths)
    rows = []
    present = set(map(tuple, scores[["dataset", "setup"]].drop_duplicates().to_numpy()))
    for dataset in sorted({dataset for dataset, _ in present}):
        bases = sorted({level["setup"] for name, level in levels.items() if (dataset, name) in present})
        for base in bases:
            ordered = [(base, 0.0, "")] + sorted(((name, level["level"], name) for name, level in levels.items()
                                                  if level["setup"] == base and (dataset, name) in present),
                                                 key=lambda item: item[1])
            for source, level, variant in ordered:
                method_arch = scores.loc[scores["setup"] == source, ["method", "arch"]].drop_duplicates()
                rows.append({"dataset": dataset, "setup": base, "variant_setup": variant, level_name: level,
                             "method": method_arch["method"].iat[0], "arch": method_arch["arch"].iat[0],
                             **measured(dataset, source, scores, probes)})
    table = pd.DataFrame(rows, columns=["dataset", "setup", "variant_setup", "method", "arch", level_name,
                                        *MEASURED_COLUMNS])
    atomic_to_csv(table, out)
    return table


def variant_figure(table_csv, out, level_name: str) -> None:
    """SSLMem and probe accuracy against the level, one line per (dataset, setup) and variant kind."""
    table = read_table(table_csv, "the variants table")
    figure, axes = _panel_grid(2)
    left, right = axes
    for (dataset, setup), group in table.groupby(["dataset", "setup"], sort=True):
        group = group.sort_values(level_name)
        for axis, column in ((left, "sslmem"), (right, "probe_top1")):
            axis.errorbar(group[level_name], group[f"{column}_mean"], yerr=group[f"{column}_std"].fillna(0),
                          marker="o", capsize=3, label=f"{setup} ({dataset})")
        left.plot(group[level_name], group["minus_shared_mean"], linestyle="--", marker="x",
                  label=f"{setup} ({dataset}): S_C − S_S")
    label = {"lambda": "λ (Eq. 3; 0: no regulariser)"}.get(level_name, level_name)
    for axis, ylabel, title in ((left, "SSLMem (dashed: S_C − S_S)", "memorisation"),
                                (right, "linear-probe top-1 (%)", "downstream accuracy")):
        axis.set_xlabel(label)
        axis.set_ylabel(ylabel)
        axis.set_title(f"{title} against {label.split(' (')[0]} (mean ± std, f/g pairs)", fontsize=9)
    left.axhline(0.0, color="black", linewidth=0.5, linestyle=":")
    left.legend(fontsize="small")
    save_figure(figure, out)


TABLE9_COLUMNS = ["dataset", "setup", "variant", "variant_setup", "change", "method", "arch", *MEASURED_COLUMNS,
                  "paper_sslmem", "paper_sslmem_std", "paper_top1", "paper_top1_std"]


def table9(score_paths, probe_paths, variant_score_paths, variant_probe_paths, out, levels: Mapping[str, Mapping],
           variant_changes: Mapping[str, Mapping], identities: Mapping | None = None,
           paper_values_path=None) -> pd.DataFrame:
    """Rows per (dataset, setup): its own recipe (variant "recipe"), then its variants in params order. The paper's
    Table 9 stands beside a row when the setup is the paper's run (:func:`matches_paper_row`) and the variant has
    the paper's name for it (params.yaml's default names: crop_only, crop_resize, gaussian_noise, masking, mask50,
    mask80, mask90; MAE's own recipe is the paper's 75 % row)."""
    import json

    from sslmem.report.readers import load_paper_values, matches_paper_row

    scores, probes = read_with_variants(score_paths, probe_paths, variant_score_paths, variant_probe_paths)
    paper = load_paper_values(paper_values_path)["table9"]
    identities = identities or {}
    present = set(map(tuple, scores[["dataset", "setup"]].drop_duplicates().to_numpy()))
    rows = []
    for dataset in sorted({dataset for dataset, _ in present}):
        bases = list(dict.fromkeys(level["setup"] for name, level in levels.items() if (dataset, name) in present))
        for base in bases:
            paper_rows = next((part["rows"] for part in paper.values()
                               if matches_paper_row(part["setup"], dataset, identities.get(base))), [])
            ordered = [(base, "recipe", "")] + [(name, level["variant"], name) for name, level in levels.items()
                                                 if level["setup"] == base and (dataset, name) in present]
            for source, variant, variant_setup in ordered:
                method_arch = scores.loc[scores["setup"] == source, ["method", "arch"]].drop_duplicates()
                match = next((row for row in paper_rows if row["variant"] == variant), {})
                rows.append({"dataset": dataset, "setup": base, "variant": variant, "variant_setup": variant_setup,
                             "change": json.dumps(dict(variant_changes.get(variant, {})), sort_keys=True),
                             "method": method_arch["method"].iat[0], "arch": method_arch["arch"].iat[0],
                             **measured(dataset, source, scores, probes),
                             "paper_sslmem": match.get("sslmem", np.nan),
                             "paper_sslmem_std": match.get("sslmem_std", np.nan),
                             "paper_top1": match.get("top1", np.nan), "paper_top1_std": match.get("top1_std", np.nan)})
    table = pd.DataFrame(rows, columns=TABLE9_COLUMNS)
    atomic_to_csv(table, out)
    return table
