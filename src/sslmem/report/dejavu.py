"""Déjà Vu memorisation beside SSLMem: Table 4 of the SSLMem paper (Sec. 4.5).

The same f/g encoders of a setup are measured twice: by Déjà Vu (Meehan et al. 2023; a kNN over a labelled public
set guesses each candidate's label from a corner crop, accuracy of f minus that of g;
``results/dejavu/<dataset>/<setup>.parquet``, written by ``sslmem dejavu``) and by SSLMem (``results/scores/...``).
Table 4 puts the two means side by side with f's linear-probe accuracy. The paper's claim is about the ranking of
methods: Déjà Vu scores MAE highest, SSLMem scores it lowest. The control S_E (points neither encoder trained on)
shows how large a gap f and g give without any memorisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from sslmem.artifacts import DEJAVU_COLUMNS, ROLES, ordered
from sslmem.io import atomic_to_csv
from sslmem.measures.dejavu import pair_gaps, pair_summary  # noqa: F401 (pair_summary: re-exported)
from sslmem.report.readers import load_paper_values, own_dataset_probes, paper_row, read_probes, read_scores, setup_text
from sslmem.stats import mean_std

CANDIDATES = "S_C"
CONTROL = "S_E"  # trained on by neither f nor g: a gap there is not memorisation

TABLE4_COLUMNS = [
    "dataset", "setup", "method", "arch", "representation", "epochs", "n_pairs", "n_candidates", "n_control",
    "n_public", "k", "crop", "confident_fraction", "sslmem_mean", "sslmem_std", "dejavu_mem_mean", "dejavu_mem_std",
    "dejavu_mem_confident_mean", "dejavu_mem_confident_std", "knn_acc_f", "knn_acc_g", "knn_acc_f_confident",
    "knn_acc_g_confident", "dejavu_mem_S_E_mean", "dejavu_mem_S_E_std", "dejavu_mem_confident_S_E_mean",
    "dejavu_mem_confident_S_E_std", "probe_top1_mean", "probe_top1_std", "paper_sslmem", "paper_sslmem_std",
    "paper_dejavu_mem", "paper_dejavu_mem_std", "paper_top1", "paper_top1_std", "paper_setup",
]


def read_dejavu(dejavu_paths) -> pd.DataFrame:
    """The Déjà Vu files (DEJAVU_COLUMNS, checked by name), one setup per file, in the order given."""
    paths = [Path(dejavu_paths)] if isinstance(dejavu_paths, (str, Path)) else [Path(p) for p in dejavu_paths]
    if not paths:
        raise ValueError("no Déjà Vu files given (results/dejavu/<dataset>/<setup>.parquet): list the setups to "
                         "compare in params.yaml report.table4.setups")
    frames = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"Déjà Vu file {path} does not exist (written by `sslmem dejavu`)")
        frame = ordered(pd.read_parquet(path), DEJAVU_COLUMNS, f"Déjà Vu file {path}")
        bad_roles = sorted(set(frame["role"]) - set(ROLES))
        if bad_roles or frame[["dataset", "setup"]].drop_duplicates().shape[0] != 1 or frame["entropy"].isna().any():
            raise ValueError(f"{path}: expected one setup's rows of encoders f and g, no NaN entropy "
                             f"(unknown roles: {bad_roles})")
        frames.append(frame.assign(source_file=str(path)))
    return pd.concat(frames, ignore_index=True)


def _gap_columns(gaps: pd.DataFrame, subset: str, suffix: str = "") -> dict:
    """Mean ± std over pairs (ddof=1; std empty for one pair) of the gaps on `subset`, named for Table 4."""
    rows = gaps[gaps["subset"] == subset]
    if rows.empty:
        raise ValueError(f"no {subset} points in the Déjà Vu file")
    mem, mem_std = mean_std(rows["dejavu"])
    confident, confident_std = mean_std(rows["dejavu_confident"])
    return {f"dejavu_mem{suffix}_mean": mem, f"dejavu_mem{suffix}_std": mem_std,
            f"dejavu_mem_confident{suffix}_mean": confident, f"dejavu_mem_confident{suffix}_std": confident_std}


def sslmem_per_pair(scores: pd.DataFrame, dataset: str, setup: str) -> tuple[float, float]:
    """SSLMem of a setup as Table 1 gives it: mean ± std over seeds of each pair's mean m over S_C."""
    pairs = scores[(scores["dataset"] == dataset) & (scores["setup"] == setup) & (scores["estimate"] == "pair")
                   & (scores["subset"] == CANDIDATES)]
    if pairs.empty:
        raise ValueError(f"{setup!r} on {dataset!r}: no pair scores of S_C in the SSLMem score files "
                         "(results/scores/<dataset>/<setup>.parquet); give the score file of the same encoders")
    return mean_std(pairs.groupby("seed")["m"].mean().to_numpy())


