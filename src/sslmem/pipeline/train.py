"""Stage train: one encoder of one setup, seed and dataset, trained on the points of its training-set file
(f: S_S ∪ S_C, g: S_S ∪ S_I, or a study's set; see sslmem.data.training_sets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd
import torch

from sslmem import config as sconfig, io as sio
from sslmem.artifacts import TRAIN_LOG_COLUMNS, with_encoder_keys
from sslmem.augment import AugmentSpec
from sslmem.data import training_sets
from sslmem.data.splits import is_foreign
from sslmem.pipeline.common import environment_versions, image_size_of, load_images, source_images

if TYPE_CHECKING:
    from sslmem.data.datasets import DatasetInfo
    from sslmem.training import TrainData, TrainingSpec


def run_spec_meta(settings: Mapping, spec: sconfig.RunSpec, split_hash: str, device,
                  training_set_hash: str | None = None) -> dict:
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
        **({"training_set_hash": training_set_hash} if training_set_hash else {}),
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


def training_data(settings: Mapping, dataset: str, training_set: pd.DataFrame) -> tuple[TrainData, DatasetInfo]:
    """The images one encoder trains on, in the slot order of its training set, and the dataset's info.

    The point ids index the split the training set names as `source` (the pool split: "train"; STL-10:
    "unlabeled", whose labels are all -1), which is loaded whole (image_folder: its file table; the training
    set is then a lazy view whose batches the loop decodes by index)."""
    from sslmem.training import TrainData
    from sslmem.training.data import slot_images

    sources = training_set["source"].astype(str).to_numpy()
    ids = training_set["point_id"].to_numpy().copy()  # writable: torch indexes with it
    labels = info = None
    parts = []
    for source in pd.unique(sources):  # each split loaded once; a planted pool mixes two
        image_set = source_images(settings, dataset, source)
        if labels is None:
            labels = torch.empty(len(ids), dtype=image_set.labels.dtype)
        if not is_foreign(source):
            info = image_set.info
        slots = np.flatnonzero(sources == source)
        parts.append((image_set.images, slots, ids[slots]))
        labels[torch.from_numpy(slots)] = image_set.labels[torch.from_numpy(ids[slots])]
    if info is None:  # every point foreign: the dataset's own info (normalisation) still applies
        info = load_images(settings, dataset, "test").info
    return TrainData(slot_images(len(ids), parts), ids, labels=labels), info


def epoch_progress_hook(meta: Mapping, epochs: int, progress_csv: Path | None):
    """A training hook printing one line per finished epoch (loss, lr, images/s, ETA) to the job's log and, when
    `progress_csv` is given, rewriting that CSV with every finished epoch: a long job can be followed while it
    runs (the final log in results/train_logs/ appears only when training completes)."""
    import datetime

    from sslmem.training.hooks import TrainingHook

    class EpochProgress(TrainingHook):
        def after_epoch(self, context, log):
            row = log[-1]
            left = sum(r["seconds"] for r in log[-3:]) / len(log[-3:]) * (epochs - row["epoch"])
            print(f"{meta['setup']} {meta['role']}{meta['seed']} epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}, "
                  f"lr {row['lr']:.4g}, {row['images_per_second']:.0f} img/s, "
                  f"ETA {datetime.timedelta(seconds=round(left))}", flush=True)
            if progress_csv is not None:
                frame = with_encoder_keys(pd.DataFrame(log), meta, TRAIN_LOG_COLUMNS, "training progress")
                sio.atomic_to_csv(frame, progress_csv)

    return EpochProgress()


def run_train(
    settings: Mapping,
    spec: sconfig.RunSpec,
    training_set_csv: Path,
    out_checkpoint: Path,
    out_log: Path,
    resume_path: Path,
    stop_after_epochs: int | None = None,
    progress_csv: Path | None = None,
    snapshots: Path | None = None,
    snapshot_epochs: tuple[int, ...] = (),
) -> None:
    """Train one encoder; with `snapshots`, also keep its state after each of `snapshot_epochs` in that folder
    (sslmem.training.snapshots: staged beside the resume checkpoint, moved there when training completes)."""
    from sslmem.device import resolve_device
    from sslmem.training import TrainingOptions, train_encoder

    training_set, training_set_meta = training_sets.read_training_set(training_set_csv)
    training_cfg = settings["training"]
    device = resolve_device(training_cfg["device"])
    torch.set_num_threads(training_cfg["num_threads"])
    data, info = training_data(settings, spec.dataset, training_set)
    meta = run_spec_meta(settings, spec, training_set_meta["split_hash"], device, training_set_meta["sha256"])
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
    training = training_spec(settings, spec, info.mean, info.std)
    progress_csv = Path(progress_csv) if progress_csv else Path(resume_path).with_suffix(".csv")
    hooks = [epoch_progress_hook(meta, training.epochs, progress_csv)]
    if training.recipe.get("align_regularizer"):
        from sslmem.training.regularizer import AlignmentRegularizer

        hooks.append(AlignmentRegularizer(training.recipe["align_regularizer"]))
    if training.recipe.get("privacy"):
        from sslmem.training.privacy import PrivacyHook, PrivacySettings

        hooks.append(PrivacyHook(PrivacySettings.from_recipe(training.recipe["privacy"]), num_samples=len(data.point_ids)))
    if snapshots is not None:
        from sslmem.training.snapshots import SnapshotHook, staging_folder

        hooks.append(SnapshotHook(snapshot_epochs, staging_folder(resume_path), others=tuple(hooks)))
    result = train_encoder(training, data, options, hooks=hooks)
    log = with_encoder_keys(pd.DataFrame(result.log), meta, TRAIN_LOG_COLUMNS, "training log")
    if stop_after_epochs is None:
        sio.atomic_to_csv(log, out_log)
        progress_csv.unlink(missing_ok=True)  # the final log replaces it, as the checkpoint replaces the resume one
        if snapshots is not None:
            from sslmem.training.snapshots import publish_snapshots, staging_folder

            publish_snapshots(staging_folder(resume_path), snapshots, snapshot_epochs)
