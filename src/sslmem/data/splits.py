"""The S_S / S_C / S_I / S_E split (SSLMem Sec. 4): a pure function of (dataset, seed, sizes, fractions).

f trains on S_S ∪ S_C, g on S_S ∪ S_I; S_E comes from the test split and is seen by neither. S_S, S_C and S_I
are drawn from the dataset's pool split (``DatasetInfo.pool_split``: the train split; STL-10: its unlabelled
split, labels -1). The split is written as a tidy CSV (point_id, source, subset, label), ``source`` naming the
split each point_id indexes ("train" / "unlabeled" for the pool, "test" for S_E), with a sidecar JSON holding its
SHA-256; every later step checks that hash, so an encoder is never scored against a split it was not trained on.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from sslmem.data.catalog import CATALOG, UNLABELED
from sslmem.artifacts import SUBSETS
from sslmem.io import atomic_write_bytes, atomic_write_text

# The splits a pool may be drawn from (a dataset's DatasetInfo.pool_split); S_E always comes from "test".
POOL_SPLITS = ("train", UNLABELED)


class SplitError(ValueError):
    """A split file is missing, inconsistent with its hash, or its subsets overlap."""


@dataclass(frozen=True)
class SplitSizes:
    shared: int
    candidate: int
    independent: int
    extra: int


def split_sizes(pool_size: int, fractions: Mapping[str, float], extra_size: int | None) -> SplitSizes:
    """Sizes of the four subsets; the independent set takes the rounding remainder so sizes sum to the pool."""
    total = sum(fractions.values())
    if abs(total - 1) > 1e-9:
        raise SplitError(f"fractions must sum to 1, got {dict(fractions)} (sum {total:g})")
    shared = int(round(pool_size * fractions["shared"]))
    candidate = int(round(pool_size * fractions["candidate"]))
    independent = pool_size - shared - candidate
    if min(shared, candidate, independent) < 1:
        raise SplitError(f"pool of {pool_size} with fractions {dict(fractions)} leaves an empty subset")
    return SplitSizes(shared, candidate, independent, extra_size if extra_size is not None else candidate)


def _dataset_key(dataset: str) -> int:
    # A stable integer per dataset name (Python's hash() is salted per process).
    return zlib.crc32(dataset.encode())


def default_pool_split(dataset: str) -> str:
    """The split `dataset`'s pool is drawn from: its registry entry's pool_split ("train" for a name outside the
    registry)."""
    entry = CATALOG.get(dataset)
    return entry.info.pool_split if entry is not None else "train"


def make_split(
    dataset: str,
    seed: int,
    pool_labels: np.ndarray,
    test_labels: np.ndarray,
    pool_size: int | None,
    fractions: Mapping[str, float],
    extra_size: int | None,
    counts: Mapping[str, int] | None = None,
    *,
    pool_split: str | None = None,
) -> pd.DataFrame:
    """Draw the split. Same arguments → same table, on any machine. `counts` ({shared, candidate, independent}
    as numbers of points) replaces `pool_size` × `fractions` when given.

    `pool_labels` are the labels of the whole pool split `pool_split` (None: the dataset's, see
    :func:`default_pool_split`; "train", or STL-10's "unlabeled"), from which S_S, S_C and S_I are drawn and which
    their rows name as `source`; `test_labels` those of the test split, from which S_E is drawn. The draws depend
    on the split sizes only, never on the pool split's name."""
    pool_split = default_pool_split(dataset) if pool_split is None else pool_split
    if pool_split not in POOL_SPLITS:
        raise SplitError(f"pool_split {pool_split!r}: a pool is drawn from one of {', '.join(POOL_SPLITS)}")
    num_train, num_test = len(pool_labels), len(test_labels)
    if counts is not None:
        pool_size = counts["shared"] + counts["candidate"] + counts["independent"]
    pool_size = num_train if pool_size is None else pool_size
    if pool_size > num_train:
        what = f"splits.counts.{dataset} ({pool_size} points)" if counts is not None else f"splits.pool_size={pool_size}"
        images = "training images" if pool_split == "train" else f"images of the {pool_split!r} split"
        raise SplitError(f"{what} exceeds the {num_train} {images} of {dataset}")
    if counts is not None:
        candidate = counts["candidate"]
        sizes = SplitSizes(counts["shared"], candidate, counts["independent"],
                           extra_size if extra_size is not None else candidate)
    else:
        sizes = split_sizes(pool_size, fractions, extra_size)
    if sizes.extra > num_test:
        raise SplitError(f"S_E of {sizes.extra} points exceeds the {num_test} test images of {dataset}")
    rng = np.random.default_rng([seed, _dataset_key(dataset)])
    pool = rng.permutation(num_train)[:pool_size]
    extra = rng.permutation(num_test)[: sizes.extra]
    bounds = np.cumsum([sizes.shared, sizes.candidate])
    parts = {
        "S_S": pool[: bounds[0]],
        "S_C": pool[bounds[0]: bounds[1]],
        "S_I": pool[bounds[1]:],
    }
    frames = [
        pd.DataFrame({"point_id": ids, "source": pool_split, "subset": subset, "label": pool_labels[ids]})
        for subset, ids in parts.items()
    ]
    frames.append(pd.DataFrame({"point_id": extra, "source": "test", "subset": "S_E", "label": test_labels[extra]}))
    table = pd.concat(frames, ignore_index=True)
    table["point_id"] = table["point_id"].astype(np.int64)
    table["label"] = table["label"].astype(np.int64)
    check_disjoint(table, pool_split)
    return table


def check_disjoint(table: pd.DataFrame, pool_split: str | None = None) -> None:
    """Every (source, point_id) belongs to exactly one subset, S_E comes from the test split only, and S_S, S_C
    and S_I all from one pool split: `pool_split` when given, else the one their rows name (one of
    :data:`POOL_SPLITS`)."""
    duplicated = table[table.duplicated(["source", "point_id"], keep=False)]
    if len(duplicated):
        example = duplicated.head(3).to_dict("records")
        raise SplitError(f"subsets overlap in {len(duplicated)} rows, e.g. {example}")
    # A foreign point ("<dataset>/<split>", planted by a study: in the pool, and unseen in S_E as its control) is
    # the one exception to S_E from the test split and to one pool split.
    extra_sources = table.loc[table.subset == "S_E", "source"]
    if ((extra_sources != "test") & ~extra_sources.map(is_foreign)).any():
        raise SplitError("S_E must hold test-split points only")
    pool_sources = table.loc[(table.subset != "S_E") & ~table["source"].map(is_foreign), "source"]
    if pool_split is None:
        named = sorted(set(pool_sources) & set(POOL_SPLITS))
        if len(named) > 1:
            raise SplitError(f"S_S, S_C and S_I must come from one pool split, but name {named}")
        pool_split = named[0] if named else "train"
    if (pool_sources != pool_split).any():
        found = sorted(set(pool_sources) - {pool_split})
        raise SplitError(f"S_S, S_C and S_I must hold {pool_split}-split points only (the pool split), found {found}")


# A point of another dataset placed into this one's pool (a planted atypical image) has the source
# "<dataset>/<split>": its point_id indexes that dataset's split, loaded in this dataset's image format.
FOREIGN_SEPARATOR = "/"


def foreign_source(dataset: str, split: str) -> str:
    return f"{dataset}{FOREIGN_SEPARATOR}{split}"


def is_foreign(source: str) -> bool:
    return FOREIGN_SEPARATOR in str(source)


def parse_foreign(source: str) -> tuple[str, str]:
    """(dataset, split) of a foreign source."""
    dataset, _, split = str(source).partition(FOREIGN_SEPARATOR)
    if not dataset or not split:
        raise SplitError(f"source {source!r}: a foreign source is '<dataset>{FOREIGN_SEPARATOR}<split>'")
    return dataset, split


def pool_source(table: pd.DataFrame) -> str:
    """The split S_S, S_C and S_I were drawn from, as the split's `source` column names it ("train"; STL-10:
    "unlabeled"): the split to load for the pool's point ids."""
    check_disjoint(table)
    sources = table.loc[(table.subset != "S_E") & ~table["source"].map(is_foreign), "source"].unique()
    return str(sources[0]) if len(sources) else "train"


def split_hash(csv_bytes: bytes) -> str:
    return hashlib.sha256(csv_bytes).hexdigest()


def write_split(table: pd.DataFrame, csv_path: Path, meta: Mapping) -> str:
    """Write the split CSV and its sidecar JSON (hash, sizes, how it was drawn); return the hash."""
    check_disjoint(table)  # never put a hash on a split that read_split would refuse
    csv_bytes = table.to_csv(index=False).encode()
    digest = split_hash(csv_bytes)
    counts = table["subset"].value_counts().reindex(SUBSETS, fill_value=0).to_dict()
    sidecar = {**meta, "sha256": digest, "counts": {k: int(v) for k, v in counts.items()}}
    atomic_write_bytes(Path(csv_path), csv_bytes)
    atomic_write_text(sidecar_path(csv_path), json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    return digest


def sidecar_path(csv_path: Path) -> Path:
    return Path(csv_path).with_suffix(".json")


def read_split(csv_path: Path) -> tuple[pd.DataFrame, str]:
    """Read a split and verify it against its sidecar hash; return (table, hash)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise SplitError(f"split file not found: {csv_path} (run `sslmem split` / the `split` rule first)")
    sidecar = sidecar_path(csv_path)
    if not sidecar.is_file():
        raise SplitError(f"split hash file not found: {sidecar}")
    csv_bytes = csv_path.read_bytes()
    try:
        expected = json.loads(sidecar.read_text())["sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise SplitError(
            f"{sidecar}: unreadable split hash file ({type(error).__name__}: {error}); regenerate the split"
        ) from None
    digest = split_hash(csv_bytes)
    if digest != expected:
        raise SplitError(
            f"{csv_path}: content hash {digest[:12]} does not match {sidecar.name} ({expected[:12]}); "
            "the split was modified or truncated — regenerate it"
        )
    import io

    table = pd.read_csv(io.BytesIO(csv_bytes))
    missing = {"point_id", "source", "subset", "label"} - set(table.columns)
    if missing:
        raise SplitError(f"{csv_path}: missing column(s) {sorted(missing)}")
    try:
        check_disjoint(table)
    except SplitError as error:
        raise SplitError(f"{csv_path}: {error}") from None
    return table, digest


def subset_ids(table: pd.DataFrame, subset: str) -> np.ndarray:
    return table.loc[table.subset == subset, "point_id"].to_numpy(np.int64)
