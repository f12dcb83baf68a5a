"""Stage dejavu: Déjà Vu memorisation (Meehan et al. 2023) of one setup's f/g encoders on S_C and the control S_E.

For every encoder of the setup (f_s and g_s of each seed): embed a labelled public set (report.table4.public_size
test-split points outside S_E, a seeded draw, so disjoint from every training set) and the corner crop of every
point of S_C and S_E (:func:`sslmem.measures.dejavu.corner_crop`, resized back to the encoder's input), then guess
each crop's label by a k-nearest-neighbour vote over the public embeddings of the same encoder. The file holds one
row per encoder and point (DEJAVU_COLUMNS); the memorisation (f's accuracy minus g's, per pair) is computed by the
table (:mod:`sslmem.report.dejavu`) and logged here.

The embedding is the representation the setup is scored on (measure.representation, as the align stage), of the
clean image or crop: no augmentation, resized to the encoder's input size and normalised with the dataset's mean
and std. S_E was trained on by neither f nor g: there the gap between the two can only come from the encoders
themselves, not from memorisation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from sslmem import io as sio
from sslmem.artifacts import DEJAVU_COLUMNS, POINT_KEYS, ROLES, SETUP_KEYS, ordered
from sslmem.augment import AugmentSpec, BatchAugment
from sslmem.config import setup_representation
from sslmem.data import datasets, splits
from sslmem.measures.dejavu import (
    corner_crop,
    draw_public,
    knn_predict,
    nearest_neighbours,
    neighbour_label_counts,
)
from sslmem.pipeline.align import job_label, measurement_images
from sslmem.pipeline.common import load_images
from sslmem.pipeline.encoders import load_trained_method
from sslmem.measures.dejavu import pair_summary

# The candidates (f trained on them, g did not), and the control S_E (neither did), in this order.
SCORED_SUBSETS = ("S_C", "S_E")


@dataclass(frozen=True)
class DejaVuImages:
    """What every encoder of a setup embeds: the crops of the scored points (in `points` order), the public
    images and their labels, and the number of classes the votes count."""

    points: pd.DataFrame
    crops: torch.Tensor
    full: torch.Tensor
    public_ids: np.ndarray
    public_images: torch.Tensor
    public_labels: np.ndarray
    num_classes: int


def run_dejavu(settings: Mapping, checkpoints: Sequence[Path], split_csv: Path, out_parquet: Path) -> None:
    """Déjà Vu's kNN label guess from the corner crop of every point of S_C and S_E, for each f and g checkpoint
    of one setup (any order; paired by seed)."""
    from sslmem.device import resolve_device

    started = time.perf_counter()
    options = settings["report"]["table4"]
    table, split_hash = splits.read_split(split_csv)
    device = resolve_device(settings["training"]["device"])
    torch.set_num_threads(settings["training"]["num_threads"])
    batch_size = settings["measure"]["batch_size"]
    data, identity, parts, seen = None, None, [], set()
    for path in map(Path, checkpoints):
        method, payload = load_trained_method(path, device)
        meta = payload["meta"]
        identity = _check_encoder(path, meta, split_hash, identity)
        if (meta["role"], int(meta["seed"])) in seen:
            raise sio.CheckpointError(f"{path}: a second checkpoint of encoder {meta['role']}{meta['seed']}")
        seen.add((meta["role"], int(meta["seed"])))
        if data is None:
            data = dejavu_images(settings, meta["dataset"], table, options)
            print(f"{meta['setup']} dejavu: {_subset_counts(data.points)}, {len(data.public_ids)} public points, "
                  f"k = {options['k']}, {options['crop']['corner']} crop of {options['crop']['fraction']:g}, "
                  f"on {device}", flush=True)
        represent = method.representation_fn(setup_representation(settings, meta["setup"]))
        normalizer = _normalizer(meta)
        public = embed(represent, normalizer, data.public_images, batch_size, device)
        guesses = {name: knn_guess(embed(represent, normalizer, images, batch_size, device), public,
                                   data.public_labels, options["k"], data.num_classes)
                   for name, images in (("crop", data.crops), ("full", data.full))}
        predicted, votes, entropy = guesses["crop"]
        labels = data.points["label"].to_numpy()
        parts.append(data.points.assign(seed=int(meta["seed"]), role=meta["role"], predicted=predicted, votes=votes,
                                        entropy=entropy, correct=predicted == labels))
        print(f"{job_label(meta)} dejavu: kNN accuracy on the crops {_subset_accuracy(data.points, predicted)}; "
              f"on the whole images {_subset_accuracy(data.points, guesses['full'][0])}", flush=True)
    frame = dejavu_frame(parts, identity, setup_representation(settings, identity["setup"]), options["k"],
                         len(data.public_ids))
    sio.atomic_to_parquet(frame, out_parquet)
    print(f"{identity['setup']} dejavu: {pair_summary(frame, options['confident_fraction'])}, "
          f"{time.perf_counter() - started:.1f} s", flush=True)


def dejavu_images(settings: Mapping, dataset: str, table: pd.DataFrame, options: Mapping) -> DejaVuImages:
    """The scored points (S_C, then S_E) with their crops and whole images, and the public set, drawn from the
    test split outside S_E (report.table4.public_size, seed). The test split is loaded once, for S_E and the
    public set."""
    points = pd.concat([table[table["subset"] == subset] for subset in SCORED_SUBSETS], ignore_index=True)
    points = points[list(POINT_KEYS)]
    if not (points["subset"] == "S_C").any() or (points["label"] < 0).any():
        raise splits.SplitError(f"Déjà Vu needs labelled points of {list(SCORED_SUBSETS)}; found {len(points)} "
                                f"points, {(points['label'] < 0).sum()} without a label (an unlabelled pool?)")
    test = load_images(settings, dataset, "test")
    extra = points[points["subset"] == "S_E"]
    if (extra["source"] != "test").any():
        raise splits.SplitError("S_E must hold test-split points only")
    candidates = points[points["subset"] == "S_C"]
    images = torch.cat([measurement_images(settings, dataset, candidates),
                        test.images[torch.tensor(extra["point_id"].to_numpy(), dtype=torch.long)]])
    public_ids = draw_public(len(test.labels), extra["point_id"].to_numpy(), options["public_size"], options["seed"])
    public_labels = test.labels.numpy()[public_ids]
    num_classes = int(max(test.info.num_classes, public_labels.max() + 1, points["label"].max() + 1))
    crop = options["crop"]
    return DejaVuImages(points=points, crops=corner_crop(images, crop["corner"], crop["fraction"]).contiguous(),
                        full=images, public_ids=public_ids, public_images=test.images[torch.tensor(public_ids, dtype=torch.long)],
                        public_labels=public_labels, num_classes=num_classes)


def knn_guess(queries: np.ndarray, public: np.ndarray, public_labels: np.ndarray, k: int, num_classes: int):
    """(predicted label, votes, label entropy) of each query embedding from its k nearest public embeddings."""
    counts = neighbour_label_counts(nearest_neighbours(queries, public, k), public_labels, num_classes)
    return knn_predict(counts)


@torch.no_grad()
def embed(represent, normalizer: BatchAugment, images: torch.Tensor, batch_size: int, device) -> np.ndarray:
    """The representation [N, D] (flattened, float32, on the CPU) of clean images or crops (uint8 [N, 3, h, w]),
    each resized to the encoder's input and normalised."""
    chunks = [represent(normalizer.clean(images[start: start + batch_size].to(device))).float().flatten(1).cpu()
              for start in range(0, images.shape[0], batch_size)]
    return torch.cat(chunks).numpy()


