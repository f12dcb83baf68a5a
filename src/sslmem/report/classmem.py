"""ClassMem beside UnitMem: the localization paper's Fig. 3 (and the comparison of its Fig. 2), per layer.

Every unit of the f encoders of report.classmem's setups is measured twice on the same class-balanced sample of
their training points (``results/classmem/<dataset>/<setup>/f<seed>.parquet``, written by ``sslmem classmem``):
UnitMem, how much one point alone activates it, and ClassMem, how much one class alone does. The paper's claim:
in SSL encoders most units memorise points (UnitMem > ClassMem), in supervised ones classes (ClassMem > UnitMem).
The table gives, per (dataset, setup, layer), both means and medians over units, the fraction of units with
UnitMem > ClassMem and a paired Wilcoxon signed-rank test of UnitMem − ClassMem across units; the figure is the
paper's scatter of ClassMem against UnitMem per unit with the line y = x, one row for the SSL setups and one for
the supervised ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sslmem.artifacts import CLASSMEM_COLUMNS, ordered
from sslmem.io import atomic_to_csv
from sslmem.stats import wilcoxon_signed_rank

SUPERVISED_METHOD = "supervised"
# The figure's rows, in this order: the paper's top row is SSL (SimCLR), its bottom row supervised.
KINDS = (("SSL", False), ("supervised", True))

CLASSMEM_TABLE_COLUMNS = [
    "dataset", "setup", "method", "arch", "supervised", "layer_index", "layer", "subset", "points_per_class",
    "n_classes", "n_points", "n_encoders", "n_units", "n_undefined_units", "n_units_compared", "unitmem_mean",
    "unitmem_median", "classmem_mean", "classmem_median", "unitmem_minus_classmem_mean",
    "fraction_unitmem_above_classmem", "wilcoxon_statistic", "wilcoxon_p",
]


def read_classmem(classmem_paths) -> pd.DataFrame:
    """The per-unit ClassMem files (CLASSMEM_COLUMNS, checked by name), in the order given, with `supervised`."""
    paths = [Path(classmem_paths)] if isinstance(classmem_paths, (str, Path)) else [Path(p) for p in classmem_paths]
    if not paths:
        raise ValueError("no ClassMem files given (results/classmem/<dataset>/<setup>/f<seed>.parquet): list the "
                         "setups to compare in params.yaml report.classmem.setups")
    frames = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"ClassMem file {path} does not exist (written by `sslmem classmem`)")
        frame = ordered(pd.read_parquet(path), CLASSMEM_COLUMNS, f"ClassMem file {path}")
        if (frame["role"] != "f").any():
            raise ValueError(f"{path}: rows of encoders {sorted(set(frame['role']))}; ClassMem is measured on f")
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    return frame.assign(supervised=frame["method"] == SUPERVISED_METHOD)


def unit_vs_class(unitmem, classmem) -> dict:
    """How UnitMem and ClassMem of the same units compare: over the units where both are defined (not NaN),
    their means and medians, the mean difference, the fraction with UnitMem > ClassMem (ties count as not above)
    and the two-sided Wilcoxon signed-rank test of UnitMem − ClassMem."""
    unitmem = np.asarray(unitmem, dtype=float)
    classmem = np.asarray(classmem, dtype=float)
    both = ~np.isnan(unitmem) & ~np.isnan(classmem)
    unit, klass = unitmem[both], classmem[both]
    test = wilcoxon_signed_rank(unit, klass)
    empty = not both.any()
    return {
        "n_undefined_units": int((~both).sum()), "n_units_compared": int(both.sum()),
        "unitmem_mean": np.nan if empty else float(unit.mean()),
        "unitmem_median": np.nan if empty else float(np.median(unit)),
        "classmem_mean": np.nan if empty else float(klass.mean()),
        "classmem_median": np.nan if empty else float(np.median(klass)),
        "unitmem_minus_classmem_mean": np.nan if empty else float((unit - klass).mean()),
        "fraction_unitmem_above_classmem": np.nan if empty else float((unit > klass).mean()),
        "wilcoxon_statistic": test.statistic, "wilcoxon_p": test.p_value,
    }


def classmem_table(classmem_paths, out) -> pd.DataFrame:
    """Per (dataset, setup, layer), setups in the order of the files and layers in forward order: UnitMem and
    ClassMem of the units of the setup's f encoders, pooled over encoders (seeds), compared by
    :func:`unit_vs_class`. `n_units`: units per encoder; `n_undefined_units`: over all encoders, those where either
    measure is NaN (dead units, or activations negative on average)."""
    units = read_classmem(classmem_paths)
    rows = []
    for (dataset, setup), setup_rows in units.groupby(["dataset", "setup"], sort=False):
        first = setup_rows.iloc[0]
        n_encoders = int(setup_rows["seed"].nunique())
        for (layer_index, layer), group in setup_rows.groupby(["layer_index", "layer"], sort=True):
            rows.append({
                "dataset": dataset, "setup": setup, "method": first["method"], "arch": first["arch"],
                "supervised": bool(first["supervised"]), "layer_index": int(layer_index), "layer": layer,
                "subset": first["subset"], "points_per_class": int(first["points_per_class"]),
                "n_classes": int(first["n_classes"]), "n_points": int(first["n_points"]), "n_encoders": n_encoders,
                "n_units": int(len(group) // n_encoders),
                **unit_vs_class(group["unitmem"], group["classmem"]),
            })
    table = pd.DataFrame(rows, columns=CLASSMEM_TABLE_COLUMNS)
    atomic_to_csv(table, out)
    return table


# ---------------------------------------------------------------------------------------------------- the figure

PANEL = 2.6  # inches per (square) panel
DPI = 120


def classmem_fig(classmem_paths, out) -> None:
    """The paper's Fig. 3: per layer (columns) and kind of setup (rows: SSL, supervised), ClassMem (y) against
    UnitMem (x) of every unit of the f encoders, a colour per setup, with y = x; below the line, units that memorise
    a point more than a class. Writes `out` atomically."""
    from sslmem.report.figures import save_figure

    save_figure(classmem_figure(read_classmem(classmem_paths)), out)


def classmem_figure(units: pd.DataFrame) -> Figure:
    """The figure of :func:`classmem_fig` from the rows of :func:`read_classmem`, not yet saved. Both axes of a
    column share one range (the largest value of that layer in either row), so y = x is the diagonal and the two
    rows compare."""
    layers = (units[["layer_index", "layer"]].drop_duplicates().sort_values(["layer_index", "layer"])["layer"]
              .drop_duplicates().tolist())
    kinds = [(name, flag) for name, flag in KINDS if (units["supervised"] == flag).any()]
    figure = Figure(figsize=(PANEL * len(layers), (PANEL + 0.6) * len(kinds) + 0.4), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(kinds), len(layers), squeeze=False)
    # A colour per setup, counted within its row (each row has its own legend).
    colours = {setup: f"C{index % 10}" for _, flag in kinds
               for index, setup in enumerate(dict.fromkeys(units.loc[units["supervised"] == flag, "setup"]))}
    for column, layer in enumerate(layers):
        of_layer = units[units["layer"] == layer]
        top = np.nanmax(of_layer[["unitmem", "classmem"]].to_numpy(dtype=float), initial=0.0)
        limit = 1.05 * top if top > 0 else 1.0
        for row, (kind, flag) in enumerate(kinds):
            _scatter_panel(axes[row][column], of_layer[of_layer["supervised"] == flag], colours, limit,
                           f"{kind}: {layer}")
    for row in range(len(kinds)):
        axes[row][0].set_ylabel("ClassMem", fontsize=8)
        # The legend in the row's first panel with dots (a layer another backbone lacks has none).
        with_dots = [ax for ax in axes[row] if ax.get_legend_handles_labels()[0]]
        if with_dots:
            with_dots[0].legend(fontsize=6, frameon=False, loc="upper left", markerscale=2)
    for ax in axes[-1]:
        ax.set_xlabel("UnitMem", fontsize=8)
    figure.suptitle("ClassMem vs UnitMem per unit of the f encoders (below y = x: the unit memorises a point more "
                    "than a class)", fontsize=9)
    return figure


def _scatter_panel(ax, rows: pd.DataFrame, colours: dict, limit: float, title: str) -> None:
    """One panel: a dot per unit (UnitMem, ClassMem), a colour per setup, the line y = x, and in the title the
    share of the panel's units with UnitMem > ClassMem."""
    ax.plot([0, limit], [0, limit], color="black", linewidth=0.7, linestyle="--", gid="y_equals_x")
    for setup, part in rows.groupby("setup", sort=False):
        ax.scatter(part["unitmem"], part["classmem"], s=4, alpha=0.6, color=colours[setup], label=setup,
                   linewidths=0)
    compared = unit_vs_class(rows["unitmem"], rows["classmem"]) if len(rows) else None
    if compared and compared["n_units_compared"]:
        title += f"\nUnitMem > ClassMem: {100 * compared['fraction_unitmem_above_classmem']:.0f} % of " \
                 f"{compared['n_units_compared']}"
    ax.set_title(title, fontsize=7)
    ax.set_xlim(0, limit)
    ax.set_ylim(0, limit)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=6)
