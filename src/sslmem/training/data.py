"""In which order an encoder sees its training set: its slots of images, the random streams, the batches.

Every draw is a pure function of (seed, role, coupling, epoch, step), so a resumed run repeats exactly what an
uninterrupted one does.

Coupling of f and g (params.yaml `training.coupling`): with `common-random-numbers`, f_s and g_s start from the
same initial weights and walk the same sequence of batches with the same augmentation draws; the only
difference is that the slot of the k-th S_C point in f's data is held by the k-th S_I point in g's. Each
encoder on its own is still a draw from A(S_S ∪ S_C) or A(S_S ∪ S_I), so Eq. 2's expectations are unchanged,
but their difference loses the variance that unrelated seeds would add.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from sslmem.data.lazy import LazyImages, assemble

# Offset of the initial-weights stream inside the run's seed sequence (the data order and augmentations use
# epoch and step numbers instead). Changing it changes every trained encoder.
INIT_STREAM = 7


@dataclass
class TrainData:
    """The images an encoder trains on, in slot order (see the module docstring on coupling).

    ``images`` is a uint8 tensor for the datasets held in memory, or a :class:`sslmem.data.lazy.LazyImages`
    (image_folder) whose ``images[slots]`` decodes one batch with the reader's DataLoader workers: the loop
    indexes both the same way, and the batch order and the augmentation draws (on the training device, from
    the step's generator) do not depend on which it is. :func:`slot_images` builds either from the splits.
    """

    images: torch.Tensor | LazyImages  # uint8 [N, 3, H, W]
    point_ids: np.ndarray  # train-split id of each slot
    labels: torch.Tensor | None = None  # int64 [N], only for methods that need labels (supervised)


def slot_images(count: int, parts: list[tuple[Any, np.ndarray, np.ndarray]]) -> torch.Tensor | LazyImages:
    """The images of ``count`` training slots from ``(split images, slots, rows)`` parts (slot ``slots[k]``
    holds row ``rows[k]`` of that split): a tensor filled as ``images[slots] = split[rows]`` when every split is
    in memory, a lazy view (nothing decoded) when one is read by index. See :func:`sslmem.data.lazy.assemble`."""
    return assemble(count, parts)


def stream_seed(seed: int, role: str, coupling: str) -> tuple[int, ...]:
    """Root of every random stream of one run. Common random numbers: every training set of a seed shares the
    streams (f and g, and a study's sets, are coupled slot by slot); independent: each role gets its own (g 1,
    f 2 as always; another training set a number derived from its name)."""
    if coupling == "common-random-numbers":
        return (seed,)
    legacy = {"g": 1, "f": 2}
    return (seed, legacy[role] if role in legacy else 3 + zlib.crc32(role.encode()))


def init_seed(streams: tuple[int, ...]) -> int:
    """The global torch seed the weights are initialised from (before the model is built)."""
    return int(np.random.SeedSequence([*streams, INIT_STREAM]).generate_state(1)[0])


def batches_per_epoch(num_samples: int, batch_size: int) -> int:
    # drop_last as in SSL practice (contrastive losses want full batches), but never zero batches.
    return max(1, num_samples // batch_size)


def epoch_order(num_slots: int, generator_seed: tuple[int, ...], epoch: int) -> torch.Tensor:
    """The permutation of the slots for one epoch, from its own generator (independent of the global RNG)."""
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([*generator_seed, epoch]).generate_state(1)[0]))
    return torch.randperm(num_slots, generator=generator)


class BatchSampler(Protocol):
    """How the loop draws the batches of an epoch: slot indices (on the training device) per step.

    A protocol rather than a fixed function so that a training hook can replace it, e.g. DP-SGD's Poisson
    sampling (opacus), which its privacy accounting assumes.
    """

    steps_per_epoch: int  # the schedule's unit: warm-up and cosine decay count these steps

    def __call__(self, epoch: int) -> Iterator[torch.Tensor]: ...


@dataclass(frozen=True)
class ShuffledBatches:
    """The default sampler: each epoch a fresh permutation (`epoch_order`) cut into full batches (drop_last)."""

    num_slots: int
    batch_size: int
    streams: tuple[int, ...]
    device: torch.device

    @property
    def steps_per_epoch(self) -> int:
        return batches_per_epoch(self.num_slots, self.batch_size)

    def __call__(self, epoch: int) -> Iterator[torch.Tensor]:
        order = epoch_order(self.num_slots, self.streams, epoch).to(self.device)
        for batch_index in range(self.steps_per_epoch):
            yield order[batch_index * self.batch_size: (batch_index + 1) * self.batch_size]
