"""The one training loop: every SSL method, every backbone, CPU and CUDA.

What it owns: building the method with its initial weights, the per-step learning rate (linear warm-up and
cosine decay), augmentation draws (a pure function of seed, epoch and step, so a resumed run repeats exactly
what an uninterrupted one does), gradient accumulation, bf16 autocast on CUDA, when checkpoints are written, a
progress bar and a tidy per-epoch log. Data order and coupling: `sslmem.training.data`; optimisers:
`sslmem.training.optim`; checkpoint files: `sslmem.training.checkpoint`; extension points:
`sslmem.training.hooks`.

Every random draw happens in a fixed order (global seed, then model construction; data order and augmentations
from their own generators), and the refactoring into this package kept that order: change it and every trained
encoder changes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from sslmem.augment import BatchAugment, make_generator
from sslmem.methods import SSLMethod
from sslmem.models import build_encoder
from sslmem.training import checkpoint as ckpt
from sslmem.training.data import ShuffledBatches, TrainData, init_seed
from sslmem.training.hooks import TrainingContext, TrainingHook, checkpoint_meta
from sslmem.training.optim import optimizer_for_recipe, set_learning_rate, warmup_cosine
from sslmem.training.privacy import build_method_for_recipe
from sslmem.training.spec import TrainingOptions, TrainingSpec


@dataclass
class TrainResult:
    log: list[dict] = field(default_factory=list)  # one entry per epoch, resumed epochs included
    epochs_run: int = 0  # by this call
    resumed_from: int = 0  # epochs done before this call (0: fresh start)


@dataclass(frozen=True)
class StepInputs:
    """What every step reads and no hook replaces, fixed once training starts."""

    images: torch.Tensor  # uint8 slots on the training device
    labels: torch.Tensor | None  # only for methods that need labels
    augment: BatchAugment
    loss_fn: Callable  # the method's loss_per_sample, compiled or not
    autocast: torch.autocast
    channels_last: bool
    schedule: Callable[[int], float]  # step -> learning rate
    hooks: tuple[TrainingHook, ...]


def uses_channels_last(method: SSLMethod, device: torch.device) -> bool:
    # Convolutions on CUDA run faster in channels-last layout; ViTs have nothing to gain.
    return device.type == "cuda" and not method.encoder.is_vit


def build_initial_method(spec: TrainingSpec, device: torch.device) -> SSLMethod:
    """The method with its initial weights. The global RNG is seeded right before the model is built, so the
    weights depend on the run's streams only (f and g share them under common random numbers)."""
    torch.manual_seed(init_seed(spec.streams))
    encoder = build_encoder(spec.arch, image_size=spec.image_size, **spec.arch_cfg)
    method = build_method_for_recipe(spec.method, encoder, spec.recipe).to(device)
    if uses_channels_last(method, device):
        method = method.to(memory_format=torch.channels_last)
    return method


def train_encoder(
    spec: TrainingSpec, data: TrainData, options: TrainingOptions, hooks: Sequence[TrainingHook] = ()
) -> TrainResult:
    """Train one encoder and write its final checkpoint atomically to ``options.out_path``.

    Resumes from ``options.resume_path`` when it exists and was written for the same settings and split
    (``meta["params_hash"]``, ``meta["split_hash"]``, ``meta["training_set_hash"]``); refuses otherwise. `hooks` extend the loop (see
    `sslmem.training.hooks`); none by default.
    """
    hooks = tuple(hooks)
    context, inputs, result = start_run(spec, data, options, hooks)
    # The bar only on a terminal: in a job's log file its carriage returns make one unreadable line (the train
    # stage prints one line per epoch instead, through a hook).
    bar = tqdm(total=spec.epochs, initial=context.start_epoch, desc=spec.name, unit="ep",
               disable=not options.progress or not sys.stderr.isatty())
    with bar:
        for epoch in range(context.start_epoch, spec.epochs):
            context.epoch = epoch
            result.log.append(train_epoch(context, inputs))
            result.epochs_run += 1
            for hook in hooks:
                hook.after_epoch(context, result.log)
            bar.update(1)
            bar.set_postfix(loss=f"{result.log[-1]['loss']:.4f}")
            epochs_run = result.epochs_run
            if ckpt.resume_due(epoch, spec.epochs, options.checkpoint_every, options.stop_after_epochs, epochs_run):
                ckpt.write_resume_checkpoint(
                    options.resume_path, context.method, context.optimizer, epoch + 1, result.log,
                    checkpoint_meta(options.meta, hooks),
                )
            if ckpt.stop_due(epoch, spec.epochs, options.stop_after_epochs, epochs_run):
                return result
    meta = checkpoint_meta(options.meta, hooks)
    ckpt.write_final_checkpoint(options.out_path, options.resume_path, context.method, spec.epochs, result.log, meta)
    return result