def _probe_columns(probes: pd.DataFrame, dataset: str, setup: str) -> dict:
    f = probes[(probes["dataset"] == dataset) & (probes["setup"] == setup) & (probes["role"] == "f")]
    top1, top1_std = mean_std(100.0 * f["top1"].to_numpy(dtype=float))
    return {"probe_top1_mean": top1, "probe_top1_std": top1_std}


def _paper_columns(paper: Mapping) -> dict:
    return {"paper_sslmem": paper.get("sslmem", np.nan), "paper_sslmem_std": paper.get("sslmem_std", np.nan),
            "paper_dejavu_mem": paper.get("dejavu", np.nan), "paper_dejavu_mem_std": paper.get("dejavu_std", np.nan),
            "paper_top1": paper.get("top1", np.nan), "paper_top1_std": paper.get("top1_std", np.nan),
            "paper_setup": setup_text(paper) if paper else ""}


def table4(dejavu_paths, score_paths, probe_paths, out, confident_fraction: float, crop: Mapping,
           identities: Mapping[str, Mapping] | None = None, paper_values_path=None) -> pd.DataFrame:
    """Table 4: per setup (in the order of `dejavu_paths`), SSLMem and Déjà Vu memorisation of the same f/g
    encoders and the linear-probe accuracy of f.

    * ``sslmem_mean``/``_std``: over f/g pairs of the pair's mean m over S_C (the core score files, as Table 1).
    * ``dejavu_mem_mean``/``_std``: over pairs of kNN accuracy of f − of g on S_C, in points of percent; the
      ``_confident`` variant on each encoder's most confident `confident_fraction` of S_C (lowest entropy of the
      neighbours' labels, Meehan et al.); ``knn_acc_*``: the accuracies themselves, mean over pairs.
    * ``dejavu_mem_S_E_*``: the same on the control S_E, which neither encoder trained on (≈ 0 expected).
    * ``probe_top1_mean``/``_std``: over the f encoders' linear-probe top-1 on their own dataset, in percent.
    * ``paper_*``: the paper's Table 4 row where ours is its run (dataset, method, backbone, epochs, recipe,
      encoder output: :func:`sslmem.report.readers.matches_paper_row` with `identities`); else empty.
    Std columns are empty (NaN) with a single pair.
    """
    dejavu = read_dejavu(dejavu_paths)
    scores = read_scores(score_paths)
    probes = own_dataset_probes(read_probes(probe_paths)) if probe_paths else None
    paper_rows = load_paper_values(paper_values_path)["table4"]
    identities = identities or {}
    rows = []
    for (dataset, setup), setup_rows in dejavu.groupby(["dataset", "setup"], sort=False):
        first = setup_rows.iloc[0]
        identity = identities.get(setup)
        gaps = pair_gaps(setup_rows, confident_fraction)
        candidates = gaps[gaps["subset"] == CANDIDATES]
        sslmem, sslmem_std = sslmem_per_pair(scores, dataset, setup)
        encoder_rows = setup_rows[(setup_rows["seed"] == first["seed"]) & (setup_rows["role"] == first["role"])]
        rows.append({
            "dataset": dataset, "setup": setup, "method": first["method"], "arch": first["arch"],
            "representation": first["representation"], "epochs": identity["epochs"] if identity else np.nan,
            "n_pairs": int(candidates["seed"].nunique()),
            "n_candidates": int((encoder_rows["subset"] == CANDIDATES).sum()),
            "n_control": int((encoder_rows["subset"] == CONTROL).sum()),
            "n_public": int(first["n_public"]), "k": int(first["k"]),
            "crop": f"{crop['corner']} {crop['fraction']:g}", "confident_fraction": confident_fraction,
            "sslmem_mean": sslmem, "sslmem_std": sslmem_std,
            **_gap_columns(gaps, CANDIDATES),
            **{f"knn_acc_{which}": float(candidates[f"acc_{which}"].mean())
               for which in ("f", "g", "f_confident", "g_confident")},
            **_gap_columns(gaps, CONTROL, suffix="_S_E"),
            **(_probe_columns(probes, dataset, setup) if probes is not None else {}),
            **_paper_columns(paper_row(paper_rows, dataset, identity, first["representation"])),
        })
    table = pd.DataFrame(rows, columns=TABLE4_COLUMNS)
    atomic_to_csv(table, out)
    return table
