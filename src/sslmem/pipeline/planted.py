"""Stage planted_split: the dataset's split with `count` of its candidates replaced by another dataset's images.

The planted split keeps every row of the core split but `count` S_C rows and `count` S_E rows, drawn with the
study's seed; each of those becomes a point of the source ("<dataset>/<split>": its point_id indexes that split,
see :mod:`sslmem.data.splits`), 2 x `count` distinct source images drawn with the same seed. The ones in S_C are
the planted images (f trains on them); the ones in S_E are the control: images of the same source that no encoder
trains on, which tell a score that finds the planted images because they were trained on from one that finds
them because f has seen their distribution at all (g has seen none of it). S_S and S_I are untouched, so the
planted study's g encoders train on exactly the core protocol's g set.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sslmem.data import splits


def plant(split: pd.DataFrame, source: str, source_labels: np.ndarray, count: int, seed: int) -> pd.DataFrame:
    """`split` with `count` of its S_C rows (a seeded draw) replaced by points of `source` (a foreign source
    name) whose labels are `source_labels`; row order is kept, so the protocol's slots stay aligned."""
    candidates = np.flatnonzero(split["subset"].to_numpy() == "S_C")
    extra = np.flatnonzero(split["subset"].to_numpy() == "S_E")
    if not 1 <= count < len(candidates):
        raise splits.SplitError(f"cannot plant {count} images among {len(candidates)} candidates (S_C)")
    if count >= len(extra):
        raise splits.SplitError(f"cannot place {count} unseen control images among the {len(extra)} points of S_E")
    if 2 * count > len(source_labels):
        raise splits.SplitError(f"cannot plant {count} images and as many controls: {source} has {len(source_labels)}")
    rng = np.random.default_rng([seed, count])
    # The planted draw first (candidates, then their images), the control's after it from the images left.
    planted_rows = np.sort(rng.choice(candidates, size=count, replace=False))
    planted_ids = np.sort(rng.choice(len(source_labels), size=count, replace=False))
    control_rows = np.sort(rng.choice(extra, size=count, replace=False))
    control_ids = np.sort(rng.choice(np.setdiff1d(np.arange(len(source_labels)), planted_ids), size=count,
                                     replace=False))
    rows, foreign_ids = np.concatenate([planted_rows, control_rows]), np.concatenate([planted_ids, control_ids])
    planted = split.copy()
    planted.loc[rows, "point_id"] = foreign_ids
    planted.loc[rows, "source"] = source
    planted.loc[rows, "label"] = np.asarray(source_labels, dtype=np.int64)[foreign_ids]
    return planted


def planted_points(split: pd.DataFrame) -> pd.Series:
    """Whether each row of a split is a planted (foreign) point."""
    return split["source"].map(splits.is_foreign).astype(bool)


def run_planted_split(settings: Mapping, dataset: str, split_csv: Path, out_csv: Path) -> str:
    """Write the planted split of `dataset` from its core split (studies.planted: source, count, seed)."""
    from sslmem.pipeline.common import source_images

    planted = settings["studies"]["planted"]
    source = splits.foreign_source(planted["source"]["dataset"], planted["source"]["split"])
    table, core_hash = splits.read_split(Path(split_csv))
    labels = source_images(settings, dataset, source).labels.numpy()
    result = plant(table.reset_index(drop=True), source, labels, planted["count"], planted["seed"])
    return splits.write_split(result, Path(out_csv), {
        "dataset": dataset, "core_split_hash": core_hash, "planted_source": source,
        "planted_count": planted["count"], "planted_seed": planted["seed"]})
