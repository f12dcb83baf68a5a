"""Stage align: one encoder's alignment loss on every scored point (S_C, a sample of S_S, S_I, S_E)."""

from __future__ import annotations

import datetime
import json
import math
import time
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from sslmem import io as sio
from sslmem.config import ConfigError, setup_representation
from sslmem.augment import AugmentSpec, BatchAugment, MeasurementViews
from sslmem.data import datasets, splits
from sslmem.measures.alignment import measure_layer_alignment
from sslmem.measures.unitmem import unit_memorization
from sslmem.artifacts import ALIGN_COLUMNS, LAYER_ALIGN_COLUMNS, POINT_KEYS, UNIT_COLUMNS, with_encoder_keys
from sslmem.pipeline.common import source_images
from sslmem.pipeline.encoders import load_trained_method

# About this many progress lines per align job, however many batches it has: enough to follow a long job in its
# Snakemake log, few enough to read.
PROGRESS_LINES = 10


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
    return pd.concat(parts, ignore_index=True)[list(POINT_KEYS)]


def pool_set(table: pd.DataFrame) -> pd.DataFrame:
    """Every point of the split in its order: the pool (S_S, S_C, S_I), which the in/out scores need, and S_E,
    seen by no encoder, the control of the reliability result."""
    return table.reset_index(drop=True)[list(POINT_KEYS)]


def measurement_images(settings: Mapping, dataset: str, points: pd.DataFrame) -> torch.Tensor:
    """The images of `points`, in their order: each point_id indexes the split its `source` names (the pool
    split, "train" or STL-10's "unlabeled", for S_S/S_C/S_I; "test" for S_E). Each split is loaded once."""
    sources = points.source.to_numpy()
    point_ids = points.point_id.to_numpy()
    images = None
    for source in pd.unique(sources) if len(points) else ["test"]:
        image_set = source_images(settings, dataset, str(source))
        if images is None:
            images = torch.empty((len(points), *image_set.images.shape[1:]), dtype=torch.uint8)
        rows = np.flatnonzero(sources == source)
        images[torch.from_numpy(rows)] = image_set.images[torch.from_numpy(point_ids[rows])]
    return images


def run_align(
    settings: Mapping,
    checkpoint: Path,
    split_csv: Path,
    out_parquet: Path,
    out_layers: Path | None = None,
    out_units: Path | None = None,
    points: str = "protocol",
    view_family: str | None = None,
    augment_family: str | None = None,
    layer_view: str = "layers",
) -> None:
    """Alignment of one encoder on every scored point (`out_parquet`) and, in the same forward passes, when
    `out_layers` is given, on the output of each of its layers (``Encoder.named_layers()``; LayerMem), and
    when `out_units` is given, the UnitMem of every unit (``Encoder.named_units()``) over the points of
    measure.unitmem.subset. `points`: "protocol" scores :func:`measurement_set`, "pool" every point of the
    training pool (:func:`pool_set`). `view_family`: a name of measure.view_families whose views replace the
    encoder's training augmentation (Table 8); None: the training augmentation. `augment_family`: a family of
    `augmentations` instead of the training one (the same views for encoders trained with and without it).
    `layer_view`: "layers" or "parts" (a ViT's attention and MLP branches; :func:`measured_modules`)."""
    from sslmem.device import resolve_device

    started = time.perf_counter()
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
    points = pool_set(table) if points == "pool" else measurement_set(settings, table)
    images = measurement_images(settings, meta["dataset"], points)
    augment = measurement_augment(settings, meta, view_family, augment_family)
    measure = settings["measure"]
    representation = setup_representation(settings, meta["setup"])
    represent = method.representation_fn(representation)
    layers, unit_layers, release = measured_modules(method.scoring_encoder, layer_view, out_layers, out_units)
    label = job_label(meta)
    print(f"{label} align: {len(points)} images ({subset_counts(points)}), {measure['num_views']} views, "
          f"batch {measure['batch_size']}, {len(layers)} layers, {len(unit_layers)} unit layers, on {device}", flush=True)
    try:
        measured = measure_layer_alignment(
            represent,
            layers,
            images,
            augment,
            num_views=measure["num_views"],
            pairing=measure["pairing"],
            batch_size=measure["batch_size"],
            seed=measure["seed"],
            device=device,
            unit_layers=unit_layers,
            progress=batch_progress(label, len(points), measure["batch_size"]),
        )
    finally:
        release()
    if out_layers is not None:
        per_layer = [
            points.assign(layer_index=index, layer=name, align=values.numpy().astype(np.float64))
            for index, (name, values) in enumerate(measured.layers.items())
        ]
        layer_frame = with_encoder_keys(pd.concat(per_layer, ignore_index=True), meta, LAYER_ALIGN_COLUMNS, "layer align")
        sio.atomic_to_parquet(layer_frame, out_layers)
    if out_units is not None:
        sio.atomic_to_parquet(unitmem_frame(meta, points, measured.unit_means, measure["unitmem"]), out_units)
    if view_family is not None:
        check_views_differ(measured.align, view_family)
    frame = points.assign(representation=representation, align=measured.align.numpy().astype(np.float64))
    sio.atomic_to_parquet(with_encoder_keys(frame, meta, ALIGN_COLUMNS, "align"), out_parquet)
    print(f"{label} align: done, {len(points)} images in {time.perf_counter() - started:.1f} s", flush=True)


