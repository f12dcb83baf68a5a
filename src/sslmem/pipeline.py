"""The pipeline steps behind `sslmem <verb>`: each reads files, computes, and writes its outputs atomically.

Every function here is one Snakemake rule's body; they take settings (validated by `sslmem.config`) and
paths, never global state, so they are equally callable from tests.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from sslmem import __version__, config as sconfig, io as sio
from sslmem.augment import AugmentSpec, BatchAugment
from sslmem.data import datasets, splits
from sslmem.memorization import measure_alignment, normalize_by_range, raw_score
from sslmem.methods import build_method
from sslmem.models import build_encoder

ROLES = ("f", "g")
# Columns naming the encoder a result row comes from (every tidy per-encoder file starts with them).
ENCODER_KEYS = ("dataset", "setup", "method", "arch", "seed", "role")


def setup_of(meta: Mapping) -> str:
    """The setup name a checkpoint was trained for (checkpoints from before named setups: <method>-<arch>)."""
    return meta.get("setup") or f"{meta['method']}-{meta['arch']}"


def environment_versions(device: torch.device | str = "cpu") -> dict:
    """Versions and device recorded with every checkpoint and result (for determinism audits)."""
    import timm

    versions = {
        "sslmem": __version__,
        "python": platform.python_version(),
        # str(): torch.__version__ is a TorchVersion object, which weights_only loading rejects.
        "torch": str(torch.__version__),
        "timm": str(timm.__version__),
        "device": str(device),
    }
    try:
        import opacus

        versions["opacus"] = str(opacus.__version__)
    except ImportError:
        versions["opacus"] = None
    if torch.device(device).type == "cuda":
        versions["device_name"] = torch.cuda.get_device_name(torch.device(device))
    return versions


def load_images(settings: Mapping, dataset: str, split: str) -> datasets.ImageSet:
    data = settings["data"]
    folder = dataset == "image_folder"
    return datasets.load_split(
        dataset,
        data["roots"][dataset],
        split,
        download=data["download"],
        image_size=data["image_folder_size"] if folder else None,
        skip_bad=data["skip_bad_images"] if folder else False,
    )


def image_size_of(settings: Mapping, dataset: str) -> int:
    if dataset == "image_folder":
        return settings["data"]["image_folder_size"]
    return datasets.dataset_info(dataset).image_size


# ----------------------------------------------------------------------------------------------------- split


def run_split(settings: Mapping, dataset: str, out_csv: Path) -> str:
    train = load_images(settings, dataset, "train")
    test = load_images(settings, dataset, "test")
    cfg = settings["splits"]
    table = splits.make_split(
        dataset,
        settings["experiment"]["split_seed"],
        train.labels.numpy(),
        test.labels.numpy(),
        sconfig.pool_size_for(settings, dataset),
        cfg["fractions"],
        cfg["extra_size"],
    )
    meta = {
        "dataset": dataset,
        "split_seed": settings["experiment"]["split_seed"],
        "pool_size": sconfig.pool_size_for(settings, dataset),
        "fractions": cfg["fractions"],
        "extra_size": cfg["extra_size"],
    }
    return splits.write_split(table, out_csv, meta)


# ----------------------------------------------------------------------------------------------------- train


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


def run_train(
    settings: Mapping,
    spec: sconfig.RunSpec,
    split_csv: Path,
    out_checkpoint: Path,
    out_log: Path,
    resume_path: Path,
    stop_after_epochs: int | None = None,
) -> None:
    from sslmem.train import TrainData, coupled_training_ids, resolve_device, train_encoder

    table, split_hash = splits.read_split(split_csv)
    training_cfg = settings["training"]
    device = resolve_device(training_cfg["device"])
    torch.set_num_threads(training_cfg["num_threads"])
    recipe = spec.training_settings(settings)["recipe"]
    train_set = load_images(settings, spec.dataset, "train")
    own = splits.subset_ids(table, "S_C" if spec.role == "f" else "S_I")
    ids = coupled_training_ids(splits.subset_ids(table, "S_S"), own)
    meta = run_spec_meta(settings, spec, split_hash, device)
    result = train_encoder(
        method_name=spec.method,
        recipe=recipe,
        arch=spec.arch,
        arch_cfg=sconfig.arch_options(settings, spec.arch, spec.dataset),
        augment_spec=AugmentSpec.from_settings(settings["augmentations"][recipe["augment"]]),
        data=TrainData(train_set.images[torch.from_numpy(ids)], ids, labels=train_set.labels[torch.from_numpy(ids)]),
        image_size=image_size_of(settings, spec.dataset),
        mean=train_set.info.mean,
        std=train_set.info.std,
        seed=spec.seed,
        role=spec.role,
        coupling=training_cfg["coupling"],
        device=device,
        out_path=Path(out_checkpoint),
        resume_path=Path(resume_path),
        meta=meta,
        checkpoint_every=training_cfg["checkpoint_every"],
        amp=training_cfg["amp"],
        compile_model=training_cfg["compile"],
        progress=training_cfg["progress"],
        stop_after_epochs=stop_after_epochs,
        accumulate_steps=training_cfg["accumulate_steps"],
    )
    log = pd.DataFrame(result.log)
    for position, key in enumerate(ENCODER_KEYS):
        log.insert(position, key, meta[key])
    if stop_after_epochs is None:
        sio.atomic_to_csv(log, out_log)


def load_trained_method(checkpoint_path: Path, device="cpu"):
    """Rebuild the method (encoder + heads) a checkpoint was trained as, weights loaded, in eval mode."""
    payload = sio.load_checkpoint(checkpoint_path)
    meta = payload["meta"]
    try:
        training = json.loads(meta["training_settings"])
        encoder = build_encoder(training["arch"], image_size=meta["image_size"], **training["arch_cfg"])
        method = build_method(training["method"], encoder, training["recipe"])
        method.load_state_dict(payload["model"])
    except (KeyError, RuntimeError, ValueError) as error:
        raise sio.CheckpointError(f"{checkpoint_path}: does not match the model it claims to hold: {error}") from None
    return method.to(device).eval(), payload


# ----------------------------------------------------------------------------------------------------- align


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
    return pd.concat(parts, ignore_index=True)[["point_id", "source", "subset", "label"]]


def measurement_images(settings: Mapping, dataset: str, points: pd.DataFrame) -> torch.Tensor:
    train = load_images(settings, dataset, "train")
    test = load_images(settings, dataset, "test")
    images = torch.empty((len(points), *train.images.shape[1:]), dtype=torch.uint8)
    for source, image_set in (("train", train), ("test", test)):
        rows = np.flatnonzero(points.source.to_numpy() == source)
        images[torch.from_numpy(rows)] = image_set.images[torch.from_numpy(points.point_id.to_numpy()[rows])]
    return images


def run_align(settings: Mapping, checkpoint: Path, split_csv: Path, out_parquet: Path) -> None:
    from sslmem.train import resolve_device

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
    meta = {**meta, "setup": setup_of(meta)}
    points = measurement_set(settings, table)
    images = measurement_images(settings, meta["dataset"], points)
    recipe = sconfig.RunSpec(
        meta["dataset"], meta["method"], meta["arch"], meta["seed"], meta["role"], meta["setup"]
    ).training_settings(settings)["recipe"]
    info = datasets.dataset_info(meta["dataset"])
    augment = BatchAugment(
        AugmentSpec.from_settings(settings["augmentations"][recipe["augment"]]), meta["image_size"], info.mean, info.std
    )
    measure = settings["measure"]
    if measure["representation"] == "encoder":
        represent = method.scoring_encoder.representation
    else:
        represent = method.scoring_projection
    align = measure_alignment(
        represent,
        images,
        augment,
        num_views=measure["num_views"],
        pairing=measure["pairing"],
        batch_size=measure["batch_size"],
        seed=measure["seed"],
        device=device,
    )
    frame = points.copy()
    for position, key in enumerate(ENCODER_KEYS):
        frame.insert(position, key, meta[key])
    frame["align"] = align.numpy().astype(np.float64)
    sio.atomic_to_parquet(frame, out_parquet)


# ----------------------------------------------------------------------------------------------------- score


def run_score(align_paths: Sequence[Path], out_parquet: Path) -> None:
    """Combine per-encoder alignments into per-point scores: one ensemble estimate and one per (f_s, g_s) pair."""
    frames = [pd.read_parquet(path) for path in align_paths]
    keys = ["point_id", "source", "subset", "label"]
    base = frames[0][["dataset", "setup", "method", "arch", *keys]]
    per_role: dict[str, dict[int, np.ndarray]] = {"f": {}, "g": {}}
    for path, frame in zip(align_paths, frames):
        if frame["setup"].iloc[0] != base["setup"].iloc[0] or frame["dataset"].iloc[0] != base["dataset"].iloc[0]:
            raise ValueError(
                f"{path}: alignment of setup {frame['setup'].iloc[0]!r} on {frame['dataset'].iloc[0]!r}, but "
                f"{align_paths[0]} is {base['setup'].iloc[0]!r} on {base['dataset'].iloc[0]!r}; score one setup at a time"
            )
        if not frame[keys].equals(base[keys]):
            raise ValueError(f"{path}: measured on different points than {align_paths[0]}; re-run `align` for both")
        role, seed = frame["role"].iloc[0], int(frame["seed"].iloc[0])
        if seed in per_role[role]:
            raise ValueError(f"{path}: a second alignment file for encoder {role}{seed}; pass each encoder once")
        per_role[role][seed] = frame["align"].to_numpy()
    if not per_role["f"] or not per_role["g"]:
        raise ValueError(f"need alignments of at least one f and one g encoder, got {[str(p) for p in align_paths]}")

    def rows(estimate: str, seed: int, f_aligns: list, g_aligns: list) -> pd.DataFrame:
        f = torch.tensor(np.stack(f_aligns))
        g = torch.tensor(np.stack(g_aligns))
        m_raw = raw_score(f, g)
        out = base.copy()
        out.insert(4, "estimate", estimate)
        out.insert(5, "seed", seed)
        out["align_f"] = f.mean(0).numpy()
        out["align_g"] = g.mean(0).numpy()
        out["m_raw"] = m_raw.numpy()
        out["m"] = normalize_by_range(m_raw).numpy()
        return out

    tables = [rows("ensemble", -1, list(per_role["f"].values()), list(per_role["g"].values()))]
    for seed in sorted(set(per_role["f"]) & set(per_role["g"])):
        tables.append(rows("pair", seed, [per_role["f"][seed]], [per_role["g"][seed]]))
    sio.atomic_to_parquet(pd.concat(tables, ignore_index=True), out_parquet)


# ----------------------------------------------------------------------------------------------------- probe


def run_probe(settings: Mapping, checkpoint: Path, out_csv: Path) -> None:
    from sslmem.probe import extract_features, knn_classify, linear_probe
    from sslmem.train import resolve_device

    device = resolve_device(settings["training"]["device"])
    torch.set_num_threads(settings["training"]["num_threads"])
    method, payload = load_trained_method(checkpoint, device)
    meta = payload["meta"]
    cfg = settings["probe"]
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
    meta = {**meta, "setup": setup_of(meta)}
    row = {key: meta[key] for key in ENCODER_KEYS}
    row.update(
        train_size=len(train_labels), test_size=len(test_labels), top1=top1,
        knn_top1=float((knn == test_labels).float().mean()),
    )
    sio.atomic_to_csv(pd.DataFrame([row]), out_csv)
