"""Stage probe: linear-probe and kNN accuracy of one encoder on the held-out test split."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from sslmem import io as sio
from sslmem.augment import AugmentSpec, BatchAugment
from sslmem.artifacts import ENCODER_KEYS
from sslmem.config import probe_recipe
from sslmem.pipeline.common import load_images
from sslmem.pipeline.encoders import load_trained_method


def run_probe(settings: Mapping, checkpoint: Path, out_csv: Path) -> None:
    from sslmem.device import resolve_device
    from sslmem.evaluation.probe import extract_features, knn_classify, linear_probe

    device = resolve_device(settings["training"]["device"])
    torch.set_num_threads(settings["training"]["num_threads"])
    method, payload = load_trained_method(checkpoint, device)
    meta = payload["meta"]
    cfg = probe_recipe(settings, meta["method"])  # probe.per_method.<method> merged over probe (Table 6)
    train = load_images(settings, meta["dataset"], "train")
    test = load_images(settings, meta["dataset"], "test")
    rng = np.random.default_rng(cfg["seed"])

    def subset(image_set, size):
        if size is None or size >= len(image_set.labels):
            return image_set.images, image_set.labels
        index = torch.from_numpy(np.sort(rng.choice(len(image_set.labels), size=size, replace=False)))
        return image_set.images[index], image_set.labels[index]

    train_images, train_labels = subset(train, cfg["train_size"])
    test_images, test_labels = subset(test, cfg["test_size"])
    normalizer = BatchAugment(AugmentSpec(), meta["image_size"], train.info.mean, train.info.std)
    batch = settings["measure"]["batch_size"]
    train_features = extract_features(method.scoring_encoder, normalizer, train_images, batch, device)
    test_features = extract_features(method.scoring_encoder, normalizer, test_images, batch, device)
    num_classes = int(max(train.labels.max(), test.labels.max())) + 1
    top1 = linear_probe(
        train_features,
        train_labels,
        test_features,
        test_labels,
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
        device=device,
    )
    knn = knn_classify(
        train_features, train_labels, test_features, num_classes=num_classes, k=cfg["knn_k"],
        temperature=cfg["knn_temperature"],
    )
    row = {key: meta[key] for key in ENCODER_KEYS}
    row.update(
        train_size=len(train_labels), test_size=len(test_labels), top1=top1,
        knn_top1=float((knn == test_labels).float().mean()),
    )
    sio.atomic_to_csv(pd.DataFrame([row]), out_csv)
