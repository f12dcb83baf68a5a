"""Snapshots of an encoder during training: the encoder after chosen epochs, in the final-checkpoint format.

Why a hook and not shorter runs: a snapshot must be what the full run had at that epoch. A run trained for e
epochs with the recipe's `epochs: e` is another encoder (its cosine schedule ends at e), and a run stopped after e
epochs (`TrainingOptions.stop_after_epochs`) writes a resume checkpoint, so snapshots at n epochs by stopped runs
would need n jobs continuing one another. A :class:`SnapshotHook` instead writes the state the loop holds after
each chosen epoch (``after_epoch``: after the epoch's last optimiser step, before the resume or final checkpoint),
in one run with the recipe's schedule. It changes nothing the loop computes (no random draw, no weight), so the
run's final checkpoint is the one it writes without the hook, and the snapshot of the last epoch holds the same
weights as the final checkpoint (tests/test_dynamics.py checks both, and that a snapshot equals the weights of a
run stopped at its epoch).

Where they go: snapshots are staged in a folder beside the resume checkpoint (:func:`staging_folder`), which, like
the resume checkpoint, survives a killed job (Snakemake deletes the outputs of a failed job, not its resume
files), and moved into the job's output folder when training completes (:func:`publish_snapshots`). A resumed run
therefore still has the snapshots of the epochs before its resume point; :meth:`SnapshotHook.setup` checks that
they are there and belong to this run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from sslmem import io as sio
from sslmem.training import checkpoint as ckpt
from sslmem.training.hooks import TrainingContext, TrainingHook, checkpoint_meta

SNAPSHOT_NAME = "epoch{epoch}.pt"


def snapshot_file(folder: str | os.PathLike, epoch: int) -> Path:
    """The snapshot of `epoch` (counted from 1: the state after that many epochs) in `folder`."""
    return Path(folder) / SNAPSHOT_NAME.format(epoch=int(epoch))


def staging_folder(resume_path: str | os.PathLike) -> Path:
    """Where a run stages its snapshots while it trains: beside its resume checkpoint (``<resume>.snapshots/``)."""
    return Path(resume_path).with_suffix(".snapshots")


def check_snapshot_epochs(epochs: Iterable[int], total: int) -> list[int]:
    """`epochs` sorted, each a number of finished epochs in 1 … `total` (ValueError naming the others)."""
    chosen = sorted({int(epoch) for epoch in epochs})
    outside = [epoch for epoch in chosen if not 1 <= epoch <= total]
    if outside:
        raise ValueError(f"snapshot epochs {outside} are outside 1 … {total}, the run's epochs")
    return chosen


class SnapshotHook(TrainingHook):
    """Writes the trained method after each epoch of `epochs` to ``<folder>/epoch<e>.pt``, as
    :func:`sslmem.training.checkpoint.final_payload` (CPU weights, ``epoch`` = e, the log so far, the run's meta
    with the metadata of the hooks in `others`): align and probe read a snapshot like a final checkpoint."""

    def __init__(self, epochs: Iterable[int], folder: str | os.PathLike, others: Sequence[TrainingHook] = ()):
        self.epochs = sorted({int(epoch) for epoch in epochs})
        self.folder = Path(folder)
        self.others = tuple(others)

    def setup(self, context: TrainingContext) -> None:
        """Check the epochs against the run; a fresh start clears snapshots of an earlier run from the folder, a
        resumed one needs those of the epochs it does not train again."""
        check_snapshot_epochs(self.epochs, context.spec.epochs)
        if context.start_epoch == 0:
            for stale in self.folder.glob(SNAPSHOT_NAME.format(epoch="*")):
                stale.unlink()
            return
        for epoch in (epoch for epoch in self.epochs if epoch <= context.start_epoch):
            check_belongs_to_run(snapshot_file(self.folder, epoch), context.options.meta, context.options.resume_path)

    def after_epoch(self, context: TrainingContext, log: Sequence[Mapping]) -> None:
        epoch = context.epoch + 1
        if epoch in self.epochs:
            meta = checkpoint_meta(context.options.meta, self.others)
            payload = ckpt.final_payload(context.method, epoch, [dict(row) for row in log], meta)
            sio.atomic_torch_save(payload, snapshot_file(self.folder, epoch))


def check_belongs_to_run(path: Path, meta: Mapping, resume_path: Path) -> None:
    """A staged snapshot a resumed run keeps must exist and be of this run (settings, split, training set)."""
    if not path.is_file():
        raise sio.CheckpointError(
            f"{path}: missing, but the resume checkpoint {resume_path} is past its epoch; delete the resume "
            "checkpoint to train again from the start")
    ckpt.check_resumable(path, sio.load_checkpoint(path)["meta"], meta)


def publish_snapshots(staging: str | os.PathLike, out_folder: str | os.PathLike, epochs: Iterable[int]) -> list[Path]:
    """Move the staged snapshots of `epochs` into `out_folder` (the job's output) once training has completed,
    and remove the staging folder; a missing one is an error naming it (nothing is moved then)."""
    staging, out_folder = Path(staging), Path(out_folder)
    epochs = sorted({int(epoch) for epoch in epochs})
    missing = [str(snapshot_file(staging, epoch)) for epoch in epochs if not snapshot_file(staging, epoch).is_file()]
    if missing:
        raise sio.CheckpointError(f"snapshots {missing} were not written; train the encoder again")
    out_folder.mkdir(parents=True, exist_ok=True)
    published = []
    for epoch in epochs:
        os.replace(snapshot_file(staging, epoch), snapshot_file(out_folder, epoch))
        published.append(snapshot_file(out_folder, epoch))
    shutil.rmtree(staging, ignore_errors=True)
    return published
