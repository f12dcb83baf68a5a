"""Stage align: one encoder's alignment loss on every scored point (S_C, a sample of S_S, S_I, S_E)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from sslmem import config as sconfig, io as sio
from sslmem.augment import AugmentSpec, BatchAugment
from sslmem.data import datasets, splits
from sslmem.memorization import measure_layer_alignment
from sslmem.pipeline.common import ENCODER_KEYS, load_images, setup_of
from sslmem.pipeline.encoders import load_trained_method


def measurement_set(settings: Mapping, table: pd.DataFrame) -> pd.DataFrame:
    """The points scored: all of S_C, S_I and S_E, and a sample of S_S of size measure.shared_sample (|S_C|)."""
    candidates = table[table.subset == "S_C"]
    size = settings["measure"]["shared_sample"] or len(candidates)
    shared = table[table.subset == "S_S"]
    if size > len(shared):
        raise ValueError(f"measure.shared_sample={size} exceeds |S_S|={len(shared)}")
    rng = np.random.default_rng(settings["measure"]["seed"])
    shared_sample = shared.iloc[np.sort(rng.choice(len(shared), size=size, replace=False))]
    parts = [candidates, shared_sample, table[table.subset == "S_I"], table[table.subset == "S_E"]]
    return pd.concat(parts, ignore_index=True)[["point_id", "source", "subset", "label"]]


def measurement_images(settings: Mapping, dataset: str, points: pd.DataFrame) -> torch.Tensor:
    train = load_images(settings, dataset, "train")
    test = load_images(settings, dataset, "test")
    images = torch.empty((len(points), *train.images.shape[1:]), dtype=torch.uint8)
    for source, image_set in (("train", train), ("test", test)):
        rows = np.flatnonzero(points.source.to_numpy() == source)
        images[torch.from_numpy(rows)] = image_set.images[torch.from_numpy(points.point_id.to_numpy()[rows])]
    return images


def run_align(
    settings: Mapping, checkpoint: Path, split_csv: Path, out_parquet: Path, out_layers: Path | None = None
) -> None:
    """Alignment of one encoder on every scored point (`out_parquet`) and, when `out_layers` is given, on the
    output of each of its layers (``Encoder.named_layers()``, measured in the same forward passes; LayerMem)."""
    from sslmem.train import resolve_device

    table, split_hash = splits.read_split(split_csv)
    device = resolve_device(settings["training"]["device"])
    torch.set_num_threads(settings["training"]["num_threads"])
    method, payload = load_trained_method(checkpoint, device)
    meta = payload["meta"]
    if meta["split_hash"] != split_hash:
        raise sio.CheckpointError(
            f"{checkpoint} was trained on split {meta['split_hash'][:12]}, but {split_csv} is {split_hash[:12]}; "
            "retrain the encoder for this split"
        )
    meta = {**meta, "setup": setup_of(meta)}
    points = measurement_set(settings, table)
    images = measurement_images(settings, meta["dataset"], points)
    recipe = sconfig.RunSpec(
        meta["dataset"], meta["method"], meta["arch"], meta["seed"], meta["role"], meta["setup"]
    ).training_settings(settings)["recipe"]
    info = datasets.dataset_info(meta["dataset"])
    augment = BatchAugment(
        AugmentSpec.from_settings(settings["augmentations"][recipe["augment"]]), meta["image_size"], info.mean, info.std
    )
    measure = settings["measure"]
    if measure["representation"] == "encoder":
        represent = method.scoring_encoder.representation
    else:
        represent = method.scoring_projection
    layers = method.scoring_encoder.named_layers() if out_layers is not None else {}
    align, layer_align = measure_layer_alignment(
        represent,
        layers,
        images,
        augment,
        num_views=measure["num_views"],
        pairing=measure["pairing"],
        batch_size=measure["batch_size"],
        seed=measure["seed"],
        device=device,
    )
    frame = points.copy()
    for position, key in enumerate(ENCODER_KEYS):
        frame.insert(position, key, meta[key])
    if out_layers is not None:
        per_layer = [
            frame.assign(layer_index=index, layer=name, align=values.numpy().astype(np.float64))
            for index, (name, values) in enumerate(layer_align.items())
        ]
        sio.atomic_to_parquet(pd.concat(per_layer, ignore_index=True), out_layers)
    frame["align"] = align.numpy().astype(np.float64)
    sio.atomic_to_parquet(frame, out_parquet)

