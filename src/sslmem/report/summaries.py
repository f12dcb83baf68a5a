"""Per-setup summaries: Table 1 (SSLMem and probe accuracy), the per-subset summary (Fig. 2c in numbers),
Table 15 (backbones with parameter counts) and Table 11 (supervised vs SSL)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from sslmem.io import atomic_to_csv
from sslmem.artifacts import ESTIMATES, SETUP_KEYS, SUBSETS
from sslmem.report.readers import (
    load_paper_values,
    matches_paper_row,
    own_dataset_probes,
    paper_row,
    read_probes,
    read_scores,
    read_table,
    setup_text,
)
from sslmem.stats import bootstrap_ci, mean_std

TABLE1_COLUMNS = [
    "dataset", "setup", "method", "arch", "representation", "epochs", "n_seeds", "sslmem_mean", "sslmem_std", "sslmem_ensemble",
    "probe_top1_mean", "probe_top1_std", "paper_sslmem", "paper_sslmem_std", "paper_top1", "paper_top1_std",
    # Beyond the fixed columns: sizes, a bootstrap interval of the ensemble mean and the S_S offset.
    "seeds", "n_candidates", "sslmem_ensemble_ci_low", "sslmem_ensemble_ci_high", "offset_m_S_S",
    "n_probe_encoders",
]


def sslmem_summary(group: pd.DataFrame, n_boot: int, seed: int, level: float) -> dict:
    """SSLMem numbers of one (dataset, setup) from its score rows."""
    candidates = group[group["subset"] == "S_C"]
    pairs = candidates[candidates["estimate"] == "pair"]
    per_seed = pairs.groupby("seed")["m"].mean().sort_index()
    sslmem_mean, sslmem_std = mean_std(per_seed.to_numpy())
    ensemble = candidates.loc[candidates["estimate"] == "ensemble", "m"].to_numpy()
    ci_low, ci_high = bootstrap_ci(ensemble, n_boot=n_boot, seed=seed, level=level)
    shared = group.loc[(group["estimate"] == "ensemble") & (group["subset"] == "S_S"), "m"]
    return {
        "representation": group["representation"].iat[0],
        "n_seeds": int(per_seed.size),
        "sslmem_mean": sslmem_mean,
        "sslmem_std": sslmem_std,
        "sslmem_ensemble": float(ensemble.mean()) if ensemble.size else np.nan,
        "seeds": ";".join(str(int(s)) for s in per_seed.index),
        "n_candidates": int(candidates["point_id"].nunique()),
        "sslmem_ensemble_ci_low": ci_low,
        "sslmem_ensemble_ci_high": ci_high,
        "offset_m_S_S": float(shared.mean()) if len(shared) else np.nan,
    }


def table1(score_paths, probe_paths, out, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
           paper_values_path=None, identities: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """Table 1: SSLMem and linear-probe accuracy per (dataset, setup).

    * ``sslmem_mean``/``sslmem_std``: over seeds (ddof=1) of the per-seed SSLMem = mean m over S_C of that
      seed's "pair" rows; ``n_seeds`` counts them.
    * ``sslmem_ensemble``: mean m over S_C of the "ensemble" rows, with a percentile-bootstrap 95% interval
      over candidates (`n_boot` resamples, `seed`).
    * ``probe_top1_mean``/``probe_top1_std``: over the f encoders' probe top-1 on their own dataset (downstream
      rows of the probe files are left out), in percent.
    * ``representation``: what was scored; ``epochs``: the setup's training length (from `identities`).
    * ``paper_*``: the paper's Table 1 row with the same dataset (our image_folder is its ImageNet), method,
      backbone and epochs, when the setup scores the encoder's output as the paper; otherwise empty.
      `identities` maps a setup to {method, arch, epochs, representation} (:func:`sslmem.config.paper_identities`);
      a setup without one (its recipe changes more than the training length) gets no paper value.

    Setups present only in the scores or only in the probes get empty cells for the other side.
    Writes `out` atomically and returns the table.
    """
    scores = read_scores(score_paths)
    # None or [] : no probe results yet. Only the own-dataset rows: the accuracy Table 1 reports.
    probes = own_dataset_probes(read_probes(probe_paths)) if probe_paths else None
    paper_rows = load_paper_values(paper_values_path)["table1"]
    identities = identities or {}

    setups = set(map(tuple, scores[list(SETUP_KEYS)].drop_duplicates().to_numpy()))
    if probes is not None:
        setups |= set(map(tuple, probes[list(SETUP_KEYS)].drop_duplicates().to_numpy()))

    rows = []
    for dataset, setup, method, arch in sorted(setups):
        identity = identities.get(setup)
        row = {"dataset": dataset, "setup": setup, "method": method, "arch": arch,
               "epochs": identity["epochs"] if identity else np.nan}
        group = scores[(scores["dataset"] == dataset) & (scores["setup"] == setup)]
        if len(group):
            row.update(sslmem_summary(group, n_boot, seed, level))
        else:
            row.update(n_seeds=0)
        f_probes = pd.DataFrame()
        if probes is not None:
            f_probes = probes[(probes["dataset"] == dataset) & (probes["setup"] == setup) & (probes["role"] == "f")]
        # mean_std gives (NaN, NaN) when the setup has no probe results.
        top1_percent = 100.0 * f_probes["top1"].to_numpy(dtype=float) if len(f_probes) else []
        top1_mean, top1_std = mean_std(top1_percent)
        row.update(probe_top1_mean=top1_mean, probe_top1_std=top1_std, n_probe_encoders=int(len(f_probes)))
        paper = paper_row(paper_rows, dataset, identity, row.get("representation"))
        row.update(
            paper_sslmem=paper.get("sslmem", np.nan), paper_sslmem_std=paper.get("sslmem_std", np.nan),
            paper_top1=paper.get("top1", np.nan), paper_top1_std=paper.get("top1_std", np.nan),
        )
        rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE1_COLUMNS)
    atomic_to_csv(table, out)
    return table


# ----------------------------------------------------------------------------------------------------------
# Per-subset summary (Fig. 2c in numbers)
# ----------------------------------------------------------------------------------------------------------

SUBSET_SUMMARY_COLUMNS = [
    "dataset", "setup", "method", "arch", "representation", "estimate", "seed", "subset", "n", "mean_m", "std_m", "mean_m_ci_low",
    "mean_m_ci_high", "mean_align_f", "mean_align_g", "mean_m_raw", "paper_mean_m", "paper_setup",
]


def subset_summary(score_paths, out, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                   paper_values_path=None, identities: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """Per (dataset, setup, estimate, seed, subset): n, mean and std (ddof=1) of m, a bootstrap 95%
    interval of the mean m, mean align_f, align_g and m_raw. ``paper_mean_m`` is the paper's Sec. 4.2
    subset mean where our setup is the paper's (MAE ViT-tiny, CIFAR10, 600 epochs, encoder output; see
    :func:`table1` for `identities`), otherwise empty.
    Rows: ensemble first, then pair seeds ascending; subsets in the order S_C, S_S, S_I, S_E.
    """
    scores = read_scores(score_paths)
    paper = load_paper_values(paper_values_path)["subset_means"]
    subset_rank = {s: i for i, s in enumerate(SUBSETS)}
    estimate_rank = {e: i for i, e in enumerate(ESTIMATES)}
    identities = identities or {}
    rows = []
    for (dataset, setup, method, arch, representation, estimate, seed_value, subset), group in scores.groupby(
        [*SETUP_KEYS, "representation", "estimate", "seed", "subset"], sort=False
    ):
        m = group["m"].to_numpy(dtype=float)
        _, std_m = mean_std(m)
        ci_low, ci_high = bootstrap_ci(m, n_boot=n_boot, seed=seed, level=level)
        matches = matches_paper_row(paper["setup"], dataset, identities.get(setup), representation)
        rows.append({
            "dataset": dataset, "setup": setup, "method": method, "arch": arch, "representation": representation,
            "estimate": estimate,
            "seed": int(seed_value),
            "subset": subset, "n": int(m.size), "mean_m": float(m.mean()), "std_m": std_m,
            "mean_m_ci_low": ci_low, "mean_m_ci_high": ci_high,
            "mean_align_f": float(group["align_f"].mean()), "mean_align_g": float(group["align_g"].mean()),
            "mean_m_raw": float(group["m_raw"].mean()),
            "paper_mean_m": paper["means"].get(subset, np.nan) if matches else np.nan,
            "paper_setup": setup_text(paper["setup"]) if matches else "",
        })
    table = pd.DataFrame(rows, columns=SUBSET_SUMMARY_COLUMNS)
    table = table.sort_values(
        ["dataset", "setup", "estimate", "seed", "subset"],
        key=lambda col: col.map(estimate_rank) if col.name == "estimate"
        else col.map(subset_rank) if col.name == "subset" else col,
        kind="stable",
    ).reset_index(drop=True)
    atomic_to_csv(table, out)
    return table


# ----------------------------------------------------------------------------------------------------------
# Table 15: memorisation across ResNet backbones, with parameter counts
# ----------------------------------------------------------------------------------------------------------

TABLE15_COLUMNS = [
    "dataset", "setup", "method", "arch", "representation", "epochs", "n_params", "n_seeds", "sslmem_mean",
    "sslmem_std", "probe_top1_mean", "probe_top1_std", "paper_sslmem", "paper_sslmem_std", "paper_top1",
    "paper_top1_std", "paper_params_millions",
]
# Table 15 is SimCLR across ResNet-family backbones (WRN50-2, ResNet50, ResNet18 in the paper).
TABLE15_METHOD = "simclr"


def table15(table1_csv, parameter_counts, out, paper_values_path=None,
            identities: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """Table 15: the Table 1 rows of SimCLR on ResNet-family backbones, with each encoder's parameter count.

    `parameter_counts` maps (dataset, arch) to the number of encoder parameters (without heads). The paper's
    values (SimCLR on CIFAR10, 600 epochs) stand beside a row with the same dataset, backbone and epochs scored on
    the encoder output (`identities` as in :func:`table1`).
    """
    rows = read_table(table1_csv, "table1")
    rows = rows[(rows["method"] == TABLE15_METHOD) & rows["arch"].str.contains("resnet")].copy()
    rows["n_params"] = [parameter_counts[(d, a)] for d, a in zip(rows["dataset"], rows["arch"])]
    paper_rows = load_paper_values(paper_values_path)["table15"]
    identities = identities or {}
    paper_matches = [paper_row(paper_rows, d, identities.get(s), r)
                     for d, s, r in zip(rows["dataset"], rows["setup"], rows["representation"])]
    for key, column in (("sslmem", "paper_sslmem"), ("sslmem_std", "paper_sslmem_std"), ("top1", "paper_top1"),
                        ("top1_std", "paper_top1_std"), ("params_millions", "paper_params_millions")):
        rows[column] = [paper.get(key, np.nan) for paper in paper_matches]
    table = rows.sort_values("n_params", kind="stable")[TABLE15_COLUMNS].reset_index(drop=True)
    atomic_to_csv(table, out)
    return table


def table15_of_backbones(table1_csv, backbones: Sequence[dict], out, identities: Mapping[str, Mapping] | None = None):
    """:func:`table15` with the parameter counts measured here: `backbones` lists every trained (dataset, arch)
    with the arch's options (ViTs are counted too, but table15 keeps the ResNets)."""
    from sslmem.data.datasets import dataset_info  # torch: only this table needs it
    from sslmem.models import build_encoder, count_parameters

    counts = {}
    for backbone in backbones:
        dataset = backbone["dataset"]
        size = backbone["image_folder_size"] if dataset == "image_folder" else dataset_info(dataset).image_size
        encoder = build_encoder(backbone["arch"], size, **backbone["arch_options"])
        counts[(dataset, backbone["arch"])] = count_parameters(encoder)
    return table15(table1_csv, counts, out, identities=identities)


