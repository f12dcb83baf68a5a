"""The one atomic writer (text, bytes, CSV, Parquet, PNG, torch) and safe checkpoint loading.

A job killed halfway (Slurm time limit, pre-emption, Ctrl-C) must never leave a file that Snakemake or DVC
would take as complete, so every output is written to a temporary file in the same directory and renamed
into place (rename is atomic on POSIX filesystems).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read safely (corrupt, truncated, not ours, or would need to run code)."""


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it to `path`, on failure delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix + ".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    # mkstemp creates the file 0600; results are shared (cluster file systems, DVC caches): use the umask.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_to_csv(frame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def atomic_save_figure(figure, path: str | os.PathLike, **savefig_options) -> None:
    """A matplotlib Figure saved as PNG through the same temporary-file-and-rename path."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", **savefig_options)


def atomic_to_parquet(frame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch  # here, not at the top: tables, figures and the Snakefile use this module without torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint without executing code (weights_only=True); name the file in every failure."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused to load — it holds objects that would need arbitrary code to unpickle "
            f"(only tensors and plain Python values are allowed): {error}"
        ) from None
    except Exception as error:  # noqa: BLE001 — corrupt bytes surface as KeyError, IndexError, struct.error, ...
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or corrupt?): {type(error).__name__}: {error}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an sslmem checkpoint (missing format tag {CHECKPOINT_FORMAT!r})")
    return payload


CHECKPOINT_FORMAT = "sslmem-checkpoint-v1"
