"""Figures 2a and 2c of the SSLMem paper and the LayerMem figure, from the tidy per-point score files.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, so no global backend state and
no display needed), one panel per (dataset, setup), and written atomically (temporary file in the target
folder, then ``os.replace``). The same input gives the same PNG bytes: no timestamps or software tags are
written into the file.

Example::

    from sslmem.report.figures import fig2c
    fig2c(["results/scores/fashion_mnist/simclr-resnet18.parquet"], "results/fig2c.png")
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sslmem.artifacts import SETUP_KEYS, SUBSETS
from sslmem.io import atomic_save_figure
from sslmem.report.readers import read_scores

DPI = 120
PANEL_SIZE = (4.2, 3.2)  # inches per panel; small files, readable labels
MAX_COLUMNS = 3
# Fixed colours per subset so every panel and every run reads the same way.
SUBSET_COLOURS = {"S_C": "tab:red", "S_S": "tab:gray", "S_I": "tab:blue", "S_E": "tab:green"}
# PNG metadata matplotlib would otherwise add ("Software: matplotlib version ..."); None drops it.
PNG_METADATA = {"Software": None}

def _setup_groups(scores):
    """(title, rows) per (dataset, setup), sorted, from the ensemble rows."""
    ensemble = scores[scores["estimate"] == "ensemble"]
    for (dataset, setup, _method, _arch), group in ensemble.groupby(list(SETUP_KEYS), sort=True):
        yield f"{dataset} / {setup}", group


def _panel_grid(n_panels: int) -> tuple[Figure, list]:
    n_columns = min(n_panels, MAX_COLUMNS)
    n_rows = math.ceil(n_panels / n_columns)
    figure = Figure(figsize=(PANEL_SIZE[0] * n_columns, PANEL_SIZE[1] * n_rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(n_rows, n_columns, squeeze=False).ravel().tolist()
    for unused in axes[n_panels:]:
        unused.set_visible(False)
    return figure, axes[:n_panels]


def save_figure(figure: Figure, out) -> None:
    atomic_save_figure(figure, out, dpi=DPI, metadata=PNG_METADATA)


def fig2c(score_paths, out, bins: int = 40) -> None:
    """Fig. 2c: overlaid step histograms (density) of m per subset, one panel per (dataset, setup).

    Uses the ensemble estimate; every subset of a panel shares the same bins so the shapes compare; the
    legend gives each subset's n and mean m. Writes `out` atomically.
    """
    scores = read_scores(score_paths, require_estimate="ensemble")
    groups = list(_setup_groups(scores))
    figure, axes = _panel_grid(len(groups))
    for ax, (title, group) in zip(axes, groups):
        low, high = float(group["m"].min()), float(group["m"].max())
        if low == high:  # a constant score still needs a bin of some width
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, bins + 1)
        for subset in SUBSETS:
            m = group.loc[group["subset"] == subset, "m"].to_numpy(dtype=float)
            if m.size == 0:
                continue
            ax.hist(m, bins=edges, density=True, histtype="step", linewidth=1.4, color=SUBSET_COLOURS[subset],
                    label=f"{subset} (n={m.size}, mean {m.mean():+.4f})")
        ax.axvline(0.0, color="black", linewidth=0.6, linestyle=":")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("memorisation score m")
        ax.set_ylabel("density")
        ax.legend(fontsize=7, frameon=False)
    save_figure(figure, out)


def fig2a(score_paths, out) -> None:
    """Fig. 2a: alignment loss on f (x) vs on g (y) for the candidates S_C, colour = m, with the line y = x.

    One panel per (dataset, setup), ensemble estimate (align_f/align_g averaged over the f/g encoders).
    Writes `out` atomically.
    """
    scores = read_scores(score_paths, require_estimate="ensemble")
    groups = list(_setup_groups(scores))
    figure, axes = _panel_grid(len(groups))
    for ax, (title, group) in zip(axes, groups):
        candidates = group[group["subset"] == "S_C"]
        if candidates.empty:
            raise ValueError(f"{group['source_file'].iat[0]}: no S_C rows with estimate 'ensemble' for fig2a")
        # Sort so the most memorised points are drawn last (on top); stable sort keeps the output deterministic.
        candidates = candidates.sort_values("m", kind="stable")
        align_f = candidates["align_f"].to_numpy(dtype=float)
        align_g = candidates["align_g"].to_numpy(dtype=float)
        points = ax.scatter(align_f, align_g, c=candidates["m"].to_numpy(dtype=float), cmap="viridis", s=5,
                            linewidths=0)
        low = float(min(align_f.min(), align_g.min()))
        high = float(max(align_f.max(), align_g.max()))
        ax.plot([low, high], [low, high], color="black", linewidth=0.8, linestyle="--", label="y = x")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("alignment loss on f")
        ax.set_ylabel("alignment loss on g")
        ax.legend(fontsize=7, frameon=False, loc="upper left")
        figure.colorbar(points, ax=ax, label="m")
    save_figure(figure, out)


def fig_layermem(score_paths, out) -> None:
    """LayerMem (line) and ΔLayerMem (bars) against layer depth, one panel per (dataset, setup)."""
    from sslmem.report.localization import layermem_frame

    table = layermem_frame(score_paths)
    groups = list(table.groupby(["dataset", "setup"], sort=True))
    figure, axes = _panel_grid(len(groups))
    for ax, ((dataset, setup), group) in zip(axes, groups):
        group = group.sort_values("layer_index")
        x = np.arange(len(group))
        ax.bar(x, group["delta_layermem"], color="#9ecae1", label="ΔLayerMem")
        ax.plot(x, group["layermem"], color="#08519c", marker="o", markersize=3, label="LayerMem")
        ax.axhline(0.0, color="black", linewidth=0.6, linestyle=":")
        ax.set_xticks(x)
        ax.set_xticklabels(group["layer"], rotation=90, fontsize=6)
        ax.set_title(f"{dataset} / {setup}", fontsize=9)
        ax.set_ylabel("mean m over S_C")
        ax.legend(fontsize=7, frameon=False)
    save_figure(figure, out)
