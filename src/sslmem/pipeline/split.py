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

