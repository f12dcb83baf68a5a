"""Reliability of the in/out per-point scores of the halves study: a table and a figure over the number of
encoders (see :mod:`sslmem.measures.reliability` for the definitions).

Trained points are the pool's (each in half of the encoders); the control is S_E, which no encoder saw, scored
with a random balanced pseudo-membership: its reliability must be near 0, or the score would be measuring
something other than memorisation (a point's typicality, say).
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
from sslmem.measures.reliability import placebo_membership, reliability, spearman_brown
from sslmem.report.figures import _panel_grid, save_figure
from sslmem.report.readers import read_table

RELIABILITY_COLUMNS = [*SETUP_KEYS, "points", "n_points", "rounds", "encoders", "r_one_round", "split_half",
                       "split_half_full", "predicted_full", "rounds_for_0_7", "encoders_for_0_7"]
POINT_COLOURS = {"trained": "tab:red", "unseen": "tab:gray"}


def _encoder_matrices(align_paths: Sequence[Path], set_paths: Sequence[Path]):
    """Per (dataset, setup): the points (POINT_KEYS frame), align [K, N], member [K, N], rounds, roles."""
    sets = {Path(path).parent.parent.name + "/" + Path(path).parent.name + "/" + Path(path).stem: path
            for path in set_paths}
    groups: dict[tuple, dict] = {}
    for path in map(Path, align_paths):
        frame = pd.read_parquet(path)
        key = tuple(frame[list(SETUP_KEYS)].iloc[0])
        role, seed = str(frame["role"].iat[0]), int(frame["seed"].iat[0])
        set_path = sets.get(f"{key[0]}/{key[1]}/{role}{seed}")
        if set_path is None:
            raise ValueError(f"{path}: no training-set file of encoder {role}{seed} among the inputs")
        training_set, _ = read_training_set(set_path)
        inside = set(zip(training_set["source"], training_set["point_id"]))
        group = groups.setdefault(key, {"points": frame[["point_id", "source", "subset"]], "align": [], "member": [],
                                        "rounds": [], "roles": []})
        if not frame[["point_id", "source"]].equals(group["points"][["point_id", "source"]]):
            raise ValueError(f"{path}: aligned on other points than the other encoders of {key[1]}")
        group["align"].append(frame["align"].to_numpy())
        group["member"].append(np.array([(s, p) in inside for s, p in zip(frame["source"], frame["point_id"])]))
        group["rounds"].append(seed)
        group["roles"].append(role)
    return groups


def reliability_table(align_paths, training_set_paths, out, placebo_seed: int = 0) -> pd.DataFrame:
    """One row per (dataset, setup) and point kind (trained: the pool; unseen: S_E with a pseudo-membership)."""
    rows = []
    for key, group in sorted(_encoder_matrices(align_paths, training_set_paths).items()):
        align, member = np.stack(group["align"]), np.stack(group["member"])
        unseen = (group["points"]["subset"] == "S_E").to_numpy()
        trained = member.any(axis=0)
        placebo = placebo_membership(int(unseen.sum()), group["rounds"], group["roles"], placebo_seed)
        for kind, columns, membership in (("trained", trained, member[:, trained]),
                                          ("unseen", unseen, placebo)):
            numbers = reliability(align[:, columns], membership, group["rounds"])
            rows.append({**dict(zip(SETUP_KEYS, key)), "points": kind, **numbers,
                         "encoders_for_0_7": 2 * math.ceil(numbers["rounds_for_0_7"])
                         if not math.isnan(numbers["rounds_for_0_7"]) else math.nan})
    table = pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)
    atomic_to_csv(table, out)
    return table


def reliability_figure(reliability_csv, out, max_encoders: int = 64) -> None:
    """Reliability against the number of encoders K, per (dataset, setup): Spearman–Brown from one round's
    reliability (lines), the split-half value projected to all rounds (markers), trained vs unseen points."""
    table = read_table(reliability_csv, "reliability")
    groups = list(table.groupby(["dataset", "setup"], sort=True))
    figure, axes = _panel_grid(len(groups))
    encoders = np.arange(2, max_encoders + 1, 2)
    for ax, ((dataset, setup), group) in zip(axes, groups):
        for row in group.itertuples():
            colour = POINT_COLOURS.get(row.points, "black")
            ax.plot(encoders, [spearman_brown(row.r_one_round, k / 2) for k in encoders], color=colour,
                    label=f"{row.points} (one round: {row.r_one_round:.2f})")
            ax.plot([row.encoders], [row.split_half_full], "o", color=colour)
        ax.axhline(0.7, color="black", linewidth=0.5, linestyle=":")
        ax.set_ylim(-0.2, 1.0)
        ax.set_title(f"{dataset} / {setup}", fontsize=9)
        ax.set_xlabel("encoders K (K/2 with each point)")
        ax.set_ylabel("split-half reliability (Spearman)")
        ax.legend(fontsize=6, frameon=False, loc="lower right")
    save_figure(figure, out)
