"""Our LARS against timm's (`timm.optim.Lars`): they take the same steps where their definitions agree, and differ
exactly where SimCLR's LARS (which ours follows) departs from You et al.'s formula that timm implements.

- Without weight decay both scale a tensor's step by η‖w‖/‖g‖ and skip biases and norms: identical steps.
- With weight decay, SimCLR's trust ratio divides by the norm of the decayed gradient, ‖g + wd·w‖; timm's by
  ‖g‖ + wd·‖w‖ (the paper's bound). The triangle inequality makes those differ unless g ∥ w, so we keep ours.
"""

from __future__ import annotations

import copy

import pytest
import torch
from timm.optim import Lars
from torch import nn

from sslmem.training.optim import LARS, parameter_groups


def toy_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))


def run_steps(model: nn.Module, optimizer, steps: int = 5) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        inputs = torch.randn(8, 5, generator=generator)
        targets = torch.randn(8, 3, generator=generator)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(inputs), targets).backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def timm_lars(model: nn.Module, weight_decay: float, eta: float) -> Lars:
    # timm adapts a group only when its weight decay is non-zero unless always_adapt: the decayed group adapts, the
    # biases and norms (weight decay 0) take plain SGD steps, as in ours.
    groups = [{k: v for k, v in group.items() if k != "lars_exclude"} for group in parameter_groups(model, weight_decay)]
    groups[0]["always_adapt"] = True
    return Lars(groups, lr=0.5, momentum=0.9, trust_coeff=eta, eps=0.0)


def test_without_weight_decay_our_lars_takes_timms_steps():
    ours, theirs = toy_model(), toy_model()
    ours_after = run_steps(ours, LARS(parameter_groups(ours, 0.0), lr=0.5, momentum=0.9, eta=0.02))
    theirs_after = run_steps(theirs, timm_lars(theirs, 0.0, 0.02))
    for a, b in zip(ours_after, theirs_after):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def with_gradients(model: nn.Module) -> nn.Module:
    """A copy of `model` with one batch's gradients (deepcopy does not copy .grad)."""
    model = copy.deepcopy(model)
    model(torch.randn(8, 5, generator=torch.Generator().manual_seed(2))).sum().backward()
    return model


def test_with_weight_decay_the_trust_ratio_is_simclrs_not_timms():
    model = toy_model()
    wd, eta, lr = 0.1, 0.02, 0.5
    before = model[0].weight.detach().clone()
    ours = with_gradients(model)
    grad = ours[0].weight.grad.clone()
    LARS(parameter_groups(ours, wd), lr=lr, momentum=0.9, eta=eta).step()
    decayed = grad + wd * before
    simclr_step = lr * eta * before.norm() / decayed.norm() * decayed            # SimCLR: ‖g + wd·w‖
    you_step = lr * eta * before.norm() / (grad.norm() + wd * before.norm()) * decayed  # timm / You et al.
    torch.testing.assert_close(before - ours[0].weight.detach(), simclr_step)
    assert not torch.allclose(simclr_step, you_step, rtol=1e-4)
    theirs = with_gradients(model)
    timm_lars(theirs, wd, eta).step()
    torch.testing.assert_close(before - theirs[0].weight.detach(), you_step)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_biases_and_norms_take_plain_momentum_sgd_steps(weight_decay):
    model = toy_model()
    model(torch.randn(8, 5)).sum().backward()
    bias_before, bias_grad = model[0].bias.detach().clone(), model[0].bias.grad.clone()
    LARS(parameter_groups(model, weight_decay), lr=0.5, momentum=0.9, eta=0.02).step()
    torch.testing.assert_close(model[0].bias.detach(), bias_before - 0.5 * bias_grad)
