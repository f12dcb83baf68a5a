"""Stage classmem: UnitMem and ClassMem of every unit of one f encoder on one class-balanced sample of its
training points (localization paper, Fig. 3).

The sample: report.classmem.points_per_class points of each class of report.classmem.subset (S_S by default, which
f and g both trained on; or S_C, f's own candidates), drawn with report.classmem.seed, so every encoder of every
setup on a dataset is measured on the same points. Each point's per-unit mean activation (over its augmented
views, and over space for a convolution) comes from :func:`sslmem.measures.alignment.measure_layer_alignment` with
the views of the align stage (the encoder's training augmentation, measure.num_views, measure.seed); from the same
means, UnitMem over the points and ClassMem over the class means (:mod:`sslmem.measures.unitmem`). The file holds
one row per (layer, unit) (CLASSMEM_COLUMNS); the comparison across setups is the table's
(:mod:`sslmem.report.classmem`).

What can be refused is refused before any forward pass: a subset without labels or with fewer than 2 classes, or a
class with fewer points than points_per_class (before the checkpoint is even read), a checkpoint of another split or
of a g encoder (from its metadata).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from sslmem import io as sio
from sslmem.artifacts import CLASSMEM_COLUMNS, POINT_KEYS, with_encoder_keys
from sslmem.data import splits
from sslmem.measures.alignment import measure_layer_alignment
from sslmem.measures.unitmem import class_memorization, unit_memorization
from sslmem.pipeline.align import batch_progress, job_label, measurement_augment, measurement_images
from sslmem.pipeline.encoders import load_trained_method

# The subsets f trained on (f: S_S ∪ S_C): UnitMem and ClassMem are measures of the encoder on its training points.
F_SUBSETS = ("S_S", "S_C")


def class_balanced_sample(table: pd.DataFrame, subset: str, points_per_class: int, seed: int) -> pd.DataFrame:
    """`points_per_class` points of each class of `subset`, drawn without replacement with `seed`: classes in
    ascending order, each class's points in split order (POINT_KEYS). The same arguments give the same sample.

    Balanced because ClassMem compares class means: each class then weighs the same, as the paper's 100 samples of
    each CIFAR100 class. Refuses (SplitError, naming the problem) a subset that f did not train on, unlabelled points
    (label −1, STL-10's pool), fewer than 2 classes, and a class smaller than `points_per_class`."""
    if subset not in F_SUBSETS:
        raise splits.SplitError(f"report.classmem.subset {subset!r}: one of {list(F_SUBSETS)} (the points f trained on)")
    if points_per_class < 1:
        raise splits.SplitError(f"report.classmem.points_per_class = {points_per_class}: draw at least 1 point per class")
    points = table[table["subset"] == subset]
    if points.empty:
        raise splits.SplitError(f"the split has no point of {subset}")
    unlabelled = int((points["label"] < 0).sum())
    if unlabelled:
        raise splits.SplitError(f"{unlabelled} of the {len(points)} points of {subset} have no label (an unlabelled pool, "
                         "such as STL-10's); ClassMem needs classes: leave the dataset out (report.classmem.datasets)")
    counts = points["label"].value_counts().sort_index()
    if len(counts) < 2:
        raise splits.SplitError(f"{subset} holds points of {len(counts)} class ({counts.index.tolist()}); ClassMem compares "
                         "classes (at least 2)")
    if points_per_class > counts.min():
        raise splits.SplitError(f"report.classmem.points_per_class = {points_per_class}, but class {counts.idxmin()} has only "
                         f"{counts.min()} points in {subset} (per class: {counts.to_dict()}); use at most "
                         f"{counts.min()}")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in counts.index:
        rows = np.flatnonzero(points["label"].to_numpy() == label)
        chosen.append(np.sort(rng.choice(rows, size=points_per_class, replace=False)))
    return points.iloc[np.concatenate(chosen)].reset_index(drop=True)[list(POINT_KEYS)]


def run_classmem(settings: Mapping, checkpoint: Path, split_csv: Path, out_parquet: Path) -> None:
    """UnitMem and ClassMem of every unit (``Encoder.named_units()``) of one f encoder on the class-balanced sample
    of report.classmem, written to `out_parquet` (CLASSMEM_COLUMNS)."""
    from sslmem.device import resolve_device

    started = time.perf_counter()
    options = settings["report"]["classmem"]
    table, split_hash = splits.read_split(split_csv)
    sample = class_balanced_sample(table, options["subset"], options["points_per_class"], options["seed"])
    device = resolve_device(settings["training"]["device"])
    torch.set_num_threads(settings["training"]["num_threads"])
    method, payload = load_trained_method(checkpoint, device)
    meta = payload["meta"]
    check_encoder(checkpoint, meta, split_hash)
    measure = settings["measure"]
    unit_layers = method.scoring_encoder.named_units()
    label = job_label(meta)
    print(f"{label} classmem: {len(sample)} points of {options['subset']} ({options['points_per_class']} of each of "
          f"{sample['label'].nunique()} classes, seed {options['seed']}), {measure['num_views']} views, "
          f"{len(unit_layers)} unit layers, on {device}", flush=True)
    # The encoder's own output is measured too (measure_layer_alignment always does); only the unit means are read.
    measured = measure_layer_alignment(
        method.representation_fn("encoder"), {}, measurement_images(settings, meta["dataset"], sample),
        measurement_augment(settings, meta, None), num_views=measure["num_views"], pairing=measure["pairing"],
        batch_size=measure["batch_size"], seed=measure["seed"], device=device, unit_layers=unit_layers,
        progress=batch_progress(label, len(sample), measure["batch_size"]),
    )
    frame = classmem_frame(meta, sample, measured.unit_means, options, measure["unitmem"]["others"])
    sio.atomic_to_parquet(frame, out_parquet)
    print(f"{label} classmem: {summary(frame)}; {time.perf_counter() - started:.1f} s", flush=True)


def check_encoder(path: Path, meta: Mapping, split_hash: str) -> None:
    """The checkpoint is an f encoder trained on this split (UnitMem and ClassMem are read on f's training points)."""
    if meta["split_hash"] != split_hash:
        raise sio.CheckpointError(f"{path} was trained on split {meta['split_hash'][:12]}, not on this split "
                                  f"({split_hash[:12]}); retrain the encoder for this split")
    if meta["role"] != "f":
        raise sio.CheckpointError(f"{path}: encoder {meta['role']}{meta['seed']}; ClassMem is measured on the f "
                                  f"encoders (trained on {' ∪ '.join(F_SUBSETS)}), pass an f checkpoint")


def classmem_frame(meta: Mapping, sample: pd.DataFrame, unit_means: Mapping[str, torch.Tensor], options: Mapping,
                   others: str) -> pd.DataFrame:
    """One row per (layer, unit): UnitMem over the sample's points and ClassMem over its class means, from the same
    per-point means [N, U] of each unit layer (`unit_means`, rows in `sample` order), with the point and the class
    that activate the unit most."""
    point_ids = sample["point_id"].to_numpy()
    labels = sample["label"].to_numpy()
    frames = []
    for index, (name, means) in enumerate(unit_means.items()):
        if means.shape[0] != len(sample):
            raise ValueError(f"layer {name}: means of {means.shape[0]} points for a sample of {len(sample)}")
        unitmem, argmax_point = unit_memorization(means, others=others)
        classmem, argmax_class = class_memorization(means, labels, others=others)
        frames.append(pd.DataFrame({
            "layer_index": index, "layer": name, "unit": np.arange(unitmem.numel()),
            "unitmem": unitmem.numpy(), "classmem": classmem.numpy(),
            "argmax_point_id": point_ids[argmax_point.numpy()], "argmax_class": argmax_class.numpy(),
        }))
    frame = pd.concat(frames, ignore_index=True).assign(
        subset=options["subset"], n_points=len(sample), n_classes=int(pd.unique(labels).size),
        points_per_class=options["points_per_class"])
    return with_encoder_keys(frame, meta, CLASSMEM_COLUMNS, "classmem")


def summary(frame: pd.DataFrame) -> str:
    """A log line: per layer, mean UnitMem and ClassMem and the share of units with UnitMem > ClassMem."""
    parts = []
    for layer, rows in frame.groupby("layer", sort=False):
        both = rows.dropna(subset=["unitmem", "classmem"])
        above = (both["unitmem"] > both["classmem"]).mean() if len(both) else float("nan")
        parts.append(f"{layer} UnitMem {rows['unitmem'].mean():.3f} ClassMem {rows['classmem'].mean():.3f} "
                     f"(UnitMem > ClassMem in {100 * above:.0f} %)")
    return "; ".join(parts)
