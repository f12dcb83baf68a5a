"""The alignment regulariser of Eq. 3 (`sslmem.training.regularizer`): its term against a hand computation, the
sign of its gradient (it pushes the two views' representations apart), and its place in the training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sslmem import io as sio
from sslmem.augment import AugmentSpec
from sslmem.training import TrainData, TrainingOptions, TrainingSpec, train_encoder
from sslmem.training.regularizer import AlignmentRegularizer, regularised_loss, view_distance


def test_the_term_equals_a_hand_computation():
    first = torch.tensor([[3.0, 4.0], [1.0, 1.0], [1.0, 0.0]])
    second = torch.tensor([[0.0, 5.0], [2.0, 2.0], [-3.0, 0.0]])
    # Normalised: (0.6, 0.8) vs (0, 1): √(0.36 + 0.04) = √0.4; parallel rows: 0 (scale does not count);
    # opposite rows: 2, the largest distance.
    distances = view_distance(first, second)
    assert distances.tolist() == pytest.approx([0.4 ** 0.5, 0.0, 2.0])
    mean = (0.4 ** 0.5 + 2.0) / 3
    assert regularised_loss(torch.tensor(1.5), distances, 0.2).item() == pytest.approx(0.8 * 1.5 - 0.2 * mean)
    assert regularised_loss(torch.tensor(1.5), distances, 0.0).item() == pytest.approx(1.5)


def test_scaling_a_representation_up_does_not_lower_the_loss():
    """The failure of an unnormalised d: the regulariser rewarded ever larger representations."""
    first, second = torch.tensor([[1.0, 2.0]]), torch.tensor([[2.0, 1.0]])
    assert view_distance(10 * first, 10 * second).item() == pytest.approx(view_distance(first, second).item())


def test_its_gradient_pushes_the_views_apart():
    first = torch.tensor([[1.0, 0.2]], requires_grad=True)
    second = torch.tensor([[0.0, 1.0]])
    regularised_loss(torch.tensor(0.0), view_distance(first, second), 0.5).backward()
    # A small gradient step (−grad) turns `first` away from `second`: their cosine falls, the distance grows.
    moved = (first - 0.1 * first.grad).detach()
    cosine = torch.nn.functional.cosine_similarity
    assert cosine(moved, second).item() < cosine(first.detach(), second).item()


@pytest.mark.parametrize("weight", [-0.1, 1.0])
def test_lambda_outside_zero_one_is_refused(weight):
    with pytest.raises(ValueError, match=r"λ must lie in \[0, 1\)"):
        AlignmentRegularizer(weight)


def train(tmp_path, name, hooks):
    spec = TrainingSpec(
        method="mae",
        recipe={"epochs": 1, "warmup_epochs": 0, "batch_size": 8, "optimizer": "adamw", "lr": 1e-3,
                "weight_decay": 0.05, "momentum": 0.9, "betas": [0.9, 0.95], "mask_ratio": 0.75, "decoder_dim": 32,
                "decoder_depth": 1, "decoder_heads": 2, "norm_pix_loss": True, "augment": "mae"},
        arch="vit_tiny", arch_cfg={"patch_size": 7, "embed_dim": 32, "depth": 1, "heads": 2},
        augment=AugmentSpec(crop_scale=(0.2, 1.0), jitter=(0.0, 0.0, 0.0, 0.0), jitter_p=0.0, grayscale_p=0.0),
        image_size=28, mean=(0.5,) * 3, std=(0.25,) * 3, seed=0, role="f")
    images = torch.randint(0, 256, (16, 3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    options = TrainingOptions(device=torch.device("cpu"), out_path=tmp_path / f"{name}.pt",
                              resume_path=tmp_path / f"{name}.resume.pt", meta={"params_hash": name, "split_hash": "y"},
                              progress=False)
    result = train_encoder(spec, TrainData(images, np.arange(16)), options, hooks=hooks)
    return result, sio.load_checkpoint(tmp_path / f"{name}.pt")


def test_a_one_view_method_gets_a_second_view_and_lambda_changes_training(tmp_path):
    torch.set_num_threads(1)
    plain, plain_checkpoint = train(tmp_path, "plain", [])
    _, zero_checkpoint = train(tmp_path, "zero", [AlignmentRegularizer(0.0)])
    hook = AlignmentRegularizer(0.5)
    _, regularised_checkpoint = train(tmp_path, "half", [hook])
    weights = "encoder.backbone.blocks.0.mlp.fc1.weight"
    assert np.isfinite(hook.last_distance) and hook.last_distance > 0
    assert regularised_checkpoint["meta"]["alignment_regularizer"]["weight"] == 0.5
    assert not torch.allclose(plain_checkpoint["model"][weights], regularised_checkpoint["model"][weights])
    # λ = 0 adds a term of zero; the extra view comes from a stream of its own, so the method's views and masks
    # are the plain run's and so is the encoder (encoders of different λ are coupled).
    torch.testing.assert_close(plain_checkpoint["model"][weights], zero_checkpoint["model"][weights])
