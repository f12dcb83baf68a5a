"""The two checkpoints of a run: the resumable one (weights, optimiser state, epoch, log) written every
`training.checkpoint_every` epochs, and the final one (CPU weights only) that marks the job as done.

Both go through `sslmem.io`: written atomically (a killed job never leaves a file that looks complete) and read
with ``weights_only=True`` (loading never runs code). The payload keys are the checkpoint format
(`sslmem.io.CHECKPOINT_FORMAT`); readers elsewhere (align, probe) rely on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from sslmem import io as sio

# The meta keys that identify what a resume checkpoint was written for; any difference refuses the resume.
RUN_IDENTITY_KEYS = ("params_hash", "split_hash", "training_set_hash")


def check_resumable(path: Path, written: Mapping, current: Mapping) -> None:
    """Refuse a resume checkpoint written with other settings, for another split or for another training set
    (its weights would be silently continued under the new ones)."""
    for key in RUN_IDENTITY_KEYS:
        if written.get(key) != current.get(key):
            raise sio.CheckpointError(
                f"{path}: written with {key}={written.get(key)}, but the current run has "
                f"{key}={current.get(key)}; settings, split or training set changed since. Delete the file to start over."
            )


def load_resume_state(path: Path, meta: Mapping) -> dict | None:
    """The resume checkpoint at `path` if there is one and it belongs to the run described by `meta`."""
    if not path.exists():
        return None
    state = sio.load_checkpoint(path)
    check_resumable(path, state["meta"], meta)
    return state


def restore(state: Mapping, method: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, list[dict]]:
    """Load a resume checkpoint's weights and optimiser state; return the epoch to continue at and the log so far."""
    method.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"]), list(state["log"])


def resume_due(
    epoch: int, epochs: int, checkpoint_every: int, stop_after_epochs: int | None, epochs_run: int
) -> bool:
    """Whether to write a resume checkpoint after (0-based) `epoch`: every `checkpoint_every` epochs and before an
    early stop, never after the last epoch (the final checkpoint follows)."""
    finished = epoch + 1 == epochs
    return not finished and ((epoch + 1) % checkpoint_every == 0 or stop_after_epochs == epochs_run)


def stop_due(epoch: int, epochs: int, stop_after_epochs: int | None, epochs_run: int) -> bool:
    """Whether a run asked to stop early (`stop_after_epochs`, a simulated kill) stops after `epoch`."""
    return stop_after_epochs is not None and epochs_run >= stop_after_epochs and epoch + 1 != epochs


def resume_payload(
    method: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, log: list[dict], meta: Mapping
) -> dict:
    return {
        "format": sio.CHECKPOINT_FORMAT,
        "model": method.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "log": log,
        "meta": dict(meta),
    }


def final_payload(method: nn.Module, epochs: int, log: list[dict], meta: Mapping) -> dict:
    # CPU tensors: the align and probe stages may run on another device than training did.
    return {
        "format": sio.CHECKPOINT_FORMAT,
        "model": {k: v.detach().cpu() for k, v in method.state_dict().items()},
        "epoch": epochs,
        "log": log,
        "meta": dict(meta),
    }


def write_resume_checkpoint(
    path: Path, method: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, log: list[dict], meta: Mapping
) -> None:
    """Everything needed to continue after `epoch` epochs exactly as an uninterrupted run would."""
    sio.atomic_torch_save(resume_payload(method, optimizer, epoch, log, meta), path)


def write_final_checkpoint(
    out_path: Path, resume_path: Path, method: nn.Module, epochs: int, log: list[dict], meta: Mapping
) -> None:
    """The trained encoder; the resume checkpoint is deleted only once the final one is in place."""
    sio.atomic_torch_save(final_payload(method, epochs, log, meta), out_path)
    if resume_path.exists():
        resume_path.unlink()
