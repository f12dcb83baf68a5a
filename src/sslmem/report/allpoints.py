"""Every scored point of a setup, ranked: the practitioner's per-point view (``results/allpoints/<dataset>/<setup>.parquet``,
columns :data:`~sslmem.artifacts.ALLPOINTS_COLUMNS`; written by ``sslmem allpoints``, read by the galleries of
Figs. 1 and 9).

Which score ranks the points: the best per-point estimator the project has for the setup.

* ``in_out`` where the halves study covers the setup (:func:`sslmem.studies.halves.ranked_pairs`): its in/out
  score of every pool point (S_S ∪ S_C ∪ S_I; K/2 encoders with the point, K/2 without, K = 2 × rounds), with the
  percentile-bootstrap interval over rounds (``m_ci_low``, ``m_ci_high``) from the in/out file.
* ``f_g_ensemble`` elsewhere: the core ensemble score of the candidates S_C (every f encoder trained on them, no g
  did; ``n_in`` = ``n_out`` = the number of f/g pairs). That file has no per-point interval: ``m_ci_low`` and
  ``m_ci_high`` are empty (NaN), and so is ``split_half_reliability`` (no rounds to split).

``split_half_reliability`` is ``split_half_full`` of the setup's trained points in ``results/reliability.csv`` (the
split-half Spearman correlation of the in/out scores, Spearman–Brown projected to all rounds), the same on every
row: a rank means little when it is near 0, and the user should see that beside every score.

``m_within_class`` (m less the mean m of the ranked points of its class), ``rank_within_class`` (1 = highest in its
class) and ``split_half_reliability_within_class`` (reliability.csv's ``within_class`` row) rank the points within
their class. Read them where the score follows the class (a class that scores high as a whole says which classes
the encoder learns from least, not which images it memorises; e.g. MAE's scores): which to read is the one whose
reliability is higher, and a ranking only where its reliability is well above 0.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sslmem.artifacts import ALLPOINTS_COLUMNS, INOUT_SCORE_COLUMNS, SCORE_COLUMNS, SETUP_KEYS, ordered
from sslmem.io import atomic_to_parquet

IN_OUT = "in_out"
F_G_ENSEMBLE = "f_g_ensemble"
ESTIMATORS = (IN_OUT, F_G_ENSEMBLE)
CANDIDATES = "S_C"
RELIABILITY_POINTS = "trained"  # reliability.csv's row of the pool points as ranked
WITHIN_CLASS_POINTS = "within_class"  # its row of the same points ranked within their class
RELIABILITY_COLUMN = "split_half_full"


def rank_points(points: pd.DataFrame) -> pd.DataFrame:
    """`points` sorted by m, highest first, with ``rank`` 1..n and ``n_ranked``; ties go to the lower point_id
    (then source), so the order is the same on every run. A missing m is refused (it has no rank)."""
    if points.empty:
        raise ValueError("no points to rank")
    if points["m"].isna().any():
        missing = points.loc[points["m"].isna(), ["source", "point_id"]].head(5).to_records(index=False).tolist()
        raise ValueError(f"{int(points['m'].isna().sum())} point(s) have no score m, e.g. {missing}")
    ranked = points.sort_values(["m", "point_id", "source"], ascending=[False, True, True], kind="stable")
    return ranked.assign(rank=np.arange(1, len(ranked) + 1), n_ranked=len(ranked)).reset_index(drop=True)


def within_class(ranked: pd.DataFrame) -> pd.DataFrame:
    """`ranked` (by :func:`rank_points`) with ``m_within_class`` (m less its class's mean m) and
    ``rank_within_class`` (1 = the highest m of its class; ties as in the overall rank)."""
    centred = ranked["m"] - ranked.groupby("label")["m"].transform("mean")
    return ranked.assign(m_within_class=centred,
                         rank_within_class=ranked.groupby("label")["rank"].rank(method="first").astype(int))


def _one_setup(frame: pd.DataFrame, path: Path, dataset: str, setup: str) -> pd.DataFrame:
    """The rows of `frame` (read from `path`) after checking that they are exactly one setup's: (dataset, setup)."""
    found = frame[["dataset", "setup"]].drop_duplicates()
    if len(found) != 1 or tuple(found.iloc[0]) != (dataset, setup):
        raise ValueError(f"{path}: holds {found.to_records(index=False).tolist()}, expected only {setup!r} on "
                         f"{dataset!r}")
    return frame


def in_out_points(inout_path, dataset: str, setup: str) -> pd.DataFrame:
    """Every pool point of the halves study's in/out file, with its bootstrap interval over rounds."""
    path = Path(inout_path)
    frame = _one_setup(ordered(pd.read_parquet(path), INOUT_SCORE_COLUMNS, f"in/out score file {path}"), path,
                       dataset, setup)
    return frame.assign(estimator=IN_OUT)


def ensemble_points(score_path, dataset: str, setup: str) -> pd.DataFrame:
    """The candidates S_C of the core score file (ensemble rows), without an interval; n_in = n_out = pairs."""
    path = Path(score_path)
    frame = _one_setup(ordered(pd.read_parquet(path), SCORE_COLUMNS, f"score file {path}"), path, dataset, setup)
    pairs = frame.loc[frame["estimate"] == "pair", "seed"].nunique()
    candidates = frame[(frame["estimate"] == "ensemble") & (frame["subset"] == CANDIDATES)]
    if candidates.empty:
        raise ValueError(f"{path}: no ensemble rows of the candidates {CANDIDATES}")
    encoders = pairs if pairs else math.nan  # each candidate is in every f encoder and out of every g
    return candidates.assign(estimator=F_G_ENSEMBLE, m_ci_low=math.nan, m_ci_high=math.nan, n_in=encoders,
                             n_out=encoders)


def setup_reliability(reliability_csv, dataset: str, setup: str, points: str = RELIABILITY_POINTS) -> float:
    """``split_half_full`` of the setup's `points` row in reliability.csv (read by column name); NaN when the
    file has no such row."""
    path = Path(reliability_csv)
    if not path.is_file():
        raise FileNotFoundError(f"reliability table not found: {path} (built by `snakemake study_halves`)")
    table = pd.read_csv(path)
    needed = ["dataset", "setup", "points", RELIABILITY_COLUMN]
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    rows = table[(table["dataset"] == dataset) & (table["setup"] == setup) & (table["points"] == points)]
    if len(rows) > 1:
        raise ValueError(f"{path}: {len(rows)} rows of {setup!r} on {dataset!r} ({points} points)")
    return float(rows[RELIABILITY_COLUMN].iat[0]) if len(rows) else math.nan


def allpoints(dataset: str, setup: str, out, inout=None, scores=None, reliability=None) -> pd.DataFrame:
    """Rank every scored point of one setup and write ``results/allpoints/<dataset>/<setup>.parquet``: by the
    in/out score when `inout` (the halves study's file) is given, else by the ensemble score of S_C in `scores`
    (the core score file). `reliability`: results/reliability.csv, optional (NaN column without it)."""
    if (inout is None) == (scores is None):
        raise ValueError("give either the in/out score file (halves study) or the core score file, not both")
    points = in_out_points(inout, dataset, setup) if inout is not None else ensemble_points(scores, dataset, setup)
    if reliability is not None and points["estimator"].iat[0] == F_G_ENSEMBLE:
        # reliability.csv measures the in/out scores; it says nothing about the f/g ensemble's ranking.
        raise ValueError("the split-half reliability belongs to the in/out scores; give it with the in/out file")
    value, within = (setup_reliability(reliability, dataset, setup, kind) if reliability is not None else math.nan
                     for kind in (RELIABILITY_POINTS, WITHIN_CLASS_POINTS))
    ranked = within_class(rank_points(points))
    table = ordered(ranked.assign(split_half_reliability=value, split_half_reliability_within_class=within),
                    ALLPOINTS_COLUMNS, f"allpoints of {setup!r} on {dataset!r}")
    atomic_to_parquet(table, out)
    return table


def read_allpoints(allpoints_paths) -> list[pd.DataFrame]:
    """The allpoints files (columns checked by name), one frame per (dataset, setup), in the order given."""
    paths = [Path(allpoints_paths)] if isinstance(allpoints_paths, (str, Path)) else [Path(p) for p in allpoints_paths]
    if not paths:
        raise ValueError("no allpoints files given (results/allpoints/<dataset>/<setup>.parquet): list the setups "
                         "to show in params.yaml report.galleries.setups")
    frames = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"allpoints file {path} does not exist (written by `sslmem allpoints`)")
        frame = ordered(pd.read_parquet(path), ALLPOINTS_COLUMNS, f"allpoints file {path}")
        if frame[list(SETUP_KEYS)].drop_duplicates().shape[0] != 1 or not set(frame["estimator"]) <= set(ESTIMATORS):
            raise ValueError(f"{path}: expected one setup's rows with estimator in {list(ESTIMATORS)}")
        frames.append(frame.sort_values("rank", kind="stable").reset_index(drop=True))
    return frames
