"""Where the per-point scores rank the planted atypical images (:mod:`sslmem.studies.planted`).

Two estimators, each ranking the points it scores: ``f_g_ensemble`` (the planted study's f/g pairs, ensemble
estimate) ranks the candidates S_C, ``in_out`` (its pairs of halves) every pool point. A planted point is one
whose source is foreign (``<dataset>/<split>``). The control ranking (``f_g_ensemble`` over S_E,
``foreign_trained`` false): the same source's images that no encoder trained on, among the unseen test points; a
high AUC there means f scores the source's images higher because it has seen their distribution (g has not),
not because it memorised these ones. The in/out score needs no such control: every half holds planted images, so
both sides of each point's score have seen the distribution. Per ranking: the AUC of planted against typical points (the
Mann–Whitney U over n_planted · n_typical: the probability that a planted point scores above a typical one,
ties counting half), its one-sided p (planted higher), the fraction of planted points in the top `top_fraction`
of the ranking beside what chance gives (that fraction itself), and the mean scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sslmem.artifacts import PLANTED_COLUMNS, ordered
from sslmem.data.splits import is_foreign
from sslmem.io import atomic_to_csv
from sslmem.report.figures import save_figure
from sslmem.report.images import class_name, gallery_images

F_G_ENSEMBLE = "f_g_ensemble"
IN_OUT = "in_out"


def planted_statistics(m, planted, top_fraction: float) -> dict:
    """AUC, one-sided Mann–Whitney p, top-fraction counts and means of the planted points among scores `m`."""
    from scipy.stats import mannwhitneyu

    m = np.asarray(m, dtype=float)
    planted = np.asarray(planted, dtype=bool)
    if np.isnan(m).any():
        raise ValueError("scores contain NaN; every ranked point needs a score")
    n_planted, n_typical = int(planted.sum()), int((~planted).sum())
    if n_planted == 0 or n_typical == 0:
        raise ValueError(f"need planted and typical points to compare, got {n_planted} and {n_typical}")
    test = mannwhitneyu(m[planted], m[~planted], alternative="greater")
    n_top = max(1, math.ceil(top_fraction * len(m)))
    top = np.zeros(len(m), dtype=bool)
    top[np.argsort(-m, kind="stable")[:n_top]] = True
    ranks = pd.Series(m).rank(ascending=False, method="min").to_numpy()
    return {
        "n_points": len(m), "n_planted": n_planted, "auc": float(test.statistic) / (n_planted * n_typical),
        "p_value": float(test.pvalue), "n_top": n_top, "planted_in_top": int((top & planted).sum()),
        "fraction_in_top": float((top & planted).sum() / n_planted), "chance_in_top": n_top / len(m),
        "mean_m_planted": float(m[planted].mean()), "mean_m_typical": float(m[~planted].mean()),
        "best_planted_rank": int(ranks[planted].min()),
    }


def _read(paths, what: str) -> list[pd.DataFrame]:
    paths = [paths] if isinstance(paths, str) else list(paths)
    if not paths:
        raise ValueError(f"no {what} files given (the planted study writes them: `snakemake study_planted`)")
    return [pd.read_parquet(path).assign(source_file=str(path)) for path in paths]


def ranked_sets(pair_score_paths, inout_paths) -> list[tuple[str, str, bool, pd.DataFrame]]:
    """(estimator, which points, whether its foreign points were trained on, the points) per ranking: the
    ensemble scores of S_C and of the control S_E, the in/out scores of the pool; each with a boolean column
    `planted` (a foreign point)."""
    sets = []
    for frame in _read(pair_score_paths, "planted f/g score"):
        n_pairs = frame.loc[frame["estimate"] == "pair", "seed"].nunique()
        ensemble = frame[frame["estimate"] == "ensemble"].assign(n_encoders=2 * n_pairs)
        sets += [(F_G_ENSEMBLE, "S_C", True, ensemble[ensemble["subset"] == "S_C"]),
                 (F_G_ENSEMBLE, "S_E", False, ensemble[ensemble["subset"] == "S_E"])]
    for frame in _read(inout_paths, "planted in/out score"):
        points = frame[frame["subset"] != "S_E"]
        sets.append((IN_OUT, "pool", True, points.assign(n_encoders=points["n_in"] + points["n_out"])))
    return [(estimator, ranked, trained,
             points.assign(planted=points["source"].map(is_foreign).astype(bool)).reset_index(drop=True))
            for estimator, ranked, trained, points in sets]


def planted_table(pair_score_paths, inout_paths, out, top_fraction: float = 0.1) -> pd.DataFrame:
    """results/planted.csv: one row per (dataset, setup, estimator)."""
    rows = []
    for estimator, ranked_points, trained, points in ranked_sets(pair_score_paths, inout_paths):
        first = points.iloc[0]
        sources = sorted(set(points.loc[points["planted"], "source"]))
        rows.append({
            "dataset": first["dataset"], "setup": first["setup"], "method": first["method"], "arch": first["arch"],
            "representation": first["representation"], "estimator": estimator, "ranked_points": ranked_points,
            "foreign_trained": trained, "n_encoders": int(points["n_encoders"].max()),
            "planted_source": ",".join(sources), "top_fraction": top_fraction,
            **planted_statistics(points["m"], points["planted"], top_fraction),
        })
    table = ordered(pd.DataFrame(rows), PLANTED_COLUMNS, "planted table")
    atomic_to_csv(table, out)
    return table


def _title(dataset: str, point) -> str:
    if point.planted:
        return f"{point.rank}. {point.source.split('/')[0].upper()} {int(point.label)}\nm {point.m:+.3f}"
    return f"{point.rank}. {class_name(dataset, int(point.label))}\nm {point.m:+.3f}"


def planted_figure(pair_score_paths, inout_paths, out, data: Mapping, gallery_size: int = 10) -> None:
    """Per (setup, estimator): its `gallery_size` highest-ranked points, then its planted points in rank order
    (planted titles in red)."""
    rows = []
    for estimator, ranked_points, trained, points in ranked_sets(pair_score_paths, inout_paths):
        ranked = points.sort_values(["m", "source", "point_id"], ascending=[False, True, True], kind="stable")
        ranked = ranked.assign(rank=np.arange(1, len(ranked) + 1))
        first = ranked.iloc[0]
        kind = "planted (trained on)" if trained else "control (never trained on)"
        where = f"{first['dataset']} / {first['setup']}, {estimator} over {ranked_points} ({len(ranked)} points)"
        rows.append((f"{where}: the {gallery_size} highest-ranked", first["dataset"], ranked.head(gallery_size)))
        shown = ranked[ranked["planted"]].head(gallery_size)
        rows.append((f"{where}: the foreign images, {kind}, by rank (chance: uniform over 1..{len(ranked)})",
                     first["dataset"], shown))
    figure = Figure(figsize=(1.1 * gallery_size + 0.4, 1.55 * len(rows) + 0.6), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subfigures(len(rows), 1, squeeze=False).ravel()
    for panel, (title, dataset, points) in zip(panels, rows):
        images = gallery_images(data, dataset, points[["source", "point_id"]])
        axes = panel.subplots(1, gallery_size, squeeze=False).ravel()
        for ax, point, image in zip(axes, points.itertuples(index=False), images):
            ax.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(_title(dataset, point), fontsize=6, color="red" if point.planted else "black")
        for unused in axes[len(points):]:
            unused.set_visible(False)
        panel.suptitle(title, fontsize=7.5, x=0.01, horizontalalignment="left")
    figure.suptitle("Planted atypical images: where each per-point score ranks them", fontsize=8)
    save_figure(figure, out)
