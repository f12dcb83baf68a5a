"""Optimisers and the learning-rate schedule of Table 6: SGD, LARS and AdamW with linear warm-up and cosine decay.

Shared by the encoder training loop and the linear probe (`sslmem.evaluation.probe`), so both read the same
recipe keys of params.yaml (optimizer, lr, weight_decay, momentum, betas, trust_coefficient).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn


class LARS(torch.optim.Optimizer):
    """LARS (You et al., 2017) as SimCLR implements it: SGD with momentum whose step for each weight tensor is
    the decayed gradient g + wd·w scaled by the trust ratio η·‖w‖ / ‖g + wd·w‖. Parameter groups with
    ``lars_exclude=True`` (biases and normalisation weights) take plain SGD steps without weight decay, as in
    SimCLR's implementation.

    Why not ``timm.optim.Lars``: it takes the same steps without weight decay, but divides by ‖g‖ + wd·‖w‖ (You et
    al.'s formula) where SimCLR divides by ‖g + wd·w‖, so with weight decay its steps differ
    (tests/test_lars.py shows both).
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 0.001):
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, lars_exclude=False))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if not group["lars_exclude"]:
                    grad = grad.add(param, alpha=group["weight_decay"])
                    param_norm, grad_norm = torch.norm(param), torch.norm(grad)
                    trust = torch.where(
                        (param_norm > 0) & (grad_norm > 0), group["eta"] * param_norm / grad_norm, torch.ones_like(param_norm)
                    )
                    grad = grad.mul(trust)
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.clone(grad).detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(grad)
                param.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Biases and normalisation parameters (1-D tensors) get no weight decay and no LARS adaptation."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay, "lars_exclude": False},
        {"params": no_decay, "weight_decay": 0.0, "lars_exclude": True},
    ]


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    weight_decay: float,
    momentum: float,
    betas: Sequence[float] | None = None,
    trust_coefficient: float | None = None,
):
    """SGD, LARS or AdamW over `model`'s parameters, biases and norms without weight decay (and without LARS
    scaling). `betas` (AdamW) and `trust_coefficient` (LARS) come from the recipe in params.yaml."""
    groups = parameter_groups(model, weight_decay)
    if name == "sgd":
        for group in groups:
            group.pop("lars_exclude")
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if name == "lars":
        if trust_coefficient is None:
            raise ValueError("optimizer lars needs trust_coefficient (set it in the recipe in params.yaml)")
        return LARS(groups, lr=lr, momentum=momentum, eta=trust_coefficient)
    if name == "adamw":
        if betas is None:
            raise ValueError("optimizer adamw needs betas (set them in the recipe in params.yaml)")
        for group in groups:
            group.pop("lars_exclude")
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas))
    raise ValueError(f"unknown optimizer {name!r}; known: sgd, lars, adamw")


def optimizer_for_recipe(model: nn.Module, recipe: Mapping) -> torch.optim.Optimizer:
    """The optimiser a params.yaml recipe (`methods.<name>`, merged with the setup's overrides) asks for."""
    return build_optimizer(
        model, recipe["optimizer"], recipe["lr"], recipe["weight_decay"], recipe["momentum"],
        betas=recipe.get("betas"), trust_coefficient=recipe.get("trust_coefficient"),
    )


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warm-up from 0 to base_lr, then cosine decay to 0 (Table 6's "Cos. Decay")."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every parameter group follows the one schedule (the groups differ in weight decay and LARS only)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
