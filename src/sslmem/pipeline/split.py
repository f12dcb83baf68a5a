"""Stage split: the S_S/S_C/S_I/S_E split of one dataset, written with its hash.

The pool (S_S, S_C, S_I) is drawn from the dataset's pool split (the train split; STL-10: its unlabelled split),
S_E from the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from sslmem import config as sconfig
from sslmem.data import catalog, splits
from sslmem.pipeline.common import load_images


def run_split(settings: Mapping, dataset: str, out_csv: Path) -> str:
    pool_split = catalog.dataset_info(dataset).pool_split
    pool = load_images(settings, dataset, pool_split)
    test = load_images(settings, dataset, "test")
    cfg = settings["splits"]
    table = splits.make_split(
        dataset,
        settings["experiment"]["split_seed"],
        pool.labels.numpy(),
        test.labels.numpy(),
        sconfig.pool_size_for(settings, dataset),
        cfg["fractions"],
        cfg["extra_size"],
        counts=sconfig.split_counts_for(settings, dataset),
        pool_split=pool_split,
    )
    meta = {
        "dataset": dataset,
        "split_seed": settings["experiment"]["split_seed"],
        "pool_size": sconfig.pool_size_for(settings, dataset),
        "fractions": cfg["fractions"],
        "extra_size": cfg["extra_size"],
        # Only when set, so that the sidecar of a fractions split stays what it was.
        **({"counts": sconfig.split_counts_for(settings, dataset)} if sconfig.split_counts_for(settings, dataset) else {}),
        # Likewise only for a pool drawn from another split than "train" (STL-10's "unlabeled").
        **({"pool_split": pool_split} if pool_split != "train" else {}),
    }
    return splits.write_split(table, out_csv, meta)


def run_sized_split(settings: Mapping, dataset: str, sizes: Mapping[str, int], out_csv: Path,
                    setup: str | None = None) -> str:
    """The split of `dataset` with the given sizes ({shared, candidate, independent, extra}) instead of the
    settings': a study's split of other sizes (the overlap study's levels). The same split seed, so the same pool
    permutation (make_split takes the pool as a prefix of it) and, with the core's `extra`, the same S_E; a pure
    function of (dataset, split_seed, sizes). `setup`, the study setup it is for, goes to the sidecar."""
    pool_split = catalog.dataset_info(dataset).pool_split
    pool = load_images(settings, dataset, pool_split)
    test = load_images(settings, dataset, "test")
    counts = {key: int(sizes[key]) for key in ("shared", "candidate", "independent")}
    table = splits.make_split(dataset, settings["experiment"]["split_seed"], pool.labels.numpy(), test.labels.numpy(),
                              None, settings["splits"]["fractions"], int(sizes["extra"]), counts=counts,
                              pool_split=pool_split)
    meta = {"dataset": dataset, "split_seed": settings["experiment"]["split_seed"], "counts": counts,
            "extra_size": int(sizes["extra"]), **({"setup": setup} if setup else {}),
            **({"pool_split": pool_split} if pool_split != "train" else {})}
    return splits.write_split(table, out_csv, meta)

