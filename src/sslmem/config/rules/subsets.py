"""The sizes of a dataset's split as the `split` stage will draw it, computed from the settings alone.

Every rule that compares a size of params.yaml with a subset of the split (S_S, S_C, S_I, S_E) reads it here, so
that all of them round as :func:`sslmem.data.splits.split_sizes` rounds and name the split's origin the same way.
A size is None where only the files tell: image_folder's pool when splits.pool_size is null (the catalog does not
know how many images a folder holds) and its test split; the rules skip their check there, and the stage that
draws the split checks it when it reads the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from sslmem.config.plan import pool_size_for, split_counts_for

SUBSET_KEYS = {"S_S": "shared", "S_C": "candidate", "S_I": "independent", "S_E": "extra"}


@dataclass(frozen=True)
class SubsetSizes:
    """|S_S|, |S_C|, |S_I| and |S_E| of one split; for messages, `split` names it ("fashion_mnist's split") and
    `origin` says which settings its sizes follow from."""

    shared: int
    candidate: int
    independent: int
    extra: int
    split: str
    origin: str

    def of(self, subset: str) -> int:
        """The size of a subset by its name (S_S, S_C, S_I, S_E)."""
        return getattr(self, SUBSET_KEYS[subset])

    def note(self) -> str:
        """The sizes and where they come from, the last sentence of a message: "Sizes of fashion_mnist's split:
        |S_S| = 800, |S_C| = 100, |S_I| = 100, |S_E| = 100, from splits.pool_size = 1000 × splits.fractions {...}"."""
        listing = ", ".join(f"|{subset}| = {self.of(subset)}" for subset in SUBSET_KEYS)
        return f"Sizes of {self.split}: {listing}, from {self.origin}"


def pool_split_size(dataset: str) -> int | None:
    """Images in the split the pool is drawn from (STL-10: its 100000 unlabelled ones); None: only the files tell."""
    from sslmem.data.catalog import dataset_info

    return dataset_info(dataset).pool_split_size


def test_split_size(dataset: str) -> int | None:
    """Images in the dataset's test split (S_E and Table 4's public set come from it); None: only the files tell."""
    from sslmem.data.catalog import dataset_info

    return dataset_info(dataset).test_size


def split_size(dataset: str, split: str) -> int | None:
    """Images in one named split of a dataset (train, test, unlabeled); None when the catalog does not know."""
    from sslmem.data.catalog import UNLABELED, dataset_info

    info = dataset_info(dataset)
    return {"train": info.train_size, "test": info.test_size, UNLABELED: info.unlabeled_size}.get(split)


def pool_images(dataset: str) -> str:
    """What the pool is drawn from, for messages: "training images of cifar10", "images of stl10's 'unlabeled'
    split (its training pool)"."""
    from sslmem.data.catalog import dataset_info

    pool_split = dataset_info(dataset).pool_split
    if pool_split == "train":
        return f"training images of {dataset}"
    return f"images of {dataset}'s {pool_split!r} split (its training pool)"


def preset_of(settings: Mapping) -> str:
    """The preset the settings were merged from, for messages ("preset 'default'")."""
    preset = settings.get("preset")
    return f"preset {preset!r}" if preset else "these settings"


def split_subsets(settings: Mapping, dataset: str) -> SubsetSizes | None:
    """The sizes of `dataset`'s core split: splits.counts.<dataset>, else splits.pool_size (null: the whole pool
    split, from the catalog) times splits.fractions; |S_E| is splits.extra_size, null meaning |S_C|. None when
    only the files tell (image_folder without a pool size) or when the fractions leave a subset empty (the split
    rule names that)."""
    from sslmem.data.splits import SplitError, split_sizes

    extra_size = settings["splits"]["extra_size"]
    extra_origin = "" if extra_size is not None else " (splits.extra_size null: |S_E| = |S_C|)"
    counts = split_counts_for(settings, dataset)
    if counts is not None:
        candidate = counts["candidate"]
        return SubsetSizes(counts["shared"], candidate, counts["independent"],
                           extra_size if extra_size is not None else candidate,
                           f"{dataset}'s split", f"splits.counts.{dataset} = {counts}{extra_origin}")
    pool = pool_size_for(settings, dataset)
    size = pool if pool is not None else pool_split_size(dataset)
    if size is None:
        return None
    fractions = dict(settings["splits"]["fractions"])
    try:
        sizes = split_sizes(size, fractions, extra_size)
    except SplitError:
        return None
    pool_text = f"splits.pool_size = {pool}" if pool is not None else f"all {size} {pool_images(dataset)}"
    origin = f"{pool_text} × splits.fractions {fractions}{extra_origin}"
    return SubsetSizes(sizes.shared, sizes.candidate, sizes.independent, sizes.extra, f"{dataset}'s split", origin)


# The sizes of a split and of an overlap level's split (Table 7), used by the overlap study and its checks here.
@dataclass(frozen=True)
class Sizes:
    """|S_S|, |S_C|, |S_I| and |S_E| of a split."""

    shared: int
    candidate: int
    independent: int
    extra: int

    @property
    def pool(self) -> int:
        return self.shared + self.candidate + self.independent

    @property
    def f_size(self) -> int:
        """f's training set, |S_S| + |S_C| (the paper's 45k, kept in every row of Table 7)."""
        return self.shared + self.candidate


def level_sizes(core: Sizes, overlap: float) -> Sizes:
    """The split sizes of one overlap level, from the core split's: |S_S| = overlap × the core pool (the percent of
    the paper's rows is of the initial 50k: 35k = 70 %, 40k = 80 %, 42.5k = 85 %), |S_C| = |S_I| = N_f − |S_S| so that
    f and g train on as many points as the core's f (45k), and the core's S_E. Pure arithmetic, checked by the
    study's rule (an empty subset, a pool beyond the dataset's)."""
    shared = int(round(float(overlap) * core.pool))
    candidate = core.f_size - shared
    return Sizes(shared, candidate, candidate, core.extra)


def core_sizes(settings: Mapping, dataset: str) -> Sizes | None:
    """The core split's sizes of `dataset`, from the settings as the `split` stage draws them (splits.counts, else
    pool × fractions); None when only the files tell (a pool of unknown size: image_folder without pool_size)."""
    from sslmem.data.catalog import dataset_info
    from sslmem.data.splits import split_sizes

    extra_size = settings["splits"]["extra_size"]
    counts = split_counts_for(settings, dataset)
    if counts:
        return Sizes(counts["shared"], counts["candidate"], counts["independent"],
                     extra_size if extra_size is not None else counts["candidate"])
    pool = pool_size_for(settings, dataset) or dataset_info(dataset).pool_split_size
    if pool is None:
        return None
    sizes = split_sizes(pool, settings["splits"]["fractions"], extra_size)
    return Sizes(sizes.shared, sizes.candidate, sizes.independent, sizes.extra)
