"""Stage probe: linear-probe and kNN accuracy of one encoder on the held-out test split of its own dataset and of
each dataset of probe.downstream.<dataset> (the paper's downstream accuracy: CIFAR10 encoders probed on CIFAR10,
CIFAR100 and STL10). One row per probed dataset, the own one first."""

from __future__ import annotations

import datetime
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from sslmem import io as sio
from sslmem.augment import AugmentSpec, BatchAugment
from sslmem.artifacts import PROBE_COLUMNS, with_encoder_keys
from sslmem.config import probe_downstream, probe_recipe
from sslmem.data.datasets import ImageSet
from sslmem.pipeline.common import load_images, load_images_at
from sslmem.pipeline.encoders import load_trained_method

# At most about this many epoch lines per probed dataset (the paper's probe runs 90 epochs of a few seconds each):
# enough to follow it in its Snakemake log; the first and the last epoch are always printed.
PROGRESS_LINES = 20
SPLITS = ("train", "test")


@dataclass(frozen=True)
class ProbeContext:
    """What the probes of one encoder share, whichever dataset they run on."""

    encoder: torch.nn.Module
    normalizer: BatchAugment
    cfg: Mapping  # the probe recipe (sslmem.config.probe_recipe)
    batch_size: int  # feature-extraction batch (measure.batch_size)
    device: torch.device
    label: str  # "<setup> <role><seed>", as the train and align stages' lines


def run_probe(settings: Mapping, checkpoint: Path, out_csv: Path) -> None:
    from sslmem.device import resolve_device

    started = time.perf_counter()
    device = resolve_device(settings["training"]["device"])
    torch.set_num_threads(settings["training"]["num_threads"])
    method, payload = load_trained_method(checkpoint, device)
    meta = payload["meta"]
    own = meta["dataset"]
    train, test = (load_images(settings, own, split) for split in SPLITS)
    # Every probed dataset is normalised with the mean/std of the encoder's own training dataset, not with the
    # downstream dataset's: the encoder learnt on inputs of those statistics, and the probe measures its features.
    normalizer = BatchAugment(AugmentSpec(), meta["image_size"], train.info.mean, train.info.std)
    context = ProbeContext(
        method.scoring_encoder, normalizer, probe_recipe(settings, meta["method"]),  # per_method merged (Table 6)
        settings["measure"]["batch_size"], device, f"{meta['setup']} {meta['role']}{meta['seed']}",
    )
    # Downstream datasets are loaded at the encoder's input: its image size, and its own images' channel count.
    shape = (meta["image_size"], int(train.images.shape[1]))
    rows = [probe_dataset(context, own, train, test)]
    del train, test  # one dataset's images in memory at a time
    for dataset in probe_downstream(settings, own):
        rows.append(probe_dataset(context, dataset, *(load_images_at(settings, dataset, s, *shape) for s in SPLITS)))
    sio.atomic_to_csv(with_encoder_keys(pd.DataFrame(rows), meta, PROBE_COLUMNS, "probe result"), out_csv)
    accuracies = "; ".join(f"{r['probe_dataset']} top-1 {r['top1']:.4f}, kNN {r['knn_top1']:.4f}" for r in rows)
    print(f"{context.label} probe: done, {accuracies}, {time.perf_counter() - started:.1f} s", flush=True)