def start_run(
    spec: TrainingSpec, data: TrainData, options: TrainingOptions, hooks: tuple[TrainingHook, ...]
) -> tuple[TrainingContext, StepInputs, TrainResult]:
    """Build the method, optimiser and batches, resume if a resume checkpoint belongs to this run, let the hooks
    set up, and fix what the steps read."""
    device = options.device
    method = build_initial_method(spec, device)
    optimizer = optimizer_for_recipe(method, spec.recipe)
    augment = BatchAugment(spec.augment, spec.image_size, spec.mean, spec.std)
    images = data.images.to(device)
    if method.needs_labels and data.labels is None:
        raise ValueError(f"method {spec.method!r} trains on labels, but none were given (pass TrainData(labels=...))")
    labels = data.labels.to(device) if method.needs_labels else None
    batches = ShuffledBatches(images.shape[0], min(spec.recipe["batch_size"], images.shape[0]), spec.streams, device)
    context = TrainingContext(spec, options, method, optimizer, batches)
    result = TrainResult()
    state = ckpt.load_resume_state(options.resume_path, options.meta)
    if state is not None:
        context.start_epoch, result.log = ckpt.restore(state, method, optimizer)
        context.resumed_meta = state["meta"]
        result.resumed_from = context.start_epoch
    for hook in hooks:
        hook.setup(context)

    # After setup: hooks may have replaced the method (its loss) and the batches (steps per epoch).
    steps_per_epoch = context.batches.steps_per_epoch
    context.total_steps = steps_per_epoch * spec.epochs
    warmup_steps = steps_per_epoch * spec.recipe["warmup_epochs"]

    def schedule(step: int) -> float:
        return warmup_cosine(step, context.total_steps, warmup_steps, spec.recipe["lr"])

    # Compile the loss function itself: compiling the module would only cover forward(), which no method uses.
    loss_fn = context.method.loss_per_sample
    if options.compile_model and device.type == "cuda":
        loss_fn = torch.compile(loss_fn)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=options.amp and device.type == "cuda")
    inputs = StepInputs(images, labels, augment, loss_fn, autocast, uses_channels_last(method, device), schedule, hooks)
    context.method.train()
    return context, inputs, result


def train_epoch(context: TrainingContext, inputs: StepInputs) -> dict:
    """One pass over the batches of ``context.epoch``; returns its log entry."""
    started = time.perf_counter()
    total_loss = torch.zeros((), device=context.options.device)
    steps = images_seen = 0
    lr = float("nan")
    for batch_index, slots in enumerate(context.batches(context.epoch)):
        context.batch_index = batch_index
        context.step = context.epoch * context.batches.steps_per_epoch + batch_index
        lr = inputs.schedule(context.step)
        set_learning_rate(context.optimizer, lr)
        total_loss += train_step(context, inputs, slots)
        steps += 1
        images_seen += len(slots)
    if steps == 0:
        raise ValueError(
            f"the batch sampler gave no batch in epoch {context.epoch}; it must give steps_per_epoch batches"
        )
    seconds = time.perf_counter() - started
    return {
        "epoch": context.epoch + 1,
        "loss": (total_loss / steps).item(),
        "lr": lr,  # at the epoch's last step
        "seconds": seconds,
        "images_per_second": images_seen / seconds,
    }


def train_step(context: TrainingContext, inputs: StepInputs, slots: torch.Tensor) -> torch.Tensor:
    """One optimiser step on the images in `slots`; returns the step's loss (detached)."""
    device = context.options.device
    generator = make_generator(device, *context.spec.streams, context.epoch, context.batch_index)
    views = context.method.make_views(inputs.images[slots], generator, inputs.augment)
    if inputs.channels_last:
        views = [v.contiguous(memory_format=torch.channels_last) for v in views]
    context.optimizer.zero_grad(set_to_none=True)
    step_loss = torch.zeros((), device=device)
    # Gradient accumulation: the batch's views go through the model in `accumulate_steps` chunks whose losses
    # are weighted by their share of the batch, so per-sample losses give the full-batch gradient (contrastive
    # losses and BatchNorm then see chunks, not the whole batch).
    backward = context.backward or autograd_backward
    for chunk in torch.arange(len(slots), device=device).tensor_split(context.options.accumulate_steps):
        step_loss += backward(context, inputs, views, slots, chunk, generator)
    context.optimizer.step()
    context.method.after_step(context.step, context.total_steps)
    for hook in inputs.hooks:
        hook.after_step(context)
    return step_loss


def autograd_backward(
    context: TrainingContext,
    inputs: StepInputs,
    views: list[torch.Tensor],
    slots: torch.Tensor,
    chunk: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """The loop's own gradients of one chunk: its loss (hooks' terms included), then backward(); returns the
    detached loss."""
    loss = chunk_loss(context, inputs, views, slots, chunk, generator)
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"loss became {loss.item()} at epoch {context.epoch} step {context.batch_index} "
            f"({context.spec.name}); lower methods.{context.spec.method}.lr"
        )
    loss.backward()
    return loss.detach()


def chunk_loss(
    context: TrainingContext,
    inputs: StepInputs,
    views: list[torch.Tensor],
    slots: torch.Tensor,
    chunk: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """The loss of one accumulation chunk (the whole batch without accumulation), hooks' terms included."""
    accumulate_steps = context.options.accumulate_steps
    chunk_views = views if accumulate_steps == 1 else [v[chunk] for v in views]
    with inputs.autocast:
        extra = {"labels": inputs.labels[slots[chunk]]} if inputs.labels is not None else {}
        per_sample = inputs.loss_fn(chunk_views, generator, **extra)
        loss = per_sample.mean()
        for hook in inputs.hooks:
            loss = hook.loss(context, chunk_views, per_sample, loss)
        if accumulate_steps > 1:
            loss = loss * (len(chunk) / len(slots))
    return loss
