"""UnitMem (Localizing Memorization in SSL Vision Encoders): how much one point alone activates a unit."""

from __future__ import annotations

import torch

UNITMEM_OTHERS = ("mean", "median")


def unit_memorization(unit_means: torch.Tensor, others: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """UnitMem of every unit (localization paper) from its per-point mean activations [N, U] (each already
    averaged over a point's augmented views and, for convolutions, over space): returns (unitmem [U],
    argmax [U]) with

        UnitMem(u) = (μ_max − μ_−max) / (μ_max + μ_−max),

    μ_max the largest per-point mean and μ_−max the mean (`others="mean"`) or, as in the published code, the
    median (`others="median"`) over the other N − 1 points. UnitMem is 0 when no point stands out and tends to
    1 when one point alone activates the unit. The ratio assumes non-negative activations (ReLU); a unit with
    μ_−max < 0 (GELU outputs can be negative) or μ_max + μ_−max ≤ 0 (a dead unit) has no UnitMem: NaN.
    `argmax` is the row of the point with μ_max.
    """
    if others not in UNITMEM_OTHERS:
        raise ValueError(f"others={others!r}; use one of {UNITMEM_OTHERS}")
    if unit_means.ndim != 2 or unit_means.shape[0] < 2:
        raise ValueError(f"need per-point means of shape [N >= 2, units], got {tuple(unit_means.shape)}")
    values = unit_means.double()
    mu_max, argmax = values.max(dim=0)
    if others == "mean":
        mu_others = (values.sum(dim=0) - mu_max) / (values.shape[0] - 1)
    else:
        keep = torch.ones_like(values, dtype=torch.bool)
        keep[argmax, torch.arange(values.shape[1])] = False
        mu_others = values.T[keep.T].view(values.shape[1], -1).median(dim=1).values
    denominator = mu_max + mu_others
    defined = (mu_others >= 0) & (denominator > 0)
    unitmem = torch.where(defined, (mu_max - mu_others) / denominator, torch.full_like(mu_max, float("nan")))
    return unitmem, argmax
