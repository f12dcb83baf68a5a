"""Stage dense (the dense study, SSLMem Tables 3 and 10): fine-tune one encoder end to end on a dense task, score
the fine-tuned model on the task's test set, and linear-probe the fine-tuned encoder on its pre-training dataset.

The encoder (a removal-study or half-A checkpoint) gets an UPerNet decoder (:class:`sslmem.evaluation.dense.DenseModel`)
and both are trained together with SGD and the "poly" schedule (App. A: lr_t = lr · (1 − t/T)^power), cross-entropy
with the ignored label left out (segmentation) or the squared error over pixels of known depth (depth). One row
per job: the task's metrics (mIoU and pixel accuracy, or RMSE and δ < 1.25) and the probe's top-1.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from sslmem import io as sio
from sslmem.augment import AugmentSpec, BatchAugment, make_generator
from sslmem.data.dense import IGNORE, DenseSet
from sslmem.models import Encoder, build_encoder

TASK_KINDS = ("segmentation", "depth")
SEGMENTATION_METRICS = ("miou", "pixel_accuracy")
DEPTH_METRICS = ("rmse", "delta1")
DENSE_COLUMNS = ("dataset", "setup", "method", "arch", "seed", "role", "task", "task_dataset", "image_size",
                 "train_size", "test_size", "epochs", "steps", "final_loss", *SEGMENTATION_METRICS, *DEPTH_METRICS,
                 "probe_top1", "seconds")


def finetune_seed(settings: Mapping, encoder_seed: int) -> int:
    """The seed of one fine-tune: studies.dense.seed with the encoder's own seed."""
    return int(np.random.SeedSequence([settings["studies"]["dense"]["seed"], int(encoder_seed)]).generate_state(1)[0])


def encoder_at(encoder: Encoder, meta: Mapping, image_size: int) -> Encoder:
    """The same weights at another input size: a ResNet as it is; a ViT rebuilt with its position embeddings
    resampled to the new patch grid (timm's resample_abs_pos_embed, bicubic; the class token's kept)."""
    if not encoder.is_vit or image_size == encoder.image_size:
        return encoder
    from timm.layers import resample_abs_pos_embed

    arch_cfg = json.loads(meta["training_settings"])["arch_cfg"]
    resized = build_encoder(encoder.arch, image_size=image_size, **arch_cfg)
    state = encoder.state_dict()
    state["backbone.pos_embed"] = resample_abs_pos_embed(
        state["backbone.pos_embed"], new_size=list(resized.backbone.patch_embed.grid_size),
        old_size=list(encoder.backbone.patch_embed.grid_size), num_prefix_tokens=1)
    resized.load_state_dict(state)
    return resized.to(next(encoder.parameters()).device)


def load_task_sets(settings: Mapping, task: str) -> dict[str, DenseSet]:
    """The train and test sets of a task, as studies.dense.<task> configures them."""
    from sslmem.data import dense as data
    from sslmem.pipeline.common import load_images

    config = settings["studies"]["dense"]
    options = {**config[task], "kind": task}
    if options["dataset"] == "scenes":
        scenes = config["scenes"]
        items = load_images(settings, scenes["source"], "test")
        return data.scene_sets(items.images, items.labels, options, scenes)
    loader = {"ade20k": data.load_ade20k, "nyu_depth_v2": data.load_nyu_depth}[options["dataset"]]
    root = config["roots"][options["dataset"]]
    return {split: loader(root, split, options["image_size"], options[f"{split}_size"], [config["seed"], index])
            for index, split in enumerate(("train", "test"))}


def poly_lr(step: int, total: int, lr: float, power: float) -> float:
    """The "poly" schedule (App. A): lr · (1 − step/total)^power."""
    return lr * (1.0 - step / max(total, 1)) ** power


def dense_loss(output: torch.Tensor, targets: torch.Tensor, segmentation: bool) -> torch.Tensor:
    if segmentation:
        return F.cross_entropy(output, targets, ignore_index=IGNORE)
    valid = targets > 0
    return F.mse_loss(output[valid], targets[valid])


def finetune(model, normalizer: BatchAugment, train: DenseSet, recipe: Mapping, seed: int, device, log) -> dict:
    """End-to-end SGD with the poly schedule; returns the steps taken and the last epoch's mean loss."""
    segmentation = train.num_classes is not None
    batch = min(recipe["batch_size"], len(train))
    steps_per_epoch = max(1, len(train) // batch)  # full batches only: BatchNorm needs more than one image
    total = steps_per_epoch * recipe["epochs"]
    torch.manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=recipe["momentum"],
                                weight_decay=recipe["weight_decay"])
    model.train()
    step, epoch_loss = 0, float("nan")
    for epoch in range(recipe["epochs"]):
        order = torch.randperm(len(train), generator=make_generator("cpu", seed, epoch))
        losses = []
        for index in range(steps_per_epoch):
            for group in optimizer.param_groups:
                group["lr"] = poly_lr(step, total, recipe["lr"], recipe["poly_power"])
            rows = order[index * batch: (index + 1) * batch]
            images = normalizer.clean(train.images[rows].to(device))
            loss = dense_loss(model(images), train.targets[rows].to(device), segmentation)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
        epoch_loss = float(np.mean(losses))
        log(f"epoch {epoch + 1}/{recipe['epochs']}: loss {epoch_loss:.4f}, lr {optimizer.param_groups[0]['lr']:.4g}")
    return {"steps": step, "final_loss": epoch_loss}


