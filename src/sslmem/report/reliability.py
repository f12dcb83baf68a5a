"""Reliability of the in/out per-point scores of the halves study: how far the ranking reproduces, what it costs
to make it reproduce, and whether it finds points of known answer (see :mod:`sslmem.measures.reliability`).

* ``results/reliability.csv``: per (dataset, setup), the split-half reliability of the trained pool points, of
  the same points ranked within their class, and of the placebo (every aligned point, pool and S_E, under a
  random balanced pseudo-membership); each row with the spread of its own placebo null over many draws
  (``null_sd``) and the fraction of draws at or above it (``p_null``).
* ``results/ranking_curve.csv``: the same measured on the first 2, 3, ... rounds, with the training time those
  rounds cost (the train logs' seconds: the wall clock of one-thread jobs, CPU time where each job had a core of
  its own): reliability against cost.
* ``results/canaries.csv``: where the study repeats canaries (studies.halves.repeats), their AUC against the
  other pool points after 1, 2, ... rounds: a point seen several times per epoch must rank higher.

Canaries are left out of the reliability rows (they would lend them an easy signal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sslmem.artifacts import SETUP_KEYS
from sslmem.data.training_sets import read_training_set
from sslmem.io import atomic_to_csv
from sslmem.measures.reliability import (auc, placebo_membership, placebo_split_halves, reliability, round_scores,
                                         split_half, spearman_brown)
from sslmem.report.figures import _panel_grid, save_figure
from sslmem.report.readers import read_table

NUMBERS = ["rounds", "encoders", "n_points", "r_one_round", "split_half", "split_half_full", "predicted_full",
           "rounds_for_0_7"]
RELIABILITY_COLUMNS = [*SETUP_KEYS, "points", *NUMBERS, "encoders_for_0_7", "null_draws", "null_sd", "p_null"]
CURVE_COLUMNS = [*SETUP_KEYS, "points", "rounds", "encoders", "train_minutes", "n_points", "r_one_round",
                 "split_half", "split_half_full", "predicted_full"]
CANARY_COLUMNS = [*SETUP_KEYS, "rounds", "encoders", "train_minutes", "copies", "n_canaries", "n_others", "auc",
                  "p_value", "n_top", "canaries_in_top", "chance_in_top", "mean_m_canaries", "mean_m_others"]
# trained: the pool's points ranked as they are; within_class: ranked within their class; placebo: the control.
POINT_KINDS = ("trained", "within_class", "placebo")
POINT_COLOURS = {"trained": "tab:red", "within_class": "tab:blue", "placebo": "tab:gray"}


def encoder_matrices(align_paths: Sequence[Path], set_paths: Sequence[Path], log_paths: Sequence[Path] = ()):
    """Per (dataset, setup): the points (point_id, source, subset, label), align [K, N], member [K, N], copies
    [N] (how often a point appears in the training sets that hold it: >1 for canaries), rounds, roles and the
    training seconds of each encoder (NaN without its train log)."""
    def encoder_key(path):
        return Path(path).parent.parent.name + "/" + Path(path).parent.name + "/" + Path(path).stem

    sets = {encoder_key(path): path for path in set_paths}
    logs = {encoder_key(path): path for path in log_paths}
    groups: dict[tuple, dict] = {}
    for path in map(Path, align_paths):
        frame = pd.read_parquet(path)
        key = tuple(frame[list(SETUP_KEYS)].iloc[0])
        role, seed = str(frame["role"].iat[0]), int(frame["seed"].iat[0])
        encoder = f"{key[0]}/{key[1]}/{role}{seed}"
        if encoder not in sets:
            raise ValueError(f"{path}: no training-set file of encoder {role}{seed} among the inputs")
        training_set, _ = read_training_set(sets[encoder])
        counts = training_set.groupby(["source", "point_id"]).size().to_dict()
        group = groups.setdefault(key, {"points": frame[["point_id", "source", "subset", "label"]], "align": [],
                                        "member": [], "copies": [], "rounds": [], "roles": [], "seconds": []})
        if not frame[["point_id", "source"]].equals(group["points"][["point_id", "source"]]):
            raise ValueError(f"{path}: aligned on other points than the other encoders of {key[1]}")
        copies = np.array([counts.get((s, p), 0) for s, p in zip(frame["source"], frame["point_id"])])
        group["align"].append(frame["align"].to_numpy())
        group["member"].append(copies > 0)
        group["copies"].append(copies)
        group["rounds"].append(seed)
        group["roles"].append(role)
        group["seconds"].append(float(pd.read_csv(logs[encoder])["seconds"].sum()) if encoder in logs else math.nan)
    for group in groups.values():
        group["align"], group["member"] = np.stack(group["align"]), np.stack(group["member"])
        group["copies"] = np.stack(group["copies"]).max(axis=0)
    return groups


def _point_sets(group: dict) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Per point kind: the columns (points), their membership [K, n] and the classes to centre on (or None)."""
    canary = group["copies"] > 1
    trained = group["member"].any(axis=0) & ~canary
    labels = group["points"]["label"].to_numpy()
    return {"trained": (trained, group["member"][:, trained], None),
            "within_class": (trained, group["member"][:, trained], labels[trained]),
            "placebo": (~canary, None, None)}  # its membership: a seeded draw (reliability_table)


