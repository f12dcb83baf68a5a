"""Training sets as files: the points one encoder trains on, in slot order, with a content hash.

Every encoder is trained from one training-set file (results/training_sets/<dataset>/<setup>/<role><seed>.csv),
written by a rule before it trains: the SSLMem protocol's f (S_S then S_C) and g (S_S then S_I) are two such
files derived from the split; a study writes its own (disjoint halves of the pool, a half without its most
memorised points, ...). A file is a tidy CSV (`slot`, `point_id`, `source`) with a sidecar JSON holding its
SHA-256, the hash of the split it was derived from and how it was made; the train stage refuses a file whose
content does not match its hash, and a checkpoint records the hash, so resuming never mixes two sets.

Coupling (common random numbers) is a relation between two training sets, slot by slot: encoders of the same
seed walk the same permutation of slots with the same augmentation draws, so two sets of equal length that
differ in a few slots give encoders that differ only by those points (f and g differ in the S_C/S_I slots).

Every selection here is a pure function of its inputs (and a seed where it draws), so the same scores and
settings give the same files on any machine.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sslmem.artifacts import TRAINING_SET_COLUMNS
from sslmem.io import atomic_write_bytes, atomic_write_text


class TrainingSetError(ValueError):
    """A training-set file is missing, does not match its hash, or is inconsistent."""


# ------------------------------------------------------------------------------------------------ files


def training_set_hash(csv_bytes: bytes) -> str:
    return hashlib.sha256(csv_bytes).hexdigest()


def sidecar_path(csv_path) -> Path:
    return Path(csv_path).with_suffix(".json")


def as_table(point_ids, source) -> pd.DataFrame:
    """A training set of `point_ids` (in slot order) from the split named `source` ("train", STL-10 "unlabeled"),
    or from the split each slot's entry of `source` (a sequence) names (a pool with planted foreign points)."""
    ids = np.asarray(point_ids, dtype=np.int64)
    sources = source if isinstance(source, str) else np.asarray(source, dtype=object)
    return pd.DataFrame({"slot": np.arange(len(ids), dtype=np.int64), "point_id": ids, "source": sources})


def check_training_set(table: pd.DataFrame, what: str = "training set", repeats: bool = False) -> None:
    """Columns, slots 0..n-1 in order, one source split, no point twice (unless `repeats`: a set that repeats
    canaries on purpose, :func:`halves_with_repeats`), at least one point."""
    missing = [column for column in TRAINING_SET_COLUMNS if column not in table.columns]
    if missing:
        raise TrainingSetError(f"{what}: missing column(s) {missing}; expected {list(TRAINING_SET_COLUMNS)}")
    if table.empty:
        raise TrainingSetError(f"{what}: no points")
    if not np.array_equal(table["slot"].to_numpy(), np.arange(len(table))):
        raise TrainingSetError(f"{what}: slots must be 0..{len(table) - 1} in order")
    # One split of the dataset itself (its pool; never its test split beside it), plus foreign points planted from
    # another dataset's split ("<dataset>/<split>"); a point is (source, point_id).
    own = sorted({source for source in table["source"].astype(str) if "/" not in source})
    if len(own) > 1:
        raise TrainingSetError(f"{what}: points from several splits {own}")
    duplicated = table[table.duplicated(["source", "point_id"], keep=False)]
    if len(duplicated) and not repeats:
        examples = sorted(set(zip(duplicated["source"], duplicated["point_id"])))[:5]
        raise TrainingSetError(f"{what}: point(s) {examples} appear more than once")


