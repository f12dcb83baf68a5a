"""The two descriptions a training run is given: what is trained (`TrainingSpec`) and how (`TrainingOptions`).

Split this way because only the first decides the weights: on a CPU, two runs with equal specs and data end
with the same tensors whatever their options, so a job can be killed and resumed, or checkpointed more or less
often, without changing the encoder it produces (`accumulate_steps` is the exception: chunks round differently).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from sslmem.augment import AugmentSpec
from sslmem.training.data import stream_seed


@dataclass(frozen=True)
class TrainingSpec:
    """One encoder of one setup, seed and role: everything besides its data that its weights depend on.

    `recipe` is the merged params.yaml recipe (`methods.<method>` with the setup's overrides): optimiser,
    schedule, batch size, epochs and the method's own keys. `coupling` is params.yaml `training.coupling`.
    """

    method: str
    recipe: Mapping
    arch: str
    arch_cfg: Mapping
    augment: AugmentSpec
    image_size: int
    mean: Sequence[float]
    std: Sequence[float]
    seed: int
    role: str
    coupling: str = "common-random-numbers"

    @property
    def streams(self) -> tuple[int, ...]:
        """Root of the run's random streams (initial weights, data order, augmentations)."""
        return stream_seed(self.seed, self.role, self.coupling)

    @property
    def epochs(self) -> int:
        return self.recipe["epochs"]

    @property
    def name(self) -> str:
        """How logs, the progress bar and errors name the run, e.g. ``simclr-resnet18 f0``."""
        return f"{self.method}-{self.arch} {self.role}{self.seed}"


@dataclass(frozen=True)
class TrainingOptions:
    """Where and how one run trains, and where its checkpoints go (params.yaml `training`).

    `meta` is recorded in every checkpoint; its ``params_hash``, ``split_hash`` and ``training_set_hash`` decide whether a resume
    checkpoint belongs to this run. `stop_after_epochs` stops early after writing a resume checkpoint (tests
    use it to simulate a killed job).
    """

    device: torch.device
    out_path: Path
    resume_path: Path
    meta: Mapping
    checkpoint_every: int = 5
    amp: bool = True
    compile_model: bool = False
    progress: bool = True
    accumulate_steps: int = 1
    stop_after_epochs: int | None = None

    def __post_init__(self):
        if self.accumulate_steps < 1:
            raise ValueError(f"accumulate_steps must be >= 1, got {self.accumulate_steps}")
        if self.checkpoint_every < 1:
            raise ValueError(
                f"checkpoint_every must be >= 1 (epochs between resume checkpoints), got {self.checkpoint_every}"
            )
        # Callers pass str or Path; the loop calls Path methods (exists, unlink).
        object.__setattr__(self, "out_path", Path(self.out_path))
        object.__setattr__(self, "resume_path", Path(self.resume_path))
        object.__setattr__(self, "device", torch.device(self.device))
