"""Training curves: every encoder's per-epoch log as one tidy table, and a figure of the loss per setup.

The per-encoder logs (results/train_logs/<dataset>/<setup>/<role><seed>.csv, one row per epoch) are what
training writes; :func:`training_curves` stacks them, so that `dvc plots` and a reader have one file, and
:func:`fig_training` draws one panel per (dataset, setup) with a line per encoder (f solid, g dashed).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sslmem.artifacts import ENCODER_KEYS, TRAIN_LOG_COLUMNS, ordered
from sslmem.io import atomic_to_csv
from sslmem.report.figures import _panel_grid, save_figure
from sslmem.report.readers import read_table

ROLE_STYLES = {"f": "-", "g": "--"}


def read_train_logs(log_paths) -> pd.DataFrame:
    """The per-epoch logs of `log_paths` in one frame (columns TRAIN_LOG_COLUMNS), encoders in key order."""
    frames = []
    for path in map(Path, log_paths):
        if not path.is_file():
            raise FileNotFoundError(f"training log {path} does not exist (written when an encoder finishes training)")
        frames.append(ordered(pd.read_csv(path), TRAIN_LOG_COLUMNS, f"training log {path}"))
    if not frames:
        raise ValueError("no training logs given")
    logs = pd.concat(frames, ignore_index=True)
    return logs.sort_values([*ENCODER_KEYS, "epoch"], kind="stable").reset_index(drop=True)


def training_curves(log_paths, out) -> pd.DataFrame:
    """Write every encoder's per-epoch training log as one CSV (TRAIN_LOG_COLUMNS) and return it."""
    curves = read_train_logs(log_paths)
    atomic_to_csv(curves, out)
    return curves


def fig_training(curves_csv, out) -> None:
    """Training loss per epoch, one panel per (dataset, setup), one line per encoder (f solid, g dashed)."""
    curves = read_table(curves_csv, "training_curves")
    groups = list(curves.groupby(["dataset", "setup"], sort=True))
    figure, axes = _panel_grid(len(groups))
    for ax, ((dataset, setup), group) in zip(axes, groups):
        for (role, seed), encoder in group.groupby(["role", "seed"], sort=True):
            ax.plot(encoder["epoch"], encoder["loss"], ROLE_STYLES.get(role, ":"), linewidth=1,
                    label=f"{role}{seed}")
        ax.set_title(f"{dataset} / {setup}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=6, frameon=False, ncols=2)
    save_figure(figure, out)
