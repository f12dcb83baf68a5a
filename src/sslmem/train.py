"""The one training loop: every SSL method, every backbone, CPU and CUDA.

What it owns: the data order and augmentation draws (pure functions of seed, epoch and step, so a resumed run
repeats exactly what an uninterrupted one does), optimisers (SGD, LARS, AdamW) with linear warm-up and cosine
decay per step, bf16 autocast on CUDA, periodic resumable checkpoints, a progress bar and a tidy per-epoch log.

Coupling of f and g (params.yaml `training.coupling`): with `common-random-numbers`, f_s and g_s start from the
same initial weights and walk the same sequence of batches with the same augmentation draws; the only
difference is that the slot of the k-th S_C point in f's data is held by the k-th S_I point in g's. Each
encoder on its own is still a draw from A(S_S ∪ S_C) or A(S_S ∪ S_I), so Eq. 2's expectations are unchanged,
but their difference loses the variance that unrelated seeds would add.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from sslmem import io as sio
from sslmem.augment import AugmentSpec, BatchAugment, make_generator
from sslmem.methods import SSLMethod, build_method
from sslmem.models import build_encoder

ExtraLoss = Callable[[SSLMethod, list, torch.Tensor], torch.Tensor]


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device is 'cuda' but no CUDA device is available (set training.device: cpu or auto)")
    return torch.device(setting)


class LARS(torch.optim.Optimizer):
    """LARS (You et al., 2017) as used by SimCLR: SGD with momentum whose step for each weight tensor is scaled
    by the trust ratio η·‖w‖ / (‖∇w‖ + wd·‖w‖). Parameter groups with ``lars_exclude=True`` (biases and
    normalisation weights) take plain SGD steps without weight decay, as in SimCLR's implementation.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 0.001):
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, lars_exclude=False))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if not group["lars_exclude"]:
                    grad = grad.add(param, alpha=group["weight_decay"])
                    param_norm, grad_norm = torch.norm(param), torch.norm(grad)
                    trust = torch.where(
                        (param_norm > 0) & (grad_norm > 0), group["eta"] * param_norm / grad_norm, torch.ones_like(param_norm)
                    )
                    grad = grad.mul(trust)
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.clone(grad).detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(grad)
                param.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Biases and normalisation parameters (1-D tensors) get no weight decay and no LARS adaptation."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay, "lars_exclude": False},
        {"params": no_decay, "weight_decay": 0.0, "lars_exclude": True},
    ]


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    weight_decay: float,
    momentum: float,
    betas: Sequence[float] | None = None,
    trust_coefficient: float | None = None,
):
    """SGD, LARS or AdamW over `model`'s parameters, biases and norms without weight decay (and without LARS
    scaling). `betas` (AdamW) and `trust_coefficient` (LARS) come from the recipe in params.yaml."""
    groups = parameter_groups(model, weight_decay)
    if name == "sgd":
        for group in groups:
            group.pop("lars_exclude")
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if name == "lars":
        if trust_coefficient is None:
            raise ValueError("optimizer lars needs trust_coefficient (set it in the recipe in params.yaml)")
        return LARS(groups, lr=lr, momentum=momentum, eta=trust_coefficient)
    if name == "adamw":
        if betas is None:
            raise ValueError("optimizer adamw needs betas (set them in the recipe in params.yaml)")
        for group in groups:
            group.pop("lars_exclude")
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas))
    raise ValueError(f"unknown optimizer {name!r}; known: sgd, lars, adamw")


