"""Training of one encoder: the loop (`loop`), its inputs (`spec`, `data`), optimisers and schedule (`optim`),
checkpoints (`checkpoint`) and extension points (`hooks`). See `train_encoder`."""

from sslmem.training.data import (
    BatchSampler,
    ShuffledBatches,
    TrainData,
    batches_per_epoch,
    epoch_order,
    stream_seed,
)
from sslmem.training.hooks import TrainingContext, TrainingHook
from sslmem.training.loop import TrainResult, train_encoder
from sslmem.training.optim import LARS, build_optimizer, optimizer_for_recipe, parameter_groups, warmup_cosine
from sslmem.training.spec import TrainingOptions, TrainingSpec

__all__ = [
    "LARS",
    "BatchSampler",
    "ShuffledBatches",
    "TrainData",
    "TrainResult",
    "TrainingContext",
    "TrainingHook",
    "TrainingOptions",
    "TrainingSpec",
    "batches_per_epoch",
    "build_optimizer",
    "epoch_order",
    "optimizer_for_recipe",
    "parameter_groups",
    "stream_seed",
    "train_encoder",
    "warmup_cosine",
]
