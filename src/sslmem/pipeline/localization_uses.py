"""The localization paper's two uses of memorisation, per f encoder (study localization_uses), and the UnitMem
of an encoder measured with a named augmentation family (study unitmem_conditions, Fig. 5).

- Fine-tuning by LayerMem: a linear head on the pooled features plus the encoder's most (or least) memorising
  layer(s) unfrozen, trained a few epochs on a labelled task, its test top-1; beside the head alone.
- Pruning by UnitMem: the units with the highest, lowest or random UnitMem of every unit layer zeroed (a forward
  hook on the module whose output channels are the units), then the core linear probe on the frozen features.

Hand-written and why: freezing/unfreezing modules and zeroing output channels with forward hooks are a few lines
of torch; torch.nn.utils.prune masks *weights*, and zeroing a convolution's weights does not zero its unit after
a BatchNorm (its bias) or a residual sum, which the hook on the unit's own output does exactly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from sslmem import io as sio
from sslmem.artifacts import ENCODER_KEYS

FINETUNE_CONDITIONS = ("head_only", "most", "least")
PRUNE_STRATEGIES = ("none", "top", "bottom", "random")


# ---------------------------------------------------------------------------------------------------- selection

def rank_layers(layer_table: pd.DataFrame, rank_by: str, count: int) -> dict[str, list[str]]:
    """The `count` layers with the highest (most) and the lowest (least) `rank_by` (layermem or
    delta_layermem) of a LayerMem table, in layer order; ties broken by layer order."""
    if count < 1 or 2 * count > len(layer_table):
        raise ValueError(f"need 1 <= layers <= {len(layer_table) // 2} (half the {len(layer_table)} layers), "
                         f"got {count}")
    ordered = layer_table.sort_values([rank_by, "layer_index"], ascending=[False, True], kind="stable")
    by_index = dict(zip(layer_table["layer"], layer_table["layer_index"]))
    most = sorted(ordered["layer"].head(count), key=by_index.get)
    least = sorted(ordered["layer"].tail(count), key=by_index.get)
    return {"most": most, "least": least}


def unfreeze_only(encoder: nn.Module, layers: Mapping[str, nn.Module], chosen: Sequence[str]) -> list[str]:
    """Freeze every parameter of `encoder` except those of the modules `chosen` (names of `layers`); those
    modules go to train mode (their BatchNorm statistics adapt), the rest to eval mode. Returns the names of the
    trainable parameters."""
    unknown = sorted(set(chosen) - set(layers))
    if unknown:
        raise ValueError(f"layers {unknown} are not among the encoder's {list(layers)}")
    encoder.eval()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    for name in chosen:
        layers[name].train()
        for parameter in layers[name].parameters():
            parameter.requires_grad_(True)
    return [name for name, parameter in encoder.named_parameters() if parameter.requires_grad]


def choose_units(unitmem: np.ndarray, fraction: float, strategy: str, rng: np.random.Generator) -> np.ndarray:
    """Indices of round(fraction · n) units of one layer among those with a defined UnitMem (n of them; a NaN
    unit, dead or negative on average, is never chosen: zeroing a dead unit costs nothing and would flatter the
    bottom strategy): the highest (top), the lowest (bottom) or a uniform draw (random). Sorted."""
    if strategy not in PRUNE_STRATEGIES:
        raise ValueError(f"strategy {strategy!r}; use one of {PRUNE_STRATEGIES}")
    defined = np.flatnonzero(~np.isnan(unitmem))
    count = int(round(fraction * defined.size))
    if strategy == "none" or count == 0:
        return np.array([], dtype=int)
    if strategy == "random":
        return np.sort(rng.choice(defined, size=count, replace=False))
    order = defined[np.argsort(unitmem[defined], kind="stable")]
    picked = order[-count:] if strategy == "top" else order[:count]
    return np.sort(picked)


def zero_units(modules: Mapping[str, nn.Module], chosen: Mapping[str, np.ndarray]) -> list:
    """Zero the chosen output channels (units) of each module with a forward hook: channel dim 1 of a 4-d
    output (a convolution's [B, C, H, W]), else the last dim (a ViT's [B, N, D]). Returns the hook handles
    (``handle.remove()`` undoes the pruning)."""
    handles = []
    for name, units in chosen.items():
        if len(units) == 0:
            continue
        index = torch.as_tensor(np.asarray(units), dtype=torch.long)

        def hook(module, inputs, output, index=index):
            dim = 1 if output.ndim == 4 else output.ndim - 1
            mask = torch.ones(output.shape[dim], dtype=output.dtype, device=output.device)
            mask[index.to(output.device)] = 0
            shape = [1] * output.ndim
            shape[dim] = -1
            return output * mask.view(shape)

        handles.append(modules[name].register_forward_hook(hook))
    return handles


# ---------------------------------------------------------------------------------------------------- data

def task_images(settings: Mapping, meta: Mapping, task: str | None, train_size: int | None, test_size: int | None,
                seed: int):
    """The labelled train/test images of the task (None: the encoder's own dataset), subsets drawn with `seed`,
    at the encoder's input size; and the normaliser of the encoder's own dataset (as the core probe)."""
    from sslmem.augment import AugmentSpec, BatchAugment
    from sslmem.pipeline.common import load_images, load_images_at
    from sslmem.pipeline.probe import _subset

    own = load_images(settings, meta["dataset"], "train")
    normalizer = BatchAugment(AugmentSpec(), meta["image_size"], own.info.mean, own.info.std)
    dataset = task or meta["dataset"]
    if dataset == meta["dataset"]:
        splits = (own, load_images(settings, dataset, "test"))
    else:
        shape = (meta["image_size"], int(own.images.shape[1]))
        splits = tuple(load_images_at(settings, dataset, split, *shape) for split in ("train", "test"))
    rng = np.random.default_rng(seed)
    train = _subset(splits[0], train_size, rng)
    test = _subset(splits[1], test_size, rng)
    num_classes = int(max(splits[0].labels.max(), splits[1].labels.max())) + 1
    return dataset, normalizer, train, test, num_classes


# ---------------------------------------------------------------------------------------------------- fine-tuning

def finetune_top1(encoder, layers: Mapping[str, nn.Module], chosen: Sequence[str], normalizer, train, test,
                  num_classes: int, options: Mapping, device) -> float:
    """Train a linear head (after an affine-free BatchNorm, the probe's standardisation) with the `chosen`
    layers of `encoder` unfrozen, `options` epochs of SGD on clean images; test top-1 in [0, 1]. The encoder is
    changed in place (the caller passes a fresh copy)."""
    torch.manual_seed(options["seed"])
    unfreeze_only(encoder, layers, chosen)
    head = nn.Sequential(nn.BatchNorm1d(encoder.feature_dim, affine=False), nn.Linear(encoder.feature_dim, num_classes))
    head.to(device).train()
    parameters = [*head.parameters(), *(p for p in encoder.parameters() if p.requires_grad)]
    optimizer = torch.optim.SGD(parameters, lr=options["lr"], momentum=0.9, weight_decay=options["weight_decay"])
    images, labels = train
    generator = torch.Generator().manual_seed(options["seed"])
    batch = min(options["batch_size"], len(labels))
    for _ in range(options["epochs"]):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(labels) - batch + 1, batch):
            rows = order[start: start + batch]
            logits = head(encoder(normalizer.clean(images[rows].to(device))))
            loss = nn.functional.cross_entropy(logits, labels[rows].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    encoder.eval()
    head.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(test[1]), 512):
            logits = head(encoder(normalizer.clean(test[0][start: start + 512].to(device))))
            correct += int((logits.argmax(dim=1).cpu() == test[1][start: start + 512]).sum())
    return correct / len(test[1])


def run_finetune(settings: Mapping, checkpoint: Path, layer_scores: Path, out_csv: Path) -> None:
    """Fine-tune one encoder three ways (head only, most and least memorising layers by the setup's LayerMem)."""
    import copy

    from sslmem.device import resolve_device
    from sslmem.pipeline.encoders import load_trained_method
    from sslmem.report.localization import layermem_frame

    started = time.perf_counter()
    options = settings["studies"]["localization_uses"]["finetune"]
    device = resolve_device(settings["training"]["device"])
    torch.set_num_threads(settings["training"]["num_threads"])
    method, payload = load_trained_method(checkpoint, device)
    meta = payload["meta"]
    table = layermem_frame([layer_scores])
    table = table[(table["dataset"] == meta["dataset"]) & (table["setup"] == meta["setup"])]
    chosen = {"head_only": [], **rank_layers(table, options["rank_by"], options["layers"])}
    task = settings["studies"]["localization_uses"]["task"]
    dataset, normalizer, train, test, num_classes = task_images(
        settings, meta, task, options["train_size"], options["test_size"], options["seed"])
    rows = []
    for condition in FINETUNE_CONDITIONS:
        encoder = copy.deepcopy(method.scoring_encoder)
        top1 = finetune_top1(encoder, encoder.named_layers(), chosen[condition], normalizer, train, test,
                             num_classes, options, device)
        values = table.set_index("layer")[options["rank_by"]]
        rows.append({**{key: meta[key] for key in ENCODER_KEYS}, "condition": condition,
                     "layers": ";".join(chosen[condition]), "rank_by": options["rank_by"],
                     "rank_values": ";".join(f"{values[name]:.6g}" for name in chosen[condition]),
                     "task_dataset": dataset, "train_size": len(train[1]), "test_size": len(test[1]),
                     "epochs": options["epochs"], "top1": top1})
        print(f"{meta['setup']} {meta['role']}{meta['seed']} finetune {condition} {chosen[condition]}: "
              f"top-1 {top1:.4f}", flush=True)
    sio.atomic_to_csv(pd.DataFrame(rows), out_csv)
    print(f"finetune: done in {time.perf_counter() - started:.1f} s", flush=True)


# ---------------------------------------------------------------------------------------------------- pruning

def run_prune(settings: Mapping, checkpoint: Path, units_path: Path, out_csv: Path) -> None:
    """Linear-probe top-1 of one encoder with no units zeroed and with the top / bottom / random fraction of
    every unit layer's units (by the encoder's own UnitMem) zeroed, per fraction of studies.localization_uses."""
    from sslmem.config import probe_recipe
    from sslmem.device import resolve_device
    from sslmem.evaluation.probe import extract_features, linear_probe
    from sslmem.pipeline.encoders import load_trained_method
    from sslmem.report.readers import read_units

    started = time.perf_counter()
    study = settings["studies"]["localization_uses"]
    device = resolve_device(settings["training"]["device"])
    torch.set_num_threads(settings["training"]["num_threads"])
    method, payload = load_trained_method(checkpoint, device)
    meta = payload["meta"]
    units = read_units([units_path])
    modules = method.scoring_encoder.named_units()
    missing = sorted(set(units["layer"]) ^ set(modules))
    if missing:
        raise ValueError(f"{units_path}: its unit layers and the encoder's named_units() differ in {missing}")
    per_layer = {name: group.sort_values("unit")["unitmem"].to_numpy(dtype=float) for name, group in units.groupby("layer")}
    cfg = probe_recipe(settings, meta["method"])
    dataset, normalizer, train, test, num_classes = task_images(
        settings, meta, study["task"], cfg["train_size"], cfg["test_size"], cfg["seed"])
    plan = [("none", 0.0)] + [(s, f) for f in study["prune"]["fractions"] for s in PRUNE_STRATEGIES[1:]]
    rows = []
    for strategy, fraction in plan:
        rng = np.random.default_rng([study["prune"]["seed"], int(meta["seed"]), int(round(fraction * 1e6))])
        chosen = {name: choose_units(per_layer[name], fraction, strategy, rng) for name in modules}
        handles = zero_units(modules, chosen)
        try:
            features = [extract_features(method.scoring_encoder, normalizer, images, settings["measure"]["batch_size"],
                                         device) for images in (train[0], test[0])]
        finally:
            for handle in handles:
                handle.remove()
        top1 = linear_probe(features[0], train[1], features[1], test[1], num_classes=num_classes,
                            epochs=cfg["epochs"], warmup_epochs=cfg["warmup_epochs"], batch_size=cfg["batch_size"],
                            optimizer=cfg["optimizer"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                            seed=cfg["seed"], momentum=cfg["momentum"], betas=cfg.get("betas"),
                            trust_coefficient=cfg.get("trust_coefficient"), device=device)
        rows.append({**{key: meta[key] for key in ENCODER_KEYS}, "strategy": strategy, "fraction": fraction,
                     "n_pruned": int(sum(len(v) for v in chosen.values())),
                     "n_units": int(sum(len(v) for v in per_layer.values())), "task_dataset": dataset,
                     "train_size": len(train[1]), "test_size": len(test[1]), "top1": top1})
        print(f"{meta['setup']} {meta['role']}{meta['seed']} prune {strategy} {fraction}: top-1 {top1:.4f}", flush=True)
    sio.atomic_to_csv(pd.DataFrame(rows), out_csv)
    print(f"prune: done in {time.perf_counter() - started:.1f} s", flush=True)
