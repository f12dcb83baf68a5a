"""DP-SGD through opacus (`sslmem.training.privacy`): per-sample gradients are each sample's own, opacus clips each
to the clipping norm, noise is added, the accountant's ε spent stays within the target, coupled losses are refused,
and BatchNorm is replaced (and recorded) so that a private encoder loads back for scoring."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from sslmem import io as sio
from sslmem.augment import AugmentSpec
from sslmem.methods import build_method
from sslmem.models import build_encoder
from sslmem.training import TrainData, TrainingOptions, TrainingSpec, train_encoder
from sslmem.training.privacy import (
    PoissonBatches,
    PrivacyError,
    PrivacyHook,
    PrivacySettings,
    make_private_compatible,
    per_sample_gradients,
)

SIZE = 28
PRIVACY = {"epsilon": 8.0, "delta": None, "max_grad_norm": 0.1, "accountant": "rdp", "noise_seed": 0,
           "max_physical_batch_size": 8}
MAE_RECIPE = {"epochs": 2, "warmup_epochs": 0, "batch_size": 8, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05,
              "momentum": 0.9, "betas": [0.9, 0.95], "mask_ratio": 0.75, "decoder_dim": 32, "decoder_depth": 1,
              "decoder_heads": 2, "norm_pix_loss": True, "augment": "mae", "privacy": PRIVACY}
AUGMENT = AugmentSpec(crop_scale=(0.2, 1.0), jitter=(0.0, 0.0, 0.0, 0.0), jitter_p=0.0, grayscale_p=0.0)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_mae():
    torch.manual_seed(0)
    encoder = build_encoder("vit_tiny", image_size=SIZE, patch_size=7, embed_dim=32, depth=1, heads=2)
    method, _ = make_private_compatible(build_method("mae", encoder, MAE_RECIPE))
    return method


def test_per_sample_gradients_equal_each_samples_own_autograd_gradient():
    method = tiny_mae()
    images = torch.randn(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    noise = method.draw_randomness([images], torch.Generator().manual_seed(2))
    grads, losses = per_sample_gradients(method, [images], noise, {})
    for index in range(4):
        method.zero_grad()
        loss = method([images[index:index + 1]], noise[index:index + 1]).sum()
        loss.backward()
        assert losses[index].item() == pytest.approx(loss.item(), rel=1e-5)
        for name, parameter in method.named_parameters():  # every parameter, class and mask tokens included
            torch.testing.assert_close(grads[name][index], parameter.grad, rtol=1e-4, atol=1e-6)


def test_opacus_clips_every_samples_gradient_to_the_clipping_norm():
    from opacus.optimizers import DPOptimizer

    method = tiny_mae()
    images = torch.randn(6, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    grads, _ = per_sample_gradients(method, [images], method.draw_randomness([images], torch.Generator()), {})
    params = [p for p in method.parameters() if p.requires_grad]
    names = [name for name, p in method.named_parameters() if p.requires_grad]
    optimizer = DPOptimizer(torch.optim.SGD(params, lr=0.1), noise_multiplier=0.0, max_grad_norm=0.1,
                            expected_batch_size=1)
    raw_norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads.values()], dim=1).norm(dim=1)
    assert (raw_norms > 0.1).any(), "the test needs samples whose gradient exceeds the clipping norm"
    for index in range(6):
        optimizer.zero_grad(set_to_none=True)
        for name, p in zip(names, params):
            p.grad_sample = grads[name][index:index + 1]
        optimizer.clip_and_accumulate()
        clipped = torch.cat([p.summed_grad.flatten() for p in params]).norm()
        assert clipped <= 0.1 * (1 + 1e-4)
        assert clipped == pytest.approx(min(0.1, raw_norms[index].item()), rel=1e-3)


def train(tmp_path, name: str, privacy: dict | None = PRIVACY, method="mae", recipe=None, arch="vit_tiny",
          accumulate_steps: int = 1):
    recipe = dict(recipe or MAE_RECIPE)
    if privacy is None:
        recipe.pop("privacy", None)
    else:
        recipe["privacy"] = privacy
    spec = TrainingSpec(method=method, recipe=recipe, arch=arch,
                        arch_cfg={"patch_size": 7, "embed_dim": 32, "depth": 1, "heads": 2} if arch == "vit_tiny"
                        else {"width": 4},
                        augment=AUGMENT, image_size=SIZE, mean=(0.5,) * 3, std=(0.25,) * 3, seed=0, role="f")
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, SIZE, SIZE), dtype=torch.uint8, generator=generator)
    data = TrainData(images, np.arange(40), labels=torch.arange(40) % 10)
    options = TrainingOptions(device=torch.device("cpu"), out_path=tmp_path / f"{name}.pt",
                              resume_path=tmp_path / f"{name}.resume.pt",
                              meta={"params_hash": name, "split_hash": "y"}, progress=False,
                              accumulate_steps=accumulate_steps)
    hooks = [PrivacyHook(PrivacySettings.from_recipe(privacy), num_samples=40)] if privacy else []
    train_encoder(spec, data, options, hooks=hooks)
    return sio.load_checkpoint(tmp_path / f"{name}.pt")


def test_private_training_spends_at_most_the_target_and_noise_is_added(tmp_path):
    first = train(tmp_path, "a")
    again = train(tmp_path, "b")
    other_noise = train(tmp_path, "c", privacy={**PRIVACY, "noise_seed": 1})
    privacy = first["meta"]["privacy"]
    assert 0 < privacy["epsilon_spent"] <= privacy["epsilon_target"] == 8.0
    assert privacy["delta"] == pytest.approx(1 / 80)  # None: 1/(2N), as ViP
    assert privacy["steps"] == 2 * 5 and privacy["sample_rate"] == pytest.approx(8 / 40)
    assert privacy["noise_multiplier"] > 0 and privacy["replaced_modules"] == []
    weights = "encoder.backbone.blocks.0.mlp.fc1.weight"
    assert torch.equal(first["model"][weights], again["model"][weights])  # deterministic
    assert not torch.allclose(first["model"][weights], other_noise["model"][weights])  # the noise seed matters


def test_chunked_steps_clip_whole_samples_and_take_the_same_step(tmp_path):
    """accumulate_steps > 1 under DP: each chunk appends its samples' own gradients, the optimiser clips each
    whole sample's gradient once per step, so the encoder is that of unchunked steps (up to summation order)."""
    whole = train(tmp_path, "whole")
    chunked = train(tmp_path, "chunked", accumulate_steps=3)
    assert chunked["meta"]["privacy"]["steps"] == whole["meta"]["privacy"]["steps"]
    for name, value in whole["model"].items():
        torch.testing.assert_close(chunked["model"][name], value, rtol=1e-4, atol=1e-6, msg=name)