def measured_modules(encoder, layer_view: str, out_layers, out_units):
    """(layers, unit layers, release) an align job hooks: the encoder's layers (LayerMem) and units (UnitMem) of
    `layer_view` ("layers": named_layers/named_units; "parts": a ViT's branches, ``Encoder.named_parts`` and
    ``part_units``), each only when its file is asked for. A unit read as its positive part is hooked through a
    tap, an identity outside the network that a hook on the unit's module calls with max(0, output), so the
    measurement code reads it like any module; `release` removes those hooks."""
    if layer_view not in ("layers", "parts"):
        raise ValueError(f"layer_view {layer_view!r}: use 'layers' or 'parts'")
    if layer_view == "layers":
        layers = encoder.named_layers() if out_layers is not None else {}
        return layers, (encoder.named_units() if out_units is not None else {}), lambda: None
    layers = encoder.named_parts() if out_layers is not None else {}
    units, handles = {}, []
    for name, (module, reading) in (encoder.part_units() if out_units is not None else {}).items():
        if reading == "raw":
            units[name] = module
            continue
        tap = units[name] = torch.nn.Identity()
        handles.append(module.register_forward_hook(_feeder(tap)))

    def release() -> None:
        for handle in handles:
            handle.remove()

    return layers, units, release


def _feeder(tap):
    """A forward hook calling `tap` with the positive part of its module's output. It returns None: a hook that
    returns a value replaces the module's output, and the network must run unchanged."""
    def feed(_module, _inputs, output) -> None:
        tap(torch.relu(output))
    return feed


def measurement_augment(settings: Mapping, meta: Mapping, view_family: str | None,
                        augment_family: str | None = None) -> BatchAugment:
    """The views an encoder is measured with: by default the augmentation it was trained with, as recorded in its
    checkpoint (one source of truth: the model is rebuilt from the checkpoint too); with `view_family`, that
    family of measure.view_families instead (:class:`~sslmem.augment.MeasurementViews`)."""
    info = datasets.dataset_info(meta["dataset"])
    if augment_family is not None:
        if augment_family not in settings["augmentations"]:
            raise ConfigError(f"--family {augment_family!r}: not a family of `augmentations`")
        return BatchAugment(AugmentSpec.from_settings(settings["augmentations"][augment_family]), meta["image_size"],
                            info.mean, info.std)
    if view_family is None:
        trained_with = json.loads(meta["training_settings"])
        return BatchAugment(AugmentSpec.from_settings(trained_with["augment"]), meta["image_size"], info.mean, info.std)
    families = settings["measure"]["view_families"]
    if view_family not in families:
        raise ConfigError(f"--view-family {view_family!r}: not a family of measure.view_families ({sorted(families)})")
    family = dict(families[view_family])
    return MeasurementViews(family.pop("kind"), family, meta["image_size"], info.mean, info.std)


def check_views_differ(align: torch.Tensor, view_family: str) -> None:
    """Refuse alignments that are 0 on every point: the family's views were all the same image (e.g. colour drop
    on grey images), so every score would be 0/0, normalised noise."""
    if float(align.abs().max()) < 1e-6:
        raise ValueError(f"view family {view_family!r}: every view of every point was the same image (alignment 0 "
                         "everywhere), so the score is undefined; choose a family that varies the views")


def job_label(meta: Mapping) -> str:
    """The prefix of a job's log lines, e.g. "simclr-resnet18 f0" (as the train stage's)."""
    return f"{meta['setup']} {meta['role']}{meta['seed']}"


def subset_counts(points: pd.DataFrame) -> str:
    counts = points["subset"].value_counts()
    return ", ".join(f"{subset} {counts[subset]}" for subset in pd.unique(points["subset"]))


def batch_progress(label: str, total: int, batch_size: int):
    """A `progress` callback for :func:`measure_layer_alignment` that prints a line (images done / total,
    images/s, ETA) after every group of batches, about PROGRESS_LINES lines in all, and after the last batch."""
    every = max(1, math.ceil(math.ceil(total / batch_size) / PROGRESS_LINES))
    started = time.perf_counter()
    batches = 0

    def report(done: int, total: int) -> None:
        nonlocal batches
        batches += 1
        if batches % every and done < total:
            return
        seconds = time.perf_counter() - started
        rate = done / seconds if seconds > 0 else 0.0
        left = (total - done) / rate if rate > 0 else 0.0
        print(f"{label} align: {done}/{total} images, {rate:.0f} img/s, "
              f"ETA {datetime.timedelta(seconds=round(left))}", flush=True)

    return report


def unitmem_frame(meta: Mapping, points: pd.DataFrame, unit_means: Mapping, options: Mapping) -> pd.DataFrame:
    """One row per (layer, unit): UnitMem over the points of `options["subset"]`, the point that activates the
    unit most (its point_id, and whether it is an S_C point is implied by the subset) and that point's share."""
    rows = np.flatnonzero(points["subset"].to_numpy() == options["subset"])
    if rows.size < 2:
        raise ValueError(f"measure.unitmem.subset {options['subset']!r} holds {rows.size} scored points; need >= 2")
    point_ids = points["point_id"].to_numpy()[rows]
    frames = []
    for index, (name, means) in enumerate(unit_means.items()):
        unitmem, argmax = unit_memorization(means[torch.from_numpy(rows)], others=options["others"])
        frames.append(pd.DataFrame({
            "layer_index": index, "layer": name, "unit": np.arange(unitmem.numel()),
            "unitmem": unitmem.numpy(), "argmax_point_id": point_ids[argmax.numpy()],
        }))
    table = pd.concat(frames, ignore_index=True).assign(subset=options["subset"], n_points=int(rows.size))
    return with_encoder_keys(table, meta, UNIT_COLUMNS, "unitmem")

