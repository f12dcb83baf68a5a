"""UnitMem and ClassMem (Localizing Memorization in SSL Vision Encoders): how much one point alone, or one class
alone, activates a unit."""

from __future__ import annotations

import numpy as np
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


def class_memorization(unit_means: torch.Tensor, labels, others: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """ClassMem of every unit (localization paper, Sec. 3 and Fig. 3) from its per-point mean activations
    [N, U] and the points' class labels [N]: returns (classmem [U], argmax_class [U]) with

        ClassMem(u) = (μ_maxclass − μ_−maxclass) / (μ_maxclass + μ_−maxclass),

    μ_u(c) the mean of the per-point means over the points of class c, μ_maxclass the largest class mean and
    μ_−maxclass the mean (or, with `others="median"`, the median) over the other classes. It is UnitMem with
    classes in place of points, so it is computed by :func:`unit_memorization` on the class means and has its
    undefined cases (NaN: μ_−maxclass < 0 or a denominator ≤ 0). Why both: a unit that one point alone
    activates has a high UnitMem, one that a whole class activates a high ClassMem; the paper finds SSL units
    mostly the first kind and supervised units the second. `argmax_class` is the label of the class with
    μ_maxclass. Classes are those present in `labels`; the caller balances them (each class mean weighs equally).
    """
    if unit_means.ndim != 2:
        raise ValueError(f"need per-point means of shape [N, units], got {tuple(unit_means.shape)}")
    labels = torch.as_tensor(np.array(labels))  # a copy: a read-only array (a pandas column) cannot back a tensor
    if labels.ndim != 1 or labels.numel() != unit_means.shape[0]:
        raise ValueError(f"need one label per point: {unit_means.shape[0]} points, labels of shape "
                         f"{tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class ids, got {labels.dtype}")
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f"{int((labels < 0).sum())} points have no class (label < 0: an unlabelled pool); "
                         "ClassMem needs labelled points")
    classes, index = torch.unique(labels, sorted=True, return_inverse=True)
    if classes.numel() < 2:
        raise ValueError(f"ClassMem needs points of at least 2 classes, got {classes.numel()} "
                         f"({classes.tolist()})")
    values = unit_means.double()
    sums = torch.zeros(classes.numel(), values.shape[1], dtype=values.dtype).index_add_(0, index, values)
    means = sums / torch.bincount(index, minlength=classes.numel()).unsqueeze(1).to(values.dtype)
    classmem, argmax = unit_memorization(means, others=others)
    return classmem, classes[argmax]
