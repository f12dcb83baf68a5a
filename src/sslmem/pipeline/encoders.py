"""Trained encoders back from their checkpoints (for the align and probe stages)."""

from __future__ import annotations

import json
from pathlib import Path

from sslmem import io as sio
from sslmem.models import build_encoder
from sslmem.training.privacy import build_method_for_recipe


def load_trained_method(checkpoint_path: Path, device="cpu"):
    """Rebuild the method (encoder + heads) a checkpoint was trained as, weights loaded, in eval mode."""
    payload = sio.load_checkpoint(checkpoint_path)
    meta = payload["meta"]
    try:
        training = json.loads(meta["training_settings"])
        encoder = build_encoder(training["arch"], image_size=meta["image_size"], **training["arch_cfg"])
        method = build_method_for_recipe(training["method"], encoder, training["recipe"])
        method.load_state_dict(payload["model"])
    except (KeyError, RuntimeError, ValueError) as error:
        raise sio.CheckpointError(f"{checkpoint_path}: does not match the model it claims to hold: {error}") from None
    return method.to(device).eval(), payload