def reliability_table(align_paths, training_set_paths, out, placebo_seed: int = 0, placebo_draws: int = 200,
                      ) -> pd.DataFrame:
    """One row per (dataset, setup) and point kind (POINT_KINDS); see the module docstring."""
    rows = []
    for key, group in sorted(encoder_matrices(align_paths, training_set_paths).items()):
        for kind, (columns, membership, classes) in _point_sets(group).items():
            align = group["align"][:, columns]
            if kind == "placebo":  # the row itself: one more draw of the seeded placebo, not among the null's
                membership = placebo_membership(align.shape[1], group["rounds"], group["roles"],
                                                [placebo_seed, placebo_draws])
            numbers = reliability(align, membership, group["rounds"], classes)
            null = placebo_split_halves(align, group["rounds"], group["roles"], placebo_seed, placebo_draws, classes)
            null = null[~np.isnan(null)]
            rows.append({**dict(zip(SETUP_KEYS, key)), "points": kind, **numbers,
                         "encoders_for_0_7": 2 * math.ceil(numbers["rounds_for_0_7"])
                         if not math.isnan(numbers["rounds_for_0_7"]) else math.nan,
                         "null_draws": len(null), "null_sd": float(null.std(ddof=1)) if len(null) > 1 else math.nan,
                         "p_null": float((1 + (null >= numbers["split_half"]).sum()) / (1 + len(null)))
                         if len(null) and not math.isnan(numbers["split_half"]) else math.nan})
    table = pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)
    atomic_to_csv(table, out)
    return table


def _minutes(group: dict, rounds: Sequence[int]) -> float:
    seconds = [s for s, r in zip(group["seconds"], group["rounds"]) if r in set(rounds)]
    return float(np.sum(seconds)) / 60


def _first_rounds(group: dict, count: int) -> np.ndarray:
    """Which encoders belong to the first `count` rounds (in seed order)."""
    return np.isin(group["rounds"], sorted(set(group["rounds"]))[:count])


def ranking_curve(align_paths, training_set_paths, train_log_paths, out) -> pd.DataFrame:
    """Reliability of the trained points (as ranked, and within class) on the first 2, 3, ..., R rounds, with the
    training minutes of those rounds' encoders."""
    rows = []
    for key, group in sorted(encoder_matrices(align_paths, training_set_paths, train_log_paths).items()):
        unique = sorted(set(group["rounds"]))
        for count in range(2, len(unique) + 1):
            encoders = _first_rounds(group, count)
            rounds = [r for r, keep in zip(group["rounds"], encoders) if keep]
            for kind, (columns, membership, classes) in _point_sets(group).items():
                if kind == "placebo":
                    continue
                numbers = reliability(group["align"][encoders][:, columns], membership[encoders], rounds, classes)
                rows.append({**dict(zip(SETUP_KEYS, key)), "points": kind,
                             "train_minutes": _minutes(group, unique[:count]),
                             **{name: numbers[name] for name in CURVE_COLUMNS if name in numbers}})
    table = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    atomic_to_csv(table, out)
    return table


def canaries_table(align_paths, training_set_paths, train_log_paths, out, top_fraction: float = 0.1) -> pd.DataFrame:
    """Per (dataset, setup) with canaries and R' = 1..R rounds: the canaries' AUC against the other pool points
    under the in/out score of the first R' rounds (one-sided Mann–Whitney p), and how many are in the top
    `top_fraction`. No rows where the study repeats no points."""
    rows = []
    for key, group in sorted(encoder_matrices(align_paths, training_set_paths, train_log_paths).items()):
        canary = group["copies"] > 1
        if not canary.any():
            continue
        pool = group["member"].any(axis=0)
        unique = sorted(set(group["rounds"]))
        for count in range(1, len(unique) + 1):
            encoders = _first_rounds(group, count)
            rounds = [r for r, keep in zip(group["rounds"], encoders) if keep]
            (m,) = round_scores(group["align"][encoders][:, pool], group["member"][encoders][:, pool], rounds,
                                [unique[:count]])
            positive = canary[pool]
            area, p_value = auc(m, positive)
            n_top = max(1, math.ceil(top_fraction * len(m)))
            top = np.argsort(-m, kind="stable")[:n_top]
            rows.append({**dict(zip(SETUP_KEYS, key)), "rounds": count, "encoders": int(encoders.sum()),
                         "train_minutes": _minutes(group, unique[:count]), "copies": int(group["copies"].max()),
                         "n_canaries": int(positive.sum()), "n_others": int((~positive).sum()), "auc": area,
                         "p_value": p_value, "n_top": n_top, "canaries_in_top": int(positive[top].sum()),
                         "chance_in_top": n_top / len(m) * positive.sum(),
                         "mean_m_canaries": float(m[positive].mean()), "mean_m_others": float(m[~positive].mean())})
    table = pd.DataFrame(rows, columns=CANARY_COLUMNS)
    atomic_to_csv(table, out)
    return table