@torch.no_grad()
def evaluate(model, normalizer: BatchAugment, test: DenseSet, batch_size: int, device) -> dict:
    """The task's metrics over every pixel of the test set (predictions gathered, then measured once)."""
    from sslmem.evaluation.dense import depth_metrics, segmentation_metrics

    model.eval()
    outputs = []
    for start in range(0, len(test), batch_size):
        output = model(normalizer.clean(test.images[start: start + batch_size].to(device)))
        outputs.append((output.argmax(dim=1) if test.num_classes is not None else output).cpu())
    predictions = torch.cat(outputs)
    if test.num_classes is not None:
        return segmentation_metrics(predictions, test.targets, test.num_classes, IGNORE)
    return depth_metrics(predictions, test.targets)


def probe_top1(settings: Mapping, encoder: Encoder, meta: Mapping, device) -> float:
    """Linear-probe top-1 of the fine-tuned encoder on its own dataset (the probe stage's recipe and subsets)."""
    from sslmem.config import probe_recipe
    from sslmem.pipeline.common import load_images
    from sslmem.pipeline.probe import ProbeContext, probe_dataset

    own = meta["dataset"]
    train, test = load_images(settings, own, "train"), load_images(settings, own, "test")
    normalizer = BatchAugment(AugmentSpec(), meta["image_size"], train.info.mean, train.info.std)
    context = ProbeContext(encoder.eval(), normalizer, probe_recipe(settings, meta["method"]),
                           settings["measure"]["batch_size"], device, f"{meta['setup']} {meta['role']}{meta['seed']}")
    return float(probe_dataset(context, own, train, test)["top1"])


def run_dense(settings: Mapping, task: str, checkpoint: Path, out_csv: Path) -> None:
    from sslmem.device import resolve_device
    from sslmem.evaluation.dense import DenseModel
    from sslmem.pipeline.encoders import load_trained_method

    started = time.perf_counter()
    device = resolve_device(settings["training"]["device"])
    torch.set_num_threads(settings["training"]["num_threads"])
    config, recipe = settings["studies"]["dense"], settings["studies"]["dense"][task]
    method, payload = load_trained_method(checkpoint, device)
    meta = payload["meta"]
    label = f"{meta['setup']} {meta['role']}{meta['seed']} dense {task}"

    def log(line: str) -> None:
        print(f"{label}: {line}", flush=True)

    sets = load_task_sets(settings, task)
    log(f"{recipe['dataset']}: {len(sets['train'])} train, {len(sets['test'])} test images of "
        f"{recipe['image_size']} px")
    encoder = encoder_at(method.scoring_encoder, meta, recipe["image_size"])
    del method
    out_channels = sets["train"].num_classes or 1
    seed = finetune_seed(settings, meta["seed"])
    torch.manual_seed(seed)  # the decoder's initialisation
    model = DenseModel(encoder, out_channels, recipe["decoder_channels"]).to(device)
    info = _own_info(settings, meta["dataset"])
    normalizer = BatchAugment(AugmentSpec(), recipe["image_size"], info.mean, info.std)
    trained = finetune(model, normalizer, sets["train"], recipe, seed, device, log)
    metrics = evaluate(model, normalizer, sets["test"], recipe["batch_size"], device)
    log(", ".join(f"{name} {value:.4f}" for name, value in metrics.items()))
    top1 = probe_top1(settings, encoder_at(encoder, meta, meta["image_size"]), meta, device) if config["probe"] else np.nan
    row = {"task": task, "task_dataset": recipe["dataset"], "image_size": recipe["image_size"],
           "train_size": len(sets["train"]), "test_size": len(sets["test"]), "epochs": recipe["epochs"], **trained,
           **{name: np.nan for name in (*SEGMENTATION_METRICS, *DEPTH_METRICS)}, **metrics, "probe_top1": top1,
           "seconds": time.perf_counter() - started}
    from sslmem.artifacts import with_encoder_keys

    sio.atomic_to_csv(with_encoder_keys(pd.DataFrame([row]), meta, DENSE_COLUMNS, "dense result"), out_csv)
    log(f"done, probe top-1 {top1:.4f}, {row['seconds']:.1f} s")


def _own_info(settings: Mapping, dataset: str):
    """The encoder's own dataset's catalog entry (its mean and std normalise every image it sees)."""
    from sslmem.data.catalog import dataset_info

    return dataset_info(dataset)
