"""Extension points of the training loop, so that new terms and engines plug in without editing the loop.

Two planned users shaped the interface:

- the alignment regulariser of the SSLMem paper (Eq. 3), L = (1-λ)·L_SSL − λ·E d(f(x'), f(x'')): it rescales
  the method's loss and adds a term computed from the same views, so `loss` receives and returns the whole loss;
- a privacy engine (opacus DP-SGD, :mod:`sslmem.training.privacy`): it wraps the optimiser (per-sample clipping
  and noise), replaces the batch sampling (Poisson sampling, which its accounting assumes) and how a chunk's
  gradients are made (per-sample gradients instead of the batch's), so `setup` may replace ``context.method``,
  ``context.optimizer``, ``context.batches`` and ``context.backward``, and `metadata` reports the privacy spent.

No hook is active by default; with none, the loop computes exactly what it did before hooks existed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from sslmem.training.data import BatchSampler
from sslmem.training.spec import TrainingOptions, TrainingSpec


@dataclass
class TrainingContext:
    """The state of one run that hooks may read, and in `setup` replace.

    ``method`` is the module trained *and* checkpointed (``method.state_dict()`` is saved), so a hook that
    wraps it must keep its state-dict keys and forward ``make_views``, ``loss_per_sample`` and ``after_step``
    (opacus' GradSampleModule hooks the layers in place, so a DP hook may also leave ``method`` as it is).
    ``epoch``, ``batch_index`` and ``step`` (counted over the whole run) say where the loop is.
    """

    spec: TrainingSpec
    options: TrainingOptions
    method: torch.nn.Module
    optimizer: torch.optim.Optimizer
    batches: BatchSampler
    # How one chunk's gradients are made: None = the loop's own (the chunk's loss, hooks' terms included, then
    # backward()); a hook may set a function (context, inputs, views, slots, chunk, generator) -> the chunk's
    # detached loss, which leaves the gradients where the optimiser reads them (DP-SGD: per-sample gradients).
    backward: Callable | None = None
    start_epoch: int = 0  # > 0 when resumed from a checkpoint
    resumed_meta: Mapping | None = None  # the resume checkpoint's meta, for hooks that restore their metadata
    total_steps: int = 0
    epoch: int = 0
    batch_index: int = 0
    step: int = 0


class TrainingHook:
    """Base class: every call is a no-op, so a hook overrides only what it needs.

    The loop calls, for each hook in the order given:

    - ``setup(context)`` once, after the model, optimiser and batch sampler are built and a resume checkpoint
      has been loaded into them, before the first step: the one place to wrap or replace them (a wrapper
      installed earlier would change the checkpoint's keys and break resuming).
    - ``loss(context, views, per_sample, loss)`` for every step (every chunk with gradient accumulation),
      inside autocast and before backward: returns the loss to differentiate. Each hook gets the previous
      hook's result; the share of a chunk in its batch is applied afterwards.
    - ``after_step(context)`` after each optimiser step and the method's own ``after_step``: for bookkeeping
      (privacy accounting, monitors). Gradients of the step are still in place.
    - ``after_epoch(context, log)`` after each epoch, with the log rows so far (resumed epochs included): for
      progress lines and logs a person can read while a long job runs.
    - ``metadata()`` whenever a checkpoint is written: keys added to the checkpoint's meta (e.g. ε spent),
      so a trained encoder records what was active.
    """

    def setup(self, context: TrainingContext) -> None:
        """Wrap or replace ``context.method``, ``context.optimizer`` or ``context.batches`` before training."""

    def loss(
        self, context: TrainingContext, views: list[torch.Tensor], per_sample: torch.Tensor, loss: torch.Tensor
    ) -> torch.Tensor:
        """The loss to differentiate, given the method's per-sample losses [B] and the loss so far (scalar)."""
        return loss

    def after_step(self, context: TrainingContext) -> None:
        """Bookkeeping after an optimiser step."""

    def after_epoch(self, context: TrainingContext, log: Sequence[Mapping]) -> None:
        """After each epoch: `log` holds one row per finished epoch (epoch, loss, lr, seconds, images_per_second)."""

    def metadata(self) -> dict:
        """Plain values (str, numbers, lists, dicts) to record in the checkpoint's meta."""
        return {}


def checkpoint_meta(meta: Mapping, hooks: Iterable[TrainingHook]) -> dict:
    """The run's meta with every hook's metadata added; a hook may not overwrite a key of the run's meta
    (``params_hash``, ``split_hash`` and ``training_set_hash`` decide whether a checkpoint may be resumed)."""
    merged = dict(meta)
    for hook in hooks:
        extra = hook.metadata()
        clashes = sorted(set(extra) & set(merged))
        if clashes:
            raise ValueError(
                f"{type(hook).__name__}.metadata() returns keys {clashes} that the checkpoint meta already holds; "
                "rename them (e.g. prefix them with the hook's name)"
            )
        merged.update(extra)
    return merged
