"""Rules on splits: the fractions make a split, the pool fits in the dataset's pool split and S_E in its test
split, and common-random-numbers coupling finds as many S_I points as S_C points to pair them with."""

from __future__ import annotations

import math
from typing import Mapping

from sslmem.config.base import ConfigError
from sslmem.config.plan import pool_size_for, split_counts_for
from sslmem.config.registry import cross_field_rule
from sslmem.config.rules.subsets import pool_images, pool_split_size, preset_of, split_subsets, test_split_size


@cross_field_rule
def check_splits(settings: Mapping) -> None:
    """splits.fractions sum to 1 and leave at least 2 points each; a pool fits in the pool split (the training
    split; STL-10: its unlabelled split)."""
    fractions = settings["splits"]["fractions"]
    total = sum(fractions.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise ConfigError(
            f"splits.fractions: shared + candidate + independent = {total:g} "
            f"({fractions}); they must sum to 1"
        )
    for dataset in settings["experiment"]["datasets"]:
        if split_counts_for(settings, dataset) is not None:
            _check_split_counts(settings, dataset)
            continue
        pool = pool_size_for(settings, dataset)
        if pool is not None:
            for name, fraction in fractions.items():
                if int(round(pool * fraction)) < 2:
                    raise ConfigError(
                        f"splits.fractions.{name}: {fraction} of splits.pool_size={pool} leaves fewer than 2 points"
                    )
        available = pool_split_size(dataset)
        if pool is not None and available is not None and pool > available:
            raise ConfigError(
                f"splits.pool_size: {pool} exceeds the {available} {pool_images(dataset)} "
                f"(experiment.datasets); use at most {available}, or null for all of them"
            )


def _check_split_counts(settings: Mapping, dataset: str) -> None:
    counts = split_counts_for(settings, dataset)
    available = pool_split_size(dataset)
    if available is not None and sum(counts.values()) > available:
        raise ConfigError(
            f"splits.counts.{dataset}: {counts} adds up to {sum(counts.values())} points, more than the {available} "
            f"{pool_images(dataset)}"
        )


@cross_field_rule
def check_extra_size(settings: Mapping) -> None:
    """S_E (splits.extra_size; null: as many points as S_C) fits in the test split it is drawn from: the split
    stage would stop there, before any encoder trains, but only once the images are read."""
    value = settings["splits"]["extra_size"]
    for dataset in settings["experiment"]["datasets"]:
        sizes, available = split_subsets(settings, dataset), test_split_size(dataset)
        if sizes is None or available is None or sizes.extra <= available:
            continue  # None: image_folder, whose sizes only its files tell (the split stage checks them)
        if value is None:
            raise ConfigError(f"splits.extra_size: null draws as many S_E points as S_C has, {sizes.extra}, from "
                              f"{dataset}'s test split of {available} images ({preset_of(settings)}); set "
                              f"splits.extra_size to at most {available}. {sizes.note()}")
        raise ConfigError(f"splits.extra_size: {value} points of S_E, but {dataset}'s test split has {available} "
                          f"images ({preset_of(settings)}); use at most {available}")


@cross_field_rule
def check_coupling(settings: Mapping) -> None:
    """common-random-numbers gives the k-th S_C point of f the slot of the k-th S_I point of g: |S_C| = |S_I|."""
    if settings["training"]["coupling"] != "common-random-numbers":
        return
    for dataset, counts in settings["splits"].get("counts", {}).items():
        if dataset in settings["experiment"]["datasets"] and counts["candidate"] != counts["independent"]:
            raise ConfigError(
                f"splits.counts.{dataset}: candidate ({counts['candidate']}) must equal independent "
                f"({counts['independent']}): training.coupling common-random-numbers pairs each S_C point with one "
                "S_I point; make them equal or set training.coupling: independent"
            )
    fractions = settings["splits"]["fractions"]
    if not math.isclose(fractions["candidate"], fractions["independent"], abs_tol=1e-9):
        raise ConfigError(
            f"training.coupling: common-random-numbers pairs each S_C point with one S_I point, so "
            f"splits.fractions.candidate ({fractions['candidate']}) must equal splits.fractions.independent "
            f"({fractions['independent']}); make them equal or set training.coupling: independent"
        )
    _check_coupled_rounding(settings, fractions)


def _check_coupled_rounding(settings: Mapping, fractions: Mapping) -> None:
    """Equal fractions can still round to |S_C| != |S_I| (the independent set takes the rounding remainder)."""
    from sslmem.data.splits import split_sizes

    for dataset in settings["experiment"]["datasets"]:
        if split_counts_for(settings, dataset) is not None:
            continue  # checked by check_coupling
        pool = pool_size_for(settings, dataset)
        size = pool if pool is not None else pool_split_size(dataset)
        if size is None:
            continue  # image_folder with the whole folder as pool: checked when the split is drawn
        sizes = split_sizes(size, fractions, None)
        if sizes.candidate != sizes.independent:
            pool_text = f"{pool}" if pool is not None else f"null (all {size} {pool_images(dataset)})"
            raise ConfigError(
                f"splits.pool_size: {pool_text} with fractions {dict(fractions)} rounds to "
                f"|S_C|={sizes.candidate} but |S_I|={sizes.independent}; common-random-numbers "
                "(training.coupling) needs them equal — choose a pool size that the fractions split evenly"
            )