def test_secure_mode_draws_fresh_noise_and_is_recorded(tmp_path):
    first = train(tmp_path, "secure_a", privacy={**PRIVACY, "secure_mode": True})
    second = train(tmp_path, "secure_b", privacy={**PRIVACY, "secure_mode": True})
    assert first["meta"]["privacy"]["secure_mode"] is True
    weights = "encoder.backbone.blocks.0.mlp.fc1.weight"
    assert not torch.allclose(first["model"][weights], second["model"][weights])  # OS entropy, not the seeds


def test_a_smaller_epsilon_needs_more_noise(tmp_path):
    loose = train(tmp_path, "loose", privacy={**PRIVACY, "epsilon": 20.0})["meta"]["privacy"]
    tight = train(tmp_path, "tight", privacy={**PRIVACY, "epsilon": 2.0})["meta"]["privacy"]
    assert tight["noise_multiplier"] > loose["noise_multiplier"]
    assert tight["epsilon_spent"] <= 2.0 and loose["epsilon_spent"] <= 20.0


def test_poisson_batches_are_seeded_and_sized_around_the_batch_size():
    sampler = PoissonBatches(num_slots=1000, sample_rate=0.05, streams=(0,), device=torch.device("cpu"))
    first = [batch.tolist() for batch in sampler(3)]
    assert first == [batch.tolist() for batch in sampler(3)] and first != [b.tolist() for b in sampler(4)]
    assert len(first) == sampler.steps_per_epoch == 20
    assert 30 < np.mean([len(batch) for batch in first]) < 70


def test_a_method_whose_loss_couples_samples_is_refused_with_the_reason():
    encoder = build_encoder("resnet18", image_size=SIZE, width=4)
    simclr = build_method("simclr", encoder, {"temperature": 0.5, "projection_dim": 8, "projection_hidden_dim": 8})
    with pytest.raises(PrivacyError, match="couples the samples of a batch"):
        make_private_compatible(simclr)


def test_batchnorm_is_replaced_recorded_and_the_private_encoder_loads_back(tmp_path):
    from sslmem.pipeline.encoders import load_trained_method

    recipe = {"epochs": 1, "warmup_epochs": 0, "batch_size": 8, "optimizer": "sgd", "lr": 0.05,
              "weight_decay": 0.0, "momentum": 0.9, "num_classes": 10, "augment": "supervised"}
    checkpoint = train(tmp_path, "supervised", method="supervised", recipe=recipe, arch="resnet18")
    replaced = checkpoint["meta"]["privacy"]["replaced_modules"]
    assert replaced and all("BatchNorm2d -> GroupNorm" in entry for entry in replaced)
    # The align and probe stages rebuild the model from the checkpoint's meta: give it the meta a stage writes.
    payload = dict(checkpoint)
    payload["meta"] = {**checkpoint["meta"], "image_size": SIZE, "training_settings": json.dumps(
        {"method": "supervised", "arch": "resnet18", "arch_cfg": {"width": 4}, "recipe": {**recipe, "privacy": PRIVACY}})}
    sio.atomic_torch_save(payload, tmp_path / "with_meta.pt")
    method, _ = load_trained_method(tmp_path / "with_meta.pt")
    assert not any(isinstance(module, torch.nn.BatchNorm2d) for module in method.modules())


@pytest.mark.parametrize("key, value, message", [
    ("epsilon", 0.0, "epsilon must be > 0"),
    ("delta", 1.0, "delta must lie in"),
    ("max_grad_norm", -1.0, "clipping norm"),
])
def test_bad_privacy_settings_are_named(key, value, message):
    with pytest.raises(PrivacyError, match=message):
        PrivacySettings.from_recipe({**PRIVACY, key: value})


def test_settings_are_a_frozen_record():
    settings = PrivacySettings.from_recipe(PRIVACY)
    assert dataclasses.asdict(settings)["max_grad_norm"] == 0.1


def test_a_module_opacus_cannot_fix_is_named(monkeypatch):
    from opacus.validators import ModuleValidator

    # Every module opacus validates has a fixer today; a fixer that leaves the module as it was stands for one
    # that has none (a future opacus, or a custom layer).
    monkeypatch.setattr(ModuleValidator, "fix", classmethod(lambda cls, module, **kwargs: module))
    encoder = build_encoder("resnet18", image_size=SIZE, width=4)
    supervised = build_method("supervised", encoder, {"num_classes": 10})
    with pytest.raises(PrivacyError, match=r"cannot train these modules privately.*encoder\.backbone\.\S+ \(BatchNorm2d\)"):
        make_private_compatible(supervised)
