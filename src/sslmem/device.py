"""Which torch device a job runs on (params.yaml `training.device`), shared by the train, align and probe stages.

Kept apart from the training loop so that the stages that only run a trained encoder do not import it.
"""

from __future__ import annotations

import torch


def resolve_device(setting: str) -> torch.device:
    """`auto` picks CUDA when available, else the CPU; `cuda` without a GPU is an error rather than a silent
    fall-back, since a CPU run of a GPU-sized preset would take days."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device is 'cuda' but no CUDA device is available (set training.device: cpu or auto)")
    return torch.device(setting)
