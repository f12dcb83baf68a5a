"""The training loop's hook interface (`sslmem.training.hooks`): the loop calls a hook where its docstring says,
a hook's loss term reaches the gradient, and a term of zero leaves training bit-for-bit unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sslmem import io as sio
from sslmem.augment import AugmentSpec
from sslmem.training import TrainData, TrainingHook, TrainingOptions, TrainingSpec, train_encoder
from sslmem.training.hooks import checkpoint_meta

SIZE = 28
SPEC = TrainingSpec(
    method="supervised",
    recipe={"epochs": 1, "warmup_epochs": 0, "batch_size": 16, "optimizer": "sgd", "lr": 0.05, "weight_decay": 0.0,
            "momentum": 0.9, "num_classes": 10},
    arch="vit_tiny",
    arch_cfg={"patch_size": 7, "depth": 1},
    augment=AugmentSpec(crop_scale=(0.75, 1.0), jitter=(0.0, 0.0, 0.0, 0.0), jitter_p=0.0, grayscale_p=0.0),
    image_size=SIZE,
    mean=(0.5, 0.5, 0.5),
    std=(0.25, 0.25, 0.25),
    seed=0,
    role="f",
)


class BiasTerm(TrainingHook):
    """Adds ``weight · Σ classifier.bias`` to the loss (its gradient: `weight` on every bias entry) and records,
    after every step, the bias gradient the optimiser just used."""

    def __init__(self, weight: float):
        self.weight = weight
        self.setups = 0
        self.loss_steps: list[int] = []
        self.gradients: list[torch.Tensor] = []

    def setup(self, context):
        self.setups += 1
        self.bias = context.method.classifier.bias

    def loss(self, context, views, per_sample, loss):
        assert per_sample.shape == (16,) and len(views) == 1
        self.loss_steps.append(context.step)
        return loss + self.weight * self.bias.sum()

    def after_step(self, context):
        self.gradients.append(self.bias.grad.clone())

    def metadata(self):
        return {"bias_term_weight": self.weight}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train(tmp_path, name: str, hooks=()) -> dict:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (32, 3, SIZE, SIZE), dtype=torch.uint8, generator=generator)
    data = TrainData(images, np.arange(32), labels=torch.arange(32) % 10)
    options = TrainingOptions(device=torch.device("cpu"), out_path=tmp_path / f"{name}.pt",
                              resume_path=tmp_path / f"{name}.resume.pt",
                              meta={"params_hash": "x", "split_hash": "y"}, progress=False)
    train_encoder(SPEC, data, options, hooks=hooks)
    return sio.load_checkpoint(tmp_path / f"{name}.pt")


def test_hook_is_called_and_its_loss_term_reaches_the_gradient(tmp_path):
    plain = train(tmp_path, "plain")
    zero, half = BiasTerm(0.0), BiasTerm(0.5)
    with_zero = train(tmp_path, "zero", hooks=[zero])
    train(tmp_path, "half", hooks=[half])

    # Called as documented: set up once, a loss term and an after_step for each of the 2 steps (32 images / 16).
    assert zero.setups == 1 and zero.loss_steps == [0, 1] and len(zero.gradients) == 2
    # A term of 0 changes no number: the same weights as without hooks; the hook's metadata is recorded.
    assert plain["model"].keys() == with_zero["model"].keys()
    assert all(torch.equal(plain["model"][key], with_zero["model"][key]) for key in plain["model"])
    assert with_zero["meta"] == {**plain["meta"], "bias_term_weight": 0.0}
    # d(0.5 · Σ bias)/d bias = 0.5 on every entry. (Shifting all logits alike leaves the cross-entropy as it
    # is, so the gradients differ by exactly this term at every step, not only at the first.)
    for with_term, without in zip(half.gradients, zero.gradients, strict=True):
        torch.testing.assert_close(with_term, without + 0.5)


def test_hook_metadata_may_not_overwrite_the_run_meta():
    class Clashing(TrainingHook):
        def metadata(self):
            return {"params_hash": "mine"}

    with pytest.raises(ValueError, match="params_hash"):
        checkpoint_meta({"params_hash": "x"}, [Clashing()])
    assert checkpoint_meta({"params_hash": "x"}, []) == {"params_hash": "x"}
