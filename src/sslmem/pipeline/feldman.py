"""Stage feldman: Feldman & Zhang's label memorisation of one supervised setup's f/g encoders on S_C.

For each (f_s, g_s) pair of the setup (one per seed), the softmax probability of every candidate's true label
under f_s (trained on S_S ∪ S_C, so with the point) and g_s (on S_S ∪ S_I, without it), and their difference
(:mod:`sslmem.measures.feldman`); the file holds one "pair" row per seed and point and the "ensemble" row, the
mean over the pairs (SSLMem paper, App. B.3: "the difference in softmax outputs between f and g"). The extra
points S_E, which neither encoder trained on, are scored the same way as the control: there the score can only
be the two encoders' differences, not memorisation.

The images are the clean points: no augmentation, resized to the encoder's input size and normalised with the
dataset's mean and std, as the linear probe reads them. The classifier head is the one the encoder was trained
with (``Supervised.logits``); SSLMem of the same encoders reads the encoder without it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from sslmem import io as sio
from sslmem.artifacts import ENSEMBLE_SEED, FELDMAN_COLUMNS, POINT_KEYS, ROLES, SETUP_KEYS, ordered
from sslmem.augment import AugmentSpec, BatchAugment
from sslmem.data import datasets, splits
from sslmem.measures.feldman import feldman_scores, true_label_probability
from sslmem.pipeline.align import job_label, measurement_images
from sslmem.pipeline.encoders import load_trained_method

# The candidates, and the control S_E (trained on by neither f nor g), in this order.
SCORED_SUBSETS = ("S_C", "S_E")


def run_feldman(settings: Mapping, checkpoints: Sequence[Path], split_csv: Path, out_parquet: Path) -> None:
    """Feldman's score of every point of S_C and S_E from the f and g checkpoints of one setup (any order;
    paired by seed)."""
    from sslmem.device import resolve_device

    started = time.perf_counter()
    table, split_hash = splits.read_split(split_csv)
    points = pd.concat([table[table["subset"] == subset] for subset in SCORED_SUBSETS], ignore_index=True)
    points = points[list(POINT_KEYS)]
    if not (points["subset"] == "S_C").any() or (points["label"] < 0).any():
        raise splits.SplitError(f"{split_csv}: Feldman's score needs labelled points of {list(SCORED_SUBSETS)}; "
                                f"found {len(points)} points, {(points['label'] < 0).sum()} without a label")
    device = resolve_device(settings["training"]["device"])
    torch.set_num_threads(settings["training"]["num_threads"])
    labels = torch.tensor(points["label"].to_numpy(dtype=np.int64))
    images, probabilities, identity = None, {}, None
    for path in map(Path, checkpoints):
        method, payload = load_trained_method(path, device)
        meta = payload["meta"]
        identity = _check_encoder(path, meta, split_hash, identity)
        if (meta["role"], int(meta["seed"])) in probabilities:
            raise sio.CheckpointError(f"{path}: a second checkpoint of encoder {meta['role']}{meta['seed']}")
        if images is None:
            images = measurement_images(settings, meta["dataset"], points)
        logits = class_logits(method, _normalizer(meta), images, settings["measure"]["batch_size"], device)
        p_true = true_label_probability(logits, labels).numpy()
        probabilities[(meta["role"], int(meta["seed"]))] = p_true
        print(f"{job_label(meta)} feldman: mean P(true label) {_subset_means(points, p_true)}, on {device}",
              flush=True)
    frame = feldman_frame(points, probabilities, identity)
    sio.atomic_to_parquet(frame, out_parquet)
    ensemble = frame[frame["estimate"] == "ensemble"]
    print(f"{identity['setup']} feldman: mean score {_subset_means(ensemble, ensemble['feldman'].to_numpy())} "
          f"({_pair_count(probabilities)} pairs), {time.perf_counter() - started:.1f} s", flush=True)


def _subset_means(points: pd.DataFrame, values: np.ndarray) -> str:
    """Per subset, the mean of `values` over its points, for a log line: "S_C +0.4864 (100 points), ..."."""
    subsets = points["subset"].to_numpy()
    return ", ".join(f"{subset} {values[subsets == subset].mean():+.4f} ({(subsets == subset).sum()} points)"
                     for subset in pd.unique(subsets))


def _check_encoder(path: Path, meta: Mapping, split_hash: str, identity: Mapping | None) -> dict:
    """The setup a checkpoint belongs to, checked: trained on this split, a supervised f or g, the same setup as
    the checkpoints before it."""
    if meta["split_hash"] != split_hash:
        raise sio.CheckpointError(f"{path} was trained on split {meta['split_hash'][:12]}, not on this split "
                                  f"({split_hash[:12]}); retrain the encoder for this split")
    if meta["method"] != "supervised" or meta["role"] not in ROLES:
        raise sio.CheckpointError(f"{path}: encoder {meta['role']}{meta['seed']} of method {meta['method']!r}; "
                                  "Feldman's score needs the f and g encoders of a supervised setup (a classifier)")
    own = {key: meta[key] for key in SETUP_KEYS}
    if identity is not None and own != identity:
        raise sio.CheckpointError(f"{path}: encoder of {own}, but the checkpoints before it are of {dict(identity)}; "
                                  "score one setup at a time")
    return own


def _normalizer(meta: Mapping) -> BatchAugment:
    # AugmentSpec() is never drawn from: only clean() is used (no augmentation, resize and normalise).
    info = datasets.dataset_info(meta["dataset"])
    return BatchAugment(AugmentSpec(), meta["image_size"], info.mean, info.std)


@torch.no_grad()
def class_logits(method, normalizer: BatchAugment, images: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    """The classifier's logits [N, classes] of clean images (uint8 [N, 3, H, W]), in eval mode, on the CPU."""
    method.eval()
    chunks = [method.logits(normalizer.clean(images[start: start + batch_size].to(device))).float().cpu()
              for start in range(0, images.shape[0], batch_size)]
    return torch.cat(chunks)


def _pair_count(probabilities: Mapping) -> int:
    return len({seed for _role, seed in probabilities})


def feldman_frame(points: pd.DataFrame, probabilities: Mapping[tuple[str, int], np.ndarray],
                  identity: Mapping) -> pd.DataFrame:
    """The rows of the Feldman file (FELDMAN_COLUMNS): one "pair" row per seed and point, then the "ensemble"
    row per point (mean over pairs). `probabilities` maps (role, seed) to p_true per point of `points`."""
    seeds = sorted({seed for _role, seed in probabilities})
    unpaired = [f"{role}{seed}" for seed in seeds for role in ROLES if (role, seed) not in probabilities]
    if unpaired:
        raise sio.CheckpointError(f"no checkpoint of encoder(s) {unpaired}: Feldman's score compares f_s with g_s "
                                  "of the same seed; pass both of every pair")
    f = np.stack([probabilities[("f", seed)] for seed in seeds])
    g = np.stack([probabilities[("g", seed)] for seed in seeds])
    parts = [points.assign(estimate="pair", seed=seed, p_true_f=f[i], p_true_g=g[i], feldman=f[i] - g[i])
             for i, seed in enumerate(seeds)]
    parts.append(points.assign(estimate="ensemble", seed=ENSEMBLE_SEED, p_true_f=f.mean(axis=0),
                                   p_true_g=g.mean(axis=0), feldman=feldman_scores(f, g)))
    frame = pd.concat(parts, ignore_index=True).assign(**identity)
    return ordered(frame, FELDMAN_COLUMNS, "feldman")