def probe_dataset(context: ProbeContext, dataset: str, train: ImageSet, test: ImageSet) -> dict:
    """Linear-probe and kNN top-1 of the encoder on one dataset's labelled train/test splits: one probe-file row
    (without the encoder's keys). Prints its lines prefixed "<setup> <role><seed> probe <dataset>"."""
    from sslmem.evaluation.probe import extract_features

    cfg, prefix = context.cfg, f"{context.label} probe {dataset}"
    # A generator per dataset: the own dataset's subsets stay those drawn before downstream probes existed, and
    # each dataset's do not depend on which others are probed.
    rng = np.random.default_rng(cfg["seed"])
    train_images, train_labels = _subset(train, cfg["train_size"], rng)
    test_images, test_labels = _subset(test, cfg["test_size"], rng)
    extracting = time.perf_counter()
    features = [extract_features(context.encoder, context.normalizer, images, context.batch_size, context.device)
                for images in (train_images, test_images)]
    print(f"{prefix}: features {tuple(features[0].shape)} train, {tuple(features[1].shape)} test, "
          f"{time.perf_counter() - extracting:.1f} s, on {context.device}", flush=True)
    num_classes = int(max(train.labels.max(), test.labels.max())) + 1
    top1 = _linear_top1(context, prefix, features, (train_labels, test_labels), num_classes)
    knn_top1 = _knn_top1(context, prefix, features, (train_labels, test_labels), num_classes)
    return {"probe_dataset": dataset, "train_size": len(train_labels), "test_size": len(test_labels), "top1": top1,
            "knn_top1": knn_top1}


def _subset(image_set: ImageSet, size: int | None, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`size` images of the split drawn without replacement, in split order (all of them when size is None)."""
    if size is None or size >= len(image_set.labels):
        return image_set.images, image_set.labels
    index = torch.from_numpy(np.sort(rng.choice(len(image_set.labels), size=size, replace=False)))
    return image_set.images[index], image_set.labels[index]


def _linear_top1(context: ProbeContext, prefix: str, features, labels, num_classes: int) -> float:
    from sslmem.evaluation.probe import linear_probe

    cfg = context.cfg
    probing = time.perf_counter()
    top1 = linear_probe(
        features[0], labels[0], features[1], labels[1],
        num_classes=num_classes,
        epochs=cfg["epochs"],
        warmup_epochs=cfg["warmup_epochs"],
        batch_size=cfg["batch_size"],
        optimizer=cfg["optimizer"],
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        seed=cfg["seed"],
        momentum=cfg["momentum"],
        betas=cfg.get("betas"),
        trust_coefficient=cfg.get("trust_coefficient"),
        device=context.device,
        after_epoch=probe_epoch_printer(prefix, cfg["epochs"]),
    )
    print(f"{prefix}: linear top-1 {top1:.4f} ({len(labels[1])} test images), "
          f"{time.perf_counter() - probing:.1f} s", flush=True)
    return top1


def _knn_top1(context: ProbeContext, prefix: str, features, labels, num_classes: int) -> float:
    from sslmem.evaluation.probe import knn_classify

    cfg = context.cfg
    started = time.perf_counter()
    knn = knn_classify(features[0], labels[0], features[1], num_classes=num_classes, k=cfg["knn_k"],
                       temperature=cfg["knn_temperature"])
    knn_top1 = float((knn == labels[1]).float().mean())
    print(f"{prefix}: kNN top-1 {knn_top1:.4f} (k={cfg['knn_k']}), {time.perf_counter() - started:.1f} s", flush=True)
    return knn_top1


def probe_epoch_printer(prefix: str, epochs: int):
    """An `after_epoch` callback for :func:`linear_probe` printing one line per epoch, "<prefix> epoch e/E: ...", in
    the style of the train stage's (loss, accuracy on the training batches, lr, images/s, ETA), thinned to about
    PROGRESS_LINES lines."""
    every = max(1, math.ceil(epochs / PROGRESS_LINES))
    seconds: list[float] = []

    def report(row: Mapping) -> None:
        seconds.append(row["seconds"])
        epoch = row["epoch"]
        if epoch % every and epoch not in (1, epochs):
            return
        recent = seconds[-3:]
        left = sum(recent) / len(recent) * (epochs - epoch)
        print(f"{prefix} epoch {epoch}/{epochs}: loss {row['loss']:.4f}, train acc {row['train_top1']:.4f}, "
              f"lr {row['lr']:.4g}, {row['images_per_second']:.0f} img/s, "
              f"ETA {datetime.timedelta(seconds=round(left))}", flush=True)

    return report