# ----------------------------------------------------------------------------------------------------------
# Table 11: supervised training vs SSL (App. B.3)
# ----------------------------------------------------------------------------------------------------------

TABLE11_COLUMNS = [
    "dataset", "setup", "method", "arch", "representation", "paradigm", "epochs", "n_seeds", "sslmem_mean",
    "sslmem_std", "probe_top1_mean", "probe_top1_std", "paper_row", "paper_sslmem", "paper_sslmem_std",
    "paper_top1", "paper_top1_std",
]


def table11(table1_csv, setup_epochs: Sequence[tuple[str, int]], out, paper_values_path=None,
            identities: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """Table 11: SSLMem and probe accuracy of supervised encoders (classifier head removed) beside SSL ones.

    `setup_epochs` lists (setup name, training epochs) in the order the rows should appear (params.yaml
    report.table11; empty: a table with the header only); the numbers are those of `table1_csv` for each
    dataset the setup ran on. ``paradigm`` is "supervised" for the supervised method, else "ssl". The paper's
    row (ResNet50 on CIFAR10: supervised 10/100 epochs, DINO 100/300 epochs) stands beside the row with the same
    dataset, method, backbone and epochs, scored on the encoder's output (`identities` as in :func:`table1`).
    """
    table1_rows = read_table(table1_csv, "table1")
    paper_rows = load_paper_values(paper_values_path)["table11"]
    identities = identities or {}
    rows = []
    for setup, epochs in setup_epochs:
        matching = table1_rows[table1_rows["setup"] == setup]
        if matching.empty:
            raise ValueError(
                f"table11: setup {setup!r} has no row in {table1_csv} (its setups: "
                f"{sorted(table1_rows['setup'].unique())}); list only setups of experiment.setups in report.table11"
            )
        for record in matching.to_dict("records"):
            paper = paper_row(paper_rows, record["dataset"], identities.get(setup), record["representation"])
            rows.append({
                **{key: record[key] for key in ("dataset", "setup", "method", "arch", "representation", "n_seeds",
                                                "sslmem_mean", "sslmem_std", "probe_top1_mean", "probe_top1_std")},
                "paradigm": "supervised" if record["method"] == "supervised" else "ssl",
                "epochs": int(epochs),
                "paper_row": paper.get("label", ""),
                "paper_sslmem": paper.get("sslmem", np.nan), "paper_sslmem_std": paper.get("sslmem_std", np.nan),
                "paper_top1": paper.get("top1", np.nan), "paper_top1_std": paper.get("top1_std", np.nan),
            })
    table = pd.DataFrame(rows, columns=TABLE11_COLUMNS)
    atomic_to_csv(table, out)
    return table