def write_training_set(table: pd.DataFrame, csv_path, meta: Mapping) -> str:
    """Write the training set and its sidecar (hash, size, `meta`: the split hash and how it was made)."""
    check_training_set(table, str(csv_path), repeats=bool(meta.get("repeats")))
    csv_bytes = table[list(TRAINING_SET_COLUMNS)].to_csv(index=False).encode()
    digest = training_set_hash(csv_bytes)
    sidecar = {**meta, "sha256": digest, "size": int(len(table))}
    atomic_write_bytes(Path(csv_path), csv_bytes)
    atomic_write_text(sidecar_path(csv_path), json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    return digest


def read_training_set(csv_path) -> tuple[pd.DataFrame, dict]:
    """The training set and its sidecar (with ``sha256``), after checking the content against the hash."""
    csv_path = Path(csv_path)
    sidecar = sidecar_path(csv_path)
    for path in (csv_path, sidecar):
        if not path.is_file():
            raise TrainingSetError(f"training-set file not found: {path} (the training_set rule writes it)")
    csv_bytes = csv_path.read_bytes()
    try:
        meta = json.loads(sidecar.read_text())
        expected = meta["sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise TrainingSetError(f"{sidecar}: unreadable ({type(error).__name__}: {error}); rewrite the training set") from None
    digest = training_set_hash(csv_bytes)
    if digest != expected:
        raise TrainingSetError(
            f"{csv_path}: content hash {digest[:12]} does not match {sidecar.name} ({expected[:12]}); the file was "
            "edited or truncated — delete it and let the workflow write it again"
        )
    table = pd.read_csv(io.BytesIO(csv_bytes))
    check_training_set(table, str(csv_path), repeats=bool(meta.get("repeats")))
    return table, meta


# ------------------------------------------------------------------------------------------- selections


def protocol_ids(split: pd.DataFrame, role: str) -> np.ndarray:
    """The SSLMem protocol's slots: S_S first, then f's S_C or g's S_I, position-aligned between f and g."""
    own = {"f": "S_C", "g": "S_I"}[role]
    return np.concatenate([split.loc[split.subset == subset, "point_id"].to_numpy(np.int64) for subset in ("S_S", own)])


def protocol_rows(split: pd.DataFrame, role: str) -> pd.DataFrame:
    """:func:`protocol_ids` as split rows (point_id, source), for pools that mix sources."""
    own = {"f": "S_C", "g": "S_I"}[role]
    return pd.concat([split.loc[split.subset == subset, ["point_id", "source"]] for subset in ("S_S", own)],
                     ignore_index=True)


def pool_rows(split: pd.DataFrame) -> pd.DataFrame:
    """:func:`pool_ids` as split rows (point_id, source)."""
    return split.loc[split.subset != "S_E", ["point_id", "source"]].reset_index(drop=True)


def pool_ids(split: pd.DataFrame) -> np.ndarray:
    """Every training-pool point of the split (S_S, S_C, S_I), in the split's order."""
    return split.loc[split.subset != "S_E", "point_id"].to_numpy(np.int64)


def random_halves(ids: np.ndarray, seed) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves of equal size, each in a random slot order; `seed` is an int or a sequence of ints.
    An odd number of points is refused: the odd point out would be in neither half of any round, so it would get
    no in/out score and silently drop out of every ranking."""
    if len(ids) % 2:
        raise TrainingSetError(f"cannot halve {len(ids)} points: an odd pool leaves one point out of both halves "
                               "(no in/out score); make the pool even (splits.pool_size or splits.counts)")
    seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed]
    order = np.random.default_rng([*seeds, len(ids)]).permutation(len(ids))
    half = len(ids) // 2
    return ids[order[:half]], ids[order[half: 2 * half]]


def repeated_points(size: int, count: int, seed) -> np.ndarray:
    """Positions (0..size-1, sorted) of the `count` pool points a study repeats as canaries: drawn once per pool
    with `seed`, the same in every round."""
    if count % 2 or not 0 <= count <= size:
        raise TrainingSetError(f"repeats.count={count}: need an even number (half of them in each half of a round) "
                               f"of at most the pool's {size} points")
    seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed]
    return np.sort(np.random.default_rng([*seeds, size, count]).choice(size, size=count, replace=False))


def halves_with_repeats(size: int, seed, canaries: np.ndarray, copies: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves of positions 0..size-1 in which the `canaries` (positions) are split evenly and each
    appears `copies` times in its half (the known answer of the reliability study: a point seen `copies` times
    per epoch should be more memorised than a point seen once). The other points are halved by
    :func:`random_halves`; the canaries by a draw of their own with the round's `seed`. Both halves have the same
    length and put their canaries' repeats in the same slots at the end (coupled slot by slot)."""
    canaries = np.asarray(canaries, dtype=np.int64)
    if copies < 1:
        raise TrainingSetError(f"repeats.copies={copies}: a canary appears at least once")
    others = np.setdiff1d(np.arange(size, dtype=np.int64), canaries)
    seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed]
    first, second = random_halves(others, seeds)
    order = np.random.default_rng([*seeds, size, len(canaries), 1]).permutation(canaries)
    mine = order[: len(order) // 2], order[len(order) // 2:]
    return tuple(np.concatenate([base, own, np.repeat(own, copies - 1)]) for base, own in zip((first, second), mine))


def rank_by_score(point_ids, scores) -> np.ndarray:
    """`point_ids` from the highest score to the lowest; ties go to the smaller point id (deterministic)."""
    point_ids, scores = np.asarray(point_ids, dtype=np.int64), np.asarray(scores, dtype=float)
    if np.isnan(scores).any():
        raise TrainingSetError("scores contain NaN; every point to rank needs a score")
    return point_ids[np.lexsort((point_ids, -scores))]


def top_k(point_ids, scores, k: int) -> np.ndarray:
    """The `k` points with the highest scores (ties: smaller point id first)."""
    if not 0 <= k <= len(point_ids):
        raise TrainingSetError(f"k={k}: there are {len(point_ids)} points to choose from")
    return rank_by_score(point_ids, scores)[:k]


def random_k(point_ids, k: int, seed) -> np.ndarray:
    """`k` points drawn uniformly without replacement with `seed` (an int or a sequence of ints)."""
    point_ids = np.asarray(point_ids, dtype=np.int64)
    if not 0 <= k <= len(point_ids):
        raise TrainingSetError(f"k={k}: there are {len(point_ids)} points to choose from")
    return np.sort(np.random.default_rng(seed).choice(point_ids, size=k, replace=False))


def _members(base_ids, points, verb: str) -> np.ndarray:
    """Whether each slot of `base_ids` holds one of `points`; every point must be in the base."""
    base_ids = np.asarray(base_ids, dtype=np.int64)
    points = np.asarray(points, dtype=np.int64)
    unknown = np.setdiff1d(points, base_ids)
    if len(unknown):
        raise TrainingSetError(f"cannot {verb} {unknown[:5].tolist()}: not in the training set")
    return np.isin(base_ids, points)


def without(base_ids, removed) -> np.ndarray:
    """`base_ids` in their slot order, less `removed` (every removed point must be in the base)."""
    return np.asarray(base_ids, dtype=np.int64)[~_members(base_ids, removed, "remove")]


def keeping(base_ids, kept) -> np.ndarray:
    """`base_ids` in their slot order, restricted to `kept`."""
    return np.asarray(base_ids, dtype=np.int64)[_members(base_ids, kept, "keep")]