def optimizer_for_recipe(model: nn.Module, recipe: Mapping) -> torch.optim.Optimizer:
    return build_optimizer(
        model, recipe["optimizer"], recipe["lr"], recipe["weight_decay"], recipe["momentum"],
        betas=recipe.get("betas"), trust_coefficient=recipe.get("trust_coefficient"),
    )


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warm-up from 0 to base_lr, then cosine decay to 0 (Table 6's "Cos. Decay")."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def batches_per_epoch(num_samples: int, batch_size: int) -> int:
    # drop_last as in SSL practice (contrastive losses want full batches), but never zero batches.
    return max(1, num_samples // batch_size)


def epoch_order(num_slots: int, generator_seed: tuple[int, ...], epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([*generator_seed, epoch]).generate_state(1)[0]))
    return torch.randperm(num_slots, generator=generator)


@dataclass
class TrainData:
    """The images an encoder trains on, in slot order (see the module docstring on coupling)."""

    images: torch.Tensor  # uint8 [N, 3, H, W]
    point_ids: np.ndarray  # train-split id of each slot
    labels: torch.Tensor | None = None  # int64 [N], only for methods that need labels (supervised)


def coupled_training_ids(shared: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Slots: S_S points first, then this encoder's own points (S_C for f, S_I for g), position-aligned."""
    return np.concatenate([shared, own])


@dataclass
class TrainResult:
    log: list[dict] = field(default_factory=list)
    epochs_run: int = 0
    resumed_from: int = 0


def _stream_seed(seed: int, role: str, coupling: str) -> tuple[int, ...]:
    # CRN: f and g share every random stream; independent: each role gets its own.
    return (seed,) if coupling == "common-random-numbers" else (seed, 1 if role == "g" else 2)


def train_encoder(
    *,
    method_name: str,
    recipe: Mapping,
    arch: str,
    arch_cfg: Mapping,
    augment_spec: AugmentSpec,
    data: TrainData,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    seed: int,
    role: str,
    coupling: str,
    device: torch.device,
    out_path: Path,
    resume_path: Path,
    meta: Mapping,
    checkpoint_every: int = 5,
    amp: bool = True,
    compile_model: bool = False,
    progress: bool = True,
    extra_loss: ExtraLoss | None = None,
    stop_after_epochs: int | None = None,
    accumulate_steps: int = 1,
) -> TrainResult:
    """Train one encoder and write its final checkpoint atomically to `out_path`.

    Resumes from `resume_path` when it exists and was written for the same settings and split
    (``meta["params_hash"]``, ``meta["split_hash"]``); refuses otherwise. `extra_loss(method, views,
    per_sample_loss)` adds a term to the loss (the alignment regulariser of Eq. 3). `stop_after_epochs` stops
    early after writing a resume checkpoint (used by tests that simulate a killed job).
    """
    if accumulate_steps < 1:
        raise ValueError(f"accumulate_steps must be >= 1, got {accumulate_steps}")
    streams = _stream_seed(seed, role, coupling)
    torch.manual_seed(int(np.random.SeedSequence([*streams, 7]).generate_state(1)[0]))
    encoder = build_encoder(arch, image_size=image_size, **arch_cfg)
    method = build_method(method_name, encoder, recipe).to(device)
    if device.type == "cuda" and not encoder.is_vit:
        method = method.to(memory_format=torch.channels_last)
    optimizer = optimizer_for_recipe(method, recipe)
    augment = BatchAugment(augment_spec, image_size, mean, std)
    images = data.images.to(device)
    if method.needs_labels and data.labels is None:
        raise ValueError(f"method {method_name!r} trains on labels, but none were given")
    labels = data.labels.to(device) if method.needs_labels else None
    num_slots = images.shape[0]
    batch_size = min(recipe["batch_size"], num_slots)
    steps_per_epoch = batches_per_epoch(num_slots, batch_size)
    total_steps = steps_per_epoch * recipe["epochs"]
    warmup_steps = steps_per_epoch * recipe["warmup_epochs"]

    result = TrainResult()
    start_epoch = 0
    if resume_path.exists():
        state = sio.load_checkpoint(resume_path)
        for key in ("params_hash", "split_hash"):
            if state["meta"].get(key) != meta.get(key):
                raise sio.CheckpointError(
                    f"{resume_path}: written with {key}={state['meta'].get(key)}, but the current run has "
                    f"{key}={meta.get(key)}; settings or split changed since. Delete the file to start over."
                )
        method.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = int(state["epoch"])
        result.log = list(state["log"])
        result.resumed_from = start_epoch

    # Compile the loss function itself: compiling the module would only cover forward(), which no method uses.
    loss_fn = torch.compile(method.loss_per_sample) if (compile_model and device.type == "cuda") else method.loss_per_sample
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda")
    epochs = range(start_epoch, recipe["epochs"])
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=recipe["epochs"], initial=start_epoch, desc=f"{method_name}-{arch} {role}{seed}", unit="ep")

    method.train()
    for epoch in epochs:
        started = time.perf_counter()
        order = epoch_order(num_slots, streams, epoch).to(device)
        total_loss = torch.zeros((), device=device)
        for batch_index in range(steps_per_epoch):
            step = epoch * steps_per_epoch + batch_index
            lr = warmup_cosine(step, total_steps, warmup_steps, recipe["lr"])
            for group in optimizer.param_groups:
                group["lr"] = lr
            slots = order[batch_index * batch_size: (batch_index + 1) * batch_size]
            generator = make_generator(device, *streams, epoch, batch_index)
            batch = images[slots]
            views = method.make_views(batch, generator, augment)
            if device.type == "cuda" and not encoder.is_vit:
                views = [v.contiguous(memory_format=torch.channels_last) for v in views]
            optimizer.zero_grad(set_to_none=True)
            step_loss = torch.zeros((), device=device)
            # Gradient accumulation: the batch's views go through the model in `accumulate_steps` chunks whose
            # losses are weighted by their share of the batch, so per-sample losses give the full-batch
            # gradient (contrastive losses and BatchNorm then see chunks, not the whole batch).
            for chunk in torch.arange(len(slots), device=device).tensor_split(accumulate_steps):
                chunk_views = views if accumulate_steps == 1 else [v[chunk] for v in views]
                with autocast:
                    extra = {"labels": labels[slots[chunk]]} if labels is not None else {}
                    per_sample = loss_fn(chunk_views, generator, **extra)
                    loss = per_sample.mean()
                    if extra_loss is not None:
                        loss = loss + extra_loss(method, chunk_views, per_sample)
                    if accumulate_steps > 1:
                        loss = loss * (len(chunk) / len(slots))
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"loss became {loss.item()} at epoch {epoch} step {batch_index} "
                        f"({method_name}-{arch} {role}{seed}); lower methods.{method_name}.lr"
                    )
                loss.backward()
                step_loss += loss.detach()
            optimizer.step()
            method.after_step(step, total_steps)
            total_loss += step_loss
        seconds = time.perf_counter() - started
        mean_loss = (total_loss / steps_per_epoch).item()
        result.log.append(
            {
                "epoch": epoch + 1,
                "loss": mean_loss,
                "lr": lr,
                "seconds": seconds,
                "images_per_second": steps_per_epoch * batch_size / seconds,
            }
        )
        result.epochs_run += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{mean_loss:.4f}")
        finished = epoch + 1 == recipe["epochs"]
        if not finished and ((epoch + 1) % checkpoint_every == 0 or stop_after_epochs == result.epochs_run):
            sio.atomic_torch_save(
                {
                    "format": sio.CHECKPOINT_FORMAT,
                    "model": method.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch + 1,
                    "log": result.log,
                    "meta": dict(meta),
                },
                resume_path,
            )
        if stop_after_epochs is not None and result.epochs_run >= stop_after_epochs and not finished:
            if bar is not None:
                bar.close()
            return result
    if bar is not None:
        bar.close()

    sio.atomic_torch_save(
        {
            "format": sio.CHECKPOINT_FORMAT,
            "model": {k: v.detach().cpu() for k, v in method.state_dict().items()},
            "epoch": recipe["epochs"],
            "log": result.log,
            "meta": dict(meta),
        },
        out_path,
    )
    if resume_path.exists():
        resume_path.unlink()
    return result
