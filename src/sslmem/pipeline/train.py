"""Stage train: one encoder (f on S_S ∪ S_C, g on S_S ∪ S_I) of one setup, seed and dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import pandas as pd
import torch

from sslmem import config as sconfig, io as sio
from sslmem.artifacts import TRAIN_LOG_COLUMNS, with_encoder_keys
from sslmem.augment import AugmentSpec
from sslmem.data import splits
from sslmem.pipeline.common import environment_versions, image_size_of, load_images

if TYPE_CHECKING:
    from sslmem.training import TrainingSpec


def run_spec_meta(settings: Mapping, spec: sconfig.RunSpec, split_hash: str, device) -> dict:
    training = spec.training_settings(settings)
    return {
        "dataset": spec.dataset,
        "setup": spec.setup,
        "method": spec.method,
        "arch": spec.arch,
        "seed": spec.seed,
        "role": spec.role,
        "image_size": image_size_of(settings, spec.dataset),
        "params_hash": sconfig.fingerprint(training),
        "split_hash": split_hash,
        "training_settings": json.dumps(training, sort_keys=True),
        "versions": environment_versions(device),
    }


def training_spec(settings: Mapping, spec: sconfig.RunSpec, mean, std) -> TrainingSpec:
    """What the loop trains for one run of the workflow, read from the merged settings."""
    from sslmem.training import TrainingSpec

    recipe = spec.training_settings(settings)["recipe"]
    return TrainingSpec(
        method=spec.method,
        recipe=recipe,
        arch=spec.arch,
        arch_cfg=sconfig.arch_options(settings, spec.arch, spec.dataset),
        augment=AugmentSpec.from_settings(settings["augmentations"][recipe["augment"]]),
        image_size=image_size_of(settings, spec.dataset),
        mean=mean,
        std=std,
        seed=spec.seed,
        role=spec.role,
        coupling=settings["training"]["coupling"],
    )


def run_train(
    settings: Mapping,
    spec: sconfig.RunSpec,
    split_csv: Path,
    out_checkpoint: Path,
    out_log: Path,
    resume_path: Path,
    stop_after_epochs: int | None = None,
) -> None:
    from sslmem.device import resolve_device
    from sslmem.training import TrainData, TrainingOptions, coupled_training_ids, train_encoder

    table, split_hash = splits.read_split(split_csv)
    training_cfg = settings["training"]
    device = resolve_device(training_cfg["device"])
    torch.set_num_threads(training_cfg["num_threads"])
    train_set = load_images(settings, spec.dataset, "train")
    own = splits.subset_ids(table, "S_C" if spec.role == "f" else "S_I")
    ids = coupled_training_ids(splits.subset_ids(table, "S_S"), own)
    meta = run_spec_meta(settings, spec, split_hash, device)
    options = TrainingOptions(
        device=device,
        out_path=Path(out_checkpoint),
        resume_path=Path(resume_path),
        meta=meta,
        checkpoint_every=training_cfg["checkpoint_every"],
        amp=training_cfg["amp"],
        compile_model=training_cfg["compile"],
        progress=training_cfg["progress"],
        accumulate_steps=training_cfg["accumulate_steps"],
        stop_after_epochs=stop_after_epochs,
    )
    rows = torch.from_numpy(ids)
    result = train_encoder(
        training_spec(settings, spec, train_set.info.mean, train_set.info.std),
        TrainData(train_set.images[rows], ids, labels=train_set.labels[rows]),
        options,
    )
    log = with_encoder_keys(pd.DataFrame(result.log), meta, TRAIN_LOG_COLUMNS, "training log")
    if stop_after_epochs is None:
        sio.atomic_to_csv(log, out_log)
