"""Fig. 5 of the SSLMem paper (App. A.2): what fraction of the points a threshold on the score would call
memorised, for a range of thresholds (report.fig5_thresholds; the paper gives its x-axis only as a figure).

:func:`above_threshold` counts, per (dataset, setup) and subset, the points whose ensemble score m exceeds each
threshold (strictly: m > t) into a tidy table; :func:`fig5` draws it, one panel per (dataset, setup), the
candidates S_C (the paper's curve) beside the other subsets, which no encoder pair trained on differently: at a
threshold where S_S or S_E has as large a fraction as S_C, the threshold does not single out memorised points.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from sslmem.artifacts import ABOVE_THRESHOLD_COLUMNS, SETUP_KEYS, SUBSETS, ordered
from sslmem.io import atomic_to_csv
from sslmem.report.figures import SUBSET_COLOURS, _panel_grid, save_figure
from sslmem.report.readers import read_scores, read_table


def above_threshold(score_paths, out, thresholds: Sequence[float]) -> pd.DataFrame:
    """Per (dataset, setup, subset) and threshold t (ascending): n, n_above = #{m > t} and fraction_above, on the
    ensemble estimate. Writes `out` atomically and returns the table."""
    scores = read_scores(score_paths, require_estimate="ensemble")
    ensemble = scores[scores["estimate"] == "ensemble"]
    rows = []
    for keys, group in ensemble.groupby([*SETUP_KEYS, "representation"], sort=True):
        setup = dict(zip([*SETUP_KEYS, "representation"], keys))
        for subset in SUBSETS:
            m = group.loc[group["subset"] == subset, "m"].to_numpy(dtype=float)
            if m.size == 0:
                continue
            for threshold in sorted(float(t) for t in thresholds):
                n_above = int((m > threshold).sum())
                rows.append({**setup, "subset": subset, "n": int(m.size), "threshold": threshold,
                             "n_above": n_above, "fraction_above": n_above / m.size})
    table = ordered(pd.DataFrame(rows, columns=list(ABOVE_THRESHOLD_COLUMNS)), ABOVE_THRESHOLD_COLUMNS,
                    "above_threshold")
    atomic_to_csv(table, out)
    return table


def fig5(above_threshold_csv, out) -> None:
    """Fraction of each subset above each threshold (%), one panel per (dataset, setup); S_C drawn thickest."""
    table = read_table(above_threshold_csv, "above_threshold")
    ordered(table, ABOVE_THRESHOLD_COLUMNS, f"{above_threshold_csv}")
    groups = list(table.groupby(["dataset", "setup"], sort=True))
    if not groups:
        raise ValueError(f"{above_threshold_csv}: no rows; Fig. 5 needs the score files of at least one setup")
    figure, axes = _panel_grid(len(groups))
    for ax, ((dataset, setup), group) in zip(axes, groups):
        for subset in SUBSETS:
            line = group[group["subset"] == subset].sort_values("threshold")
            if line.empty:
                continue
            candidates = subset == "S_C"
            ax.plot(line["threshold"], 100 * line["fraction_above"], marker="o", markersize=3 if candidates else 2,
                    linewidth=2.0 if candidates else 1.0, color=SUBSET_COLOURS[subset],
                    label=f"{subset} (n={int(line['n'].iat[0])})", zorder=3 if candidates else 2)
        ax.set_title(f"{dataset} / {setup}", fontsize=9)
        ax.set_xlabel("threshold on m")
        ax.set_ylabel("points with m > threshold (%)")
        ax.set_ylim(-2, 102)
        ax.legend(fontsize=7, frameon=False)
    save_figure(figure, out)
