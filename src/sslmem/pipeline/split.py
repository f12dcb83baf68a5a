"""Stage split: the S_S/S_C/S_I/S_E split of one dataset, written with its hash."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from sslmem import config as sconfig
from sslmem.data import splits
from sslmem.pipeline.common import load_images


def run_split(settings: Mapping, dataset: str, out_csv: Path) -> str:
    train = load_images(settings, dataset, "train")
    test = load_images(settings, dataset, "test")
    cfg = settings["splits"]
    table = splits.make_split(
        dataset,
        settings["experiment"]["split_seed"],
        train.labels.numpy(),
        test.labels.numpy(),
        sconfig.pool_size_for(settings, dataset),
        cfg["fractions"],
        cfg["extra_size"],
        counts=sconfig.split_counts_for(settings, dataset),
    )
    meta = {
        "dataset": dataset,
        "split_seed": settings["experiment"]["split_seed"],
        "pool_size": sconfig.pool_size_for(settings, dataset),
        "fractions": cfg["fractions"],
        "extra_size": cfg["extra_size"],
        # Only when set, so that the sidecar of a fractions split stays what it was.
        **({"counts": sconfig.split_counts_for(settings, dataset)} if sconfig.split_counts_for(settings, dataset) else {}),
    }
    return splits.write_split(table, out_csv, meta)

