"""Galleries of the most and least memorised images, from the ranked per-point files (:mod:`sslmem.report.allpoints`).

* Fig. 1 (the paper: "examples of data with different levels of memorization", one MAE ViT-tiny): per (dataset,
  setup) of report.galleries.setups, a row of its N most memorised points and a row of its N least memorised.
* Fig. 9 (the paper: "the top 10 data points with the highest memorization scores" per setup): one row per
  (dataset, setup), its N most memorised points.

Each image is titled with its rank, class, score m and, where the estimator has one, its interval [low, high].
Each row's title names the estimator and the setup's split-half reliability: a gallery shows what the ranking
is; only a reliable ranking makes it evidence that these images are the memorised ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sslmem.report.allpoints import F_G_ENSEMBLE, read_allpoints
from sslmem.report.figures import save_figure
from sslmem.report.images import class_name, gallery_images

ROW_LENGTH = 10  # images per gallery row (the paper's Fig. 9: ten per setup); longer galleries wrap
THUMBNAIL = 1.05  # inches per image, its caption lines included
ROW_TITLE = 0.55  # inches for a row's two title lines
RELIABLE = 0.7  # the reliability a ranking needs to be read point by point (the halves study's target)
CAVEAT = ("A gallery shows what the ranking is. Where the split-half reliability is near 0, the ranking does not\n"
          "reproduce between rounds, and these images are not evidence of what is memorised.")
MIN_WIDTH = 10.8  # inches: the titles' width, whatever the gallery size
# Per estimator: what its points are, and how each is scored.
RANKED_POINTS = {"in_out": "pool points", F_G_ENSEMBLE: "candidates S_C"}
ESTIMATOR_TEXT = {
    "in_out": "in/out score ({n_in} encoders with each point, {n_out} without; interval: bootstrap over rounds)",
    F_G_ENSEMBLE: "f/g ensemble score ({n_in} pairs; no per-point interval)",
}


def reliability_text(value: float) -> str:
    """What the row title says about the ranking's reproducibility."""
    if math.isnan(value):
        return "split-half reliability not measured (the halves study does not rank this setup)"
    verdict = "reproducible" if value >= RELIABLE else "NOT reproducible between rounds"
    return f"split-half reliability {value:+.2f}: ranking {verdict}"


def row_title(points: pd.DataFrame, which: str) -> str:
    """`which` (e.g. "most memorised") of the shown `points`, out of how many, by which score, how reliable."""
    first = points.iloc[0]
    counts = {"n_in": _count(first["n_in"]), "n_out": _count(first["n_out"])}
    return (f"{first['dataset']} / {first['setup']}: the {len(points)} {which} of {int(first['n_ranked'])} "
            f"{RANKED_POINTS[first['estimator']]}\n{ESTIMATOR_TEXT[first['estimator']].format(**counts)}; "
            f"{reliability_text(float(first['split_half_reliability']))}")


def _count(value) -> str:
    return "?" if pd.isna(value) else str(int(value))


def image_title(dataset: str, point) -> str:
    """Rank, class, m, and the interval on a third line where there is one."""
    title = f"{point.rank}. {class_name(dataset, int(point.label))}\nm {point.m:+.3f}"
    if not (pd.isna(point.m_ci_low) or pd.isna(point.m_ci_high)):
        title += f"\n[{point.m_ci_low:+.2f}, {point.m_ci_high:+.2f}]"
    return title


def _draw_row(panel, dataset: str, points: pd.DataFrame, images, title: str) -> None:
    columns = min(ROW_LENGTH, len(points))
    axes = panel.subplots(math.ceil(len(points) / columns), columns, squeeze=False).ravel()
    for ax, point, image in zip(axes, points.itertuples(index=False), images):
        ax.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(image_title(dataset, point), fontsize=6)
    for unused in axes[len(points):]:
        unused.set_visible(False)
    panel.suptitle(title, fontsize=7.5, x=0.01, horizontalalignment="left")


def row_images(rows: list[tuple[str, str, pd.DataFrame]], data: Mapping) -> list:
    """The images of each row's points, each dataset read once for all its rows (a split is a whole file)."""
    images = [None] * len(rows)
    for dataset in dict.fromkeys(dataset for _, dataset, _ in rows):
        indices = [index for index, (_, name, _) in enumerate(rows) if name == dataset]
        loaded = gallery_images(data, dataset, pd.concat([rows[index][2] for index in indices]))
        start = 0
        for index in indices:
            images[index] = loaded[start:start + len(rows[index][2])]
            start += len(rows[index][2])
    return images


def gallery_figure(rows: list[tuple[str, str, pd.DataFrame]], data: Mapping, heading: str, out) -> None:
    """One figure: a gallery per (title, dataset, points) row, under `heading` and the reliability caveat."""
    lines = [math.ceil(len(points) / ROW_LENGTH) for _, _, points in rows]
    width = min(ROW_LENGTH, max(len(points) for _, _, points in rows))
    heights = [n * THUMBNAIL + ROW_TITLE for n in lines]
    figure = Figure(figsize=(max(MIN_WIDTH, width * THUMBNAIL + 0.3), sum(heights) + 0.6), dpi=120,
                    layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subfigures(len(rows), 1, height_ratios=heights, squeeze=False).ravel()
    for panel, (title, dataset, points), images in zip(panels, rows, row_images(rows, data)):
        _draw_row(panel, dataset, points, images, title)
    figure.suptitle(f"{heading}\n{CAVEAT}", fontsize=8)
    save_figure(figure, out)


def _dataset(frame: pd.DataFrame) -> str:
    return str(frame["dataset"].iat[0])


def fig9(allpoints_paths, out, data: Mapping, gallery_size: int = 10) -> None:
    """Fig. 9: per (dataset, setup), in the order of `allpoints_paths`, its `gallery_size` most memorised points.
    `data`: params.yaml's `data` settings (where the images are)."""
    rows = [(row_title(top, "most memorised"), _dataset(top), top)
            for top in (frame.head(gallery_size) for frame in read_allpoints(allpoints_paths))]
    gallery_figure(rows, data, "Fig. 9: the most memorised points per setup (rank 1 = highest m)", out)


def fig1(allpoints_paths, out, data: Mapping, gallery_size: int = 10) -> None:
    """Fig. 1: per (dataset, setup), a row of its `gallery_size` most memorised points (rank 1 first) and a row
    of its `gallery_size` least memorised (the lowest m first)."""
    rows = []
    for frame in read_allpoints(allpoints_paths):
        most, least = frame.head(gallery_size), frame.tail(gallery_size).iloc[::-1]
        rows += [(row_title(most, "most memorised"), _dataset(frame), most),
                 (row_title(least, "least memorised (lowest m first)"), _dataset(frame), least)]
    gallery_figure(rows, data, "Fig. 1: points at both ends of the memorisation ranking", out)