def reliability_figure(reliability_csv, curve_csv, canaries_csv, out) -> None:
    """Per (dataset, setup): reliability against training minutes (dots: measured on the first rounds,
    split-half projected to them; line: Spearman–Brown from all rounds' one-round correlation; grey band: the
    placebo's ±2 null SD; dotted: 0.7), and beside it, where there are canaries, their AUC against rounds."""
    table, curve = read_table(reliability_csv, "reliability"), read_table(curve_csv, "ranking_curve")
    canaries = read_table(canaries_csv, "canaries")
    keys = sorted(set(map(tuple, table[["dataset", "setup"]].to_numpy())))
    panels = [(key, "reliability") for key in keys]
    panels += [(key, "canaries") for key in keys if ((canaries.dataset == key[0]) & (canaries.setup == key[1])).any()]
    figure, axes = _panel_grid(max(1, len(panels)))
    for ax, ((dataset, setup), kind) in zip(axes, panels):
        if kind == "reliability":
            _reliability_panel(ax, table[(table.dataset == dataset) & (table.setup == setup)],
                               curve[(curve.dataset == dataset) & (curve.setup == setup)])
        else:
            _canary_panel(ax, canaries[(canaries.dataset == dataset) & (canaries.setup == setup)])
        ax.set_title(f"{dataset} / {setup}: {'ranking reliability' if kind == 'reliability' else 'canaries'}",
                     fontsize=9)
    save_figure(figure, out)


def _reliability_panel(ax, rows: pd.DataFrame, curve: pd.DataFrame) -> None:
    full = rows.set_index("points")
    minutes_per_round = (curve["train_minutes"].max() / curve["rounds"].max()) if len(curve) else math.nan
    use_minutes = bool(len(curve)) and np.isfinite(minutes_per_round) and minutes_per_round > 0
    scale = minutes_per_round if use_minutes else 2.0  # x: training minutes, else encoders (2 per round)
    rounds = np.arange(1, 3 * max(int(full["rounds"].max()), 2) + 1)  # the line: up to 3x the rounds run
    if "placebo" in full.index:
        band = 2 * full.loc["placebo", "null_sd"]
        ax.axhspan(-band, band, color=POINT_COLOURS["placebo"], alpha=0.25, linewidth=0,
                   label=f"placebo: ±2 null SD (±{band:.2f})")
    for kind in ("trained", "within_class"):
        if kind not in full.index:
            continue
        colour, row = POINT_COLOURS[kind], full.loc[kind]
        ax.plot(rounds * scale, [spearman_brown(row["r_one_round"], r) for r in rounds], color=colour, linewidth=1,
                label=f"{kind}: Spearman–Brown from one round (r = {row['r_one_round']:.3f})")
        measured = curve[curve["points"] == kind]
        x = measured["train_minutes"] if use_minutes else 2 * measured["rounds"]
        ax.plot(x, measured["split_half_full"], "o", color=colour, markersize=3,
                label=f"{kind}: measured split half, first rounds "
                      f"({row['split_half_full']:.2f} at {int(row['rounds'])} rounds)")
    ax.axhline(0.7, color="black", linewidth=0.6, linestyle=":", label="0.7")
    ax.set_ylim(-0.2, 1.0)
    ax.set_xlabel("training minutes (train logs: wall clock, one thread per job)" if use_minutes else "encoders K")
    ax.set_ylabel("split-half reliability (Spearman), projected")
    ax.legend(fontsize=6, frameon=True, framealpha=0.9, loc="lower right")


def _canary_panel(ax, rows: pd.DataFrame) -> None:
    ax.plot(rows["encoders"], rows["auc"], "o-", color="tab:purple", markersize=3,
            label=f"{int(rows['n_canaries'].iat[0])} canaries, each {int(rows['copies'].iat[0])}× per epoch")
    ax.axhline(0.5, color="black", linewidth=0.6, linestyle=":", label="chance (0.5)")
    ax.set_ylim(0.3, 1.02)
    ax.set_xlabel("encoders K")
    ax.set_ylabel("AUC: canaries vs the other pool points")
    ax.legend(fontsize=6, frameon=False, loc="lower right")
