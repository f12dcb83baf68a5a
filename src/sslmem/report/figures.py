"""Figures 2a and 2c of the SSLMem paper and the LayerMem figure, from the tidy per-point score files.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, so no global backend state and
no display needed), one panel (LayerMem: one row of two) per (dataset, setup), and written atomically (temporary file in the target
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
# Fig. 2c's legend stands right of each panel (it must not cover the histograms): its panels are wider by about
# the width of the longest label, "S_C (n=40000, mean +0.0000)" at 7 pt.
LEGEND_WIDTH = 1.7  # inches
FIG2C_PANEL_SIZE = (PANEL_SIZE[0] + LEGEND_WIDTH, PANEL_SIZE[1])
# Fixed colours per subset so every panel and every run reads the same way.
SUBSET_COLOURS = {"S_C": "tab:red", "S_S": "tab:gray", "S_I": "tab:blue", "S_E": "tab:green"}
# PNG metadata matplotlib would otherwise add ("Software: matplotlib version ..."); None drops it.
PNG_METADATA = {"Software": None}

def _setup_groups(scores):
    """(title, rows) per (dataset, setup), sorted, from the ensemble rows."""
    ensemble = scores[scores["estimate"] == "ensemble"]
    for (dataset, setup, _method, _arch), group in ensemble.groupby(list(SETUP_KEYS), sort=True):
        yield f"{dataset} / {setup}", group


def _panel_grid(n_panels: int, max_columns: int = MAX_COLUMNS, panel_size=PANEL_SIZE) -> tuple[Figure, list]:
    n_columns = min(n_panels, max_columns)
    n_rows = math.ceil(n_panels / n_columns)
    figure = Figure(figsize=(panel_size[0] * n_columns, panel_size[1] * n_rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(n_rows, n_columns, squeeze=False).ravel().tolist()
    for unused in axes[n_panels:]:
        unused.set_visible(False)
    return figure, axes[:n_panels]


def save_figure(figure: Figure, out) -> None:
    atomic_save_figure(figure, out, dpi=DPI, metadata=PNG_METADATA)


def fig2c(score_paths, out) -> None:
    """Fig. 2c: the distribution of m per subset as empirical cumulative distribution functions, one panel per
    (dataset, setup).

    The paper shows histograms; with 100 points per subset, histograms of four overlaid subsets were mostly bin
    noise, while ECDFs show every point, need no bin width, and show a shift between subsets as a horizontal gap
    between curves (S_C right of S_S: candidates memorised more). Uses the ensemble estimate; the legend, right of
    each panel, gives each subset's n and mean m. Writes `out` atomically.
    """
    save_figure(fig2c_figure(read_scores(score_paths, require_estimate="ensemble")), out)


def fig2c_figure(scores) -> Figure:
    """The Fig. 2c figure of the ensemble rows of `scores` (see :func:`fig2c`), not yet saved."""
    groups = list(_setup_groups(scores))
    figure, axes = _panel_grid(len(groups), panel_size=FIG2C_PANEL_SIZE)
    for ax, (title, group) in zip(axes, groups):
        for subset in SUBSETS:
            m = group.loc[group["subset"] == subset, "m"].to_numpy(dtype=float)
            if m.size == 0:
                continue
            ax.ecdf(m, color=SUBSET_COLOURS[subset], linewidth=1.4,
                    label=f"{subset} (n={m.size}, mean {m.mean():+.4f})")
        ax.axvline(0.0, color="black", linewidth=0.6, linestyle=":")
        ax.set_ylim(0.0, 1.0)
        ax.set_title(f"{title}: m per subset", fontsize=9)
        ax.set_xlabel("memorisation score m (normalised, ensemble)")
        ax.set_ylabel("fraction of the subset ≤ m")
        _legend_right_of(ax)
    return figure


def _legend_right_of(ax) -> None:
    """The legend just outside the axes, to their right: inside, it covered the curves wherever it was put
    (the four subsets spread over the whole x range). Constrained layout makes room for it, and
    FIG2C_PANEL_SIZE is wider by LEGEND_WIDTH so the axes keep their size."""
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


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
    """LayerMem against layer depth, one row of two panels per (dataset, setup): left, LayerMem above the
    layer's S_S offset (the value the README says to read); right, the raw LayerMem, the offset and ΔLayerMem
    (bars), for context. Writes `out` atomically."""
    from sslmem.report.localization import layermem_frame

    save_figure(layermem_figure(layermem_frame(score_paths)), out)


def layermem_figure(table) -> Figure:
    """The LayerMem figure of a :func:`sslmem.report.localization.layermem_frame` table, not yet saved.

    Two panels, not one axis: the offset m(S_S) can be most of the raw LayerMem (README: 0.59 with an offset of
    0.61, and within ±0.03 above it), so on a shared y axis the part above the offset would look flat at zero."""
    groups = list(table.groupby(["dataset", "setup"], sort=True))
    figure, axes = _panel_grid(2 * len(groups), max_columns=2)
    for (above_ax, raw_ax), ((dataset, setup), group) in zip(zip(axes[0::2], axes[1::2]), groups):
        group = group.sort_values("layer_index")
        _plot_layermem_above_offset(above_ax, group, f"{dataset} / {setup}: above the S_S offset")
        _plot_layermem_raw(raw_ax, group, f"{dataset} / {setup}: raw, for context")
    _shared_legend_below(figure, axes[:2])
    return figure


def _shared_legend_below(figure: Figure, axes) -> None:
    """One legend for the whole figure, below the panels: every row shows the same series, and a legend
    inside a panel would cover bars or points."""
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.append(handle)
            labels.append(label)
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=7, frameon=False)


def _layer_axis(ax, group, title: str):
    """x positions of the layers (0, 1, …), layer names as tick labels, the zero line and the title."""
    x = np.arange(len(group))
    ax.axhline(0.0, color="black", linewidth=0.6, linestyle=":")
    ax.set_xticks(x)
    ax.set_xticklabels(group["layer"], rotation=90, fontsize=6)
    ax.set_xlabel("layer")
    ax.set_title(title, fontsize=9)
    return x


def _plot_layermem_above_offset(ax, group, title: str) -> None:
    x = _layer_axis(ax, group, title)
    ax.plot(x, group["layermem_above_offset"], color="#08519c", marker="o", markersize=3,
            label="LayerMem − m(S_S)", gid="layermem_above_offset")
    ax.set_ylabel("LayerMem above offset\n(mean m over S_C − mean m over S_S)", fontsize=8)


def _plot_layermem_raw(ax, group, title: str) -> None:
    x = _layer_axis(ax, group, title)
    ax.bar(x, group["delta_layermem"], color="#d9d9d9", label="ΔLayerMem (raw)", gid="delta_layermem")
    ax.plot(x, group["layermem"], color="#6baed6", marker="o", markersize=3, label="LayerMem (raw)",
            gid="layermem")
    ax.plot(x, group["offset_m_S_S"], color="#969696", linestyle="--", linewidth=1.0, label="offset m(S_S)",
            gid="offset_m_S_S")
    ax.set_ylabel("mean m (raw)", fontsize=8)
