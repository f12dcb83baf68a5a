"""Stage training_set: the training-set file of one encoder, made by the kind its recipe names.

Kinds (each a pure function of its input files and options, see sslmem.data.training_sets):

* ``protocol``: the SSLMem protocol's f (S_S then S_C) or g (S_S then S_I), from the split;
* ``half``: one of two disjoint random halves of the split's pool (options: half 0/1, seed; optionally
  ``repeats: {count, copies, seed}``: canaries repeated in their half, :func:`training_sets.halves_with_repeats`);
* ``drop``: a base training set less `count` of its points, the highest-scored (``top``) or random ones;
* ``keep``: a base training set restricted to a `fraction` of its points, the highest-scored or random ones.

The scores ``drop`` and ``keep`` rank by are the in/out scores (column ``m``) of the base set's points.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sslmem.data import splits
from sslmem.data import training_sets as ts


def _split(inputs: Mapping) -> tuple[pd.DataFrame, str]:
    return splits.read_split(Path(inputs["split"]))


def protocol(inputs: Mapping, options: Mapping) -> tuple[pd.DataFrame, dict]:
    split, split_hash = _split(inputs)
    rows = ts.protocol_rows(split, options["role"])
    return ts.as_table(rows["point_id"], rows["source"]), {"split_hash": split_hash}


def half(inputs: Mapping, options: Mapping) -> tuple[pd.DataFrame, dict]:
    split, split_hash = _split(inputs)
    rows = ts.pool_rows(split)
    # The draw is over row positions (the same permutation as over the ids), so that a pool mixing sources halves
    # like a single-source one.
    repeats = options.get("repeats")
    if repeats:
        canaries = ts.repeated_points(len(rows), repeats["count"], repeats["seed"])
        positions = ts.halves_with_repeats(len(rows), options["seed"], canaries, repeats["copies"])[options["half"]]
    else:
        positions = ts.random_halves(np.arange(len(rows), dtype=np.int64), options["seed"])[options["half"]]
    chosen = rows.iloc[positions]
    return ts.as_table(chosen["point_id"], chosen["source"]), {"split_hash": split_hash,
                                                               **({"repeats": dict(repeats)} if repeats else {})}


def _base_and_scores(inputs: Mapping) -> tuple[pd.DataFrame, dict, np.ndarray]:
    """The base training set, its sidecar, and the in/out score of each of its points in slot order."""
    base, meta = ts.read_training_set(inputs["base"])
    if base["source"].nunique() != 1:
        raise ts.TrainingSetError(f"{inputs['base']}: drop and keep rank a training set of one source split, this one "
                                  f"mixes {sorted(set(base['source']))}")
    scores = pd.read_parquet(inputs["scores"], columns=["point_id", "source", "m"])
    scores = scores[scores["source"] == base["source"].iat[0]].set_index("point_id")["m"]
    missing = np.setdiff1d(base["point_id"], scores.index)
    if len(missing):
        raise ts.TrainingSetError(f"{inputs['scores']}: no score for {len(missing)} point(s) of {inputs['base']}, "
                                  f"e.g. {missing[:5].tolist()}")
    return base, meta, scores.loc[base["point_id"]].to_numpy()


def _chosen(base_ids: np.ndarray, scores: np.ndarray, selection: str, count: int, draw_seed) -> np.ndarray:
    if selection == "top":
        return ts.top_k(base_ids, scores, count)
    if selection == "random":
        return ts.random_k(base_ids, count, draw_seed)
    raise ts.TrainingSetError(f"selection {selection!r}: use 'top' or 'random'")


def drop(inputs: Mapping, options: Mapping) -> tuple[pd.DataFrame, dict]:
    base, meta, scores = _base_and_scores(inputs)
    ids = base["point_id"].to_numpy()
    removed = _chosen(ids, scores, options["selection"], options["count"], options["draw_seed"])
    return ts.as_table(ts.without(ids, removed), base["source"].iat[0]), {
        "split_hash": meta["split_hash"], "base_sha256": meta["sha256"]}


def keep(inputs: Mapping, options: Mapping) -> tuple[pd.DataFrame, dict]:
    base, meta, scores = _base_and_scores(inputs)
    ids = base["point_id"].to_numpy()
    count = kept_count(len(ids), options["fraction"])
    kept = _chosen(ids, scores, options["selection"], count, options["draw_seed"])
    return ts.as_table(ts.keeping(ids, kept), base["source"].iat[0]), {
        "split_hash": meta["split_hash"], "base_sha256": meta["sha256"]}


def kept_count(size: int, fraction: float) -> int:
    """Points a coreset of `fraction` keeps of `size` (rounded; at least one)."""
    return max(1, int(round(size * fraction)))


KINDS = {"protocol": protocol, "half": half, "drop": drop, "keep": keep}


def run_training_set(recipe, out_csv: Path) -> str:
    """Write the training set `recipe` (a :class:`sslmem.studies.TrainingSetRecipe`) describes; return its hash."""
    if recipe.kind not in KINDS:
        raise ts.TrainingSetError(f"training-set kind {recipe.kind!r}: known kinds are {sorted(KINDS)}")
    table, meta = KINDS[recipe.kind](recipe.inputs, recipe.options)
    return ts.write_training_set(table, out_csv, {**meta, "kind": recipe.kind, "options": dict(recipe.options),
                                                  "inputs": dict(recipe.inputs)})


def protocol_training_set(split_csv: Path, role: str, out_csv: Path) -> Path:
    """Write the SSLMem protocol's training set of `role` (f or g) from a split file; return `out_csv`."""
    from sslmem.data.recipes import TrainingSetRecipe

    run_training_set(TrainingSetRecipe("protocol", {"split": str(split_csv)}, {"role": role}), Path(out_csv))
    return Path(out_csv)