def _normalizer(meta: Mapping) -> BatchAugment:
    # AugmentSpec() is never drawn from: only clean() is used (resize to the encoder's input and normalise).
    info = datasets.dataset_info(meta["dataset"])
    return BatchAugment(AugmentSpec(), meta["image_size"], info.mean, info.std)


def _check_encoder(path: Path, meta: Mapping, split_hash: str, identity: Mapping | None) -> dict:
    """The setup a checkpoint belongs to, checked: trained on this split, an f or g, the same setup as the
    checkpoints before it."""
    if meta["split_hash"] != split_hash:
        raise sio.CheckpointError(f"{path} was trained on split {meta['split_hash'][:12]}, not on this split "
                                  f"({split_hash[:12]}); retrain the encoder for this split")
    if meta["role"] not in ROLES:
        raise sio.CheckpointError(f"{path}: encoder {meta['role']}{meta['seed']}; Déjà Vu compares f (trained on "
                                  "S_C) with g (not): pass the f and g checkpoints of a setup")
    own = {key: meta[key] for key in SETUP_KEYS}
    if identity is not None and own != identity:
        raise sio.CheckpointError(f"{path}: encoder of {own}, but the checkpoints before it are of {dict(identity)}; "
                                  "measure one setup at a time")
    return own


def _subset_counts(points: pd.DataFrame) -> str:
    counts = points["subset"].value_counts()
    return ", ".join(f"{subset} {counts[subset]}" for subset in pd.unique(points["subset"]))


def _subset_accuracy(points: pd.DataFrame, predicted: np.ndarray) -> str:
    """Per subset, the percentage of correct guesses, for a log line: "S_C 41.0 %, S_E 38.0 %"."""
    correct = predicted == points["label"].to_numpy()
    subsets = points["subset"].to_numpy()
    return ", ".join(f"{subset} {100 * correct[subsets == subset].mean():.1f} %" for subset in pd.unique(subsets))


def dejavu_frame(parts: Sequence[pd.DataFrame], identity: Mapping, representation: str, k: int,
                 n_public: int) -> pd.DataFrame:
    """The rows of the Déjà Vu file (DEJAVU_COLUMNS), seeds ascending, f before g; every seed must have both."""
    frame = pd.concat(parts, ignore_index=True)
    encoders = set(zip(frame["role"], frame["seed"]))
    unpaired = [f"{role}{seed}" for seed in sorted({s for _, s in encoders}) for role in ROLES
                if (role, seed) not in encoders]
    if unpaired:
        raise sio.CheckpointError(f"no checkpoint of encoder(s) {unpaired}: Déjà Vu compares f_s with g_s of the "
                                  "same seed; pass both of every pair")
    frame = frame.assign(**identity, representation=representation, k=k, n_public=n_public)
    frame["role"] = pd.Categorical(frame["role"], categories=list(ROLES))
    frame = frame.sort_values(["seed", "role"], kind="stable").reset_index(drop=True)
    frame["role"] = frame["role"].astype(str)
    return ordered(frame, DEJAVU_COLUMNS, "dejavu")

