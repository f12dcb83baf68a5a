"""Alignment loss per point and encoder (SSLMem paper Eq. 1, App. A), on the representation and on every layer.

Pure functions for the math (unit-tested against hand-computed values), plus :func:`measure_alignment`, the
batched measurement of one encoder on a set of images, and :func:`measure_layer_alignment`, which also measures
the output of every layer in the same forward passes (LayerMem: SSLMem per layer, localization paper).

Alignment of encoder h on x: mean over pairs of augmented views of ‖ĥ(x') − ĥ(x'')‖₂, ĥ = h / ‖h‖₂ on the
full representation (`augmented-pairs`, the paper's Eq. 1); the published code instead compares the clean
image with each view, mean over views of ‖ĥ(x) − ĥ(a(x))‖₂ (`clean-vs-augmented`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from sslmem.augment import BatchAugment, make_generator

PAIRINGS = ("augmented-pairs", "clean-vs-augmented")
# Maps a batch of images to one representation per image (the encoder's output, or a projection of it).
RepresentationFn = Callable[[torch.Tensor], torch.Tensor]
# Told (points measured so far, points in all) after each batch, for progress lines in a job's log.
ProgressFn = Optional[Callable[[int, int], None]]


def l2_normalize(representations: torch.Tensor) -> torch.Tensor:
    """Scale each row to unit ℓ2 norm (the paper normalises representations before measuring distances)."""
    return F.normalize(representations.float(), p=2, dim=-1)


def alignment_from_views(views: torch.Tensor) -> torch.Tensor:
    """Mean pairwise ℓ2 distance between the V views of each point: views [V, B, D] → [B].

    Each unordered pair (i < j) counts once; for V = 5 that is 10 pairs.
    """
    num_views = views.shape[0]
    if num_views < 2:
        raise ValueError(f"need at least 2 views per point, got {num_views}")
    rows, cols = torch.triu_indices(num_views, num_views, offset=1)
    distances = (views[rows] - views[cols]).norm(dim=-1)  # [pairs, B]
    return distances.mean(dim=0)


def alignment_clean_vs_views(clean: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
    """Mean ℓ2 distance between each point's clean representation [B, D] and its V views [V, B, D] → [B]."""
    return (views - clean.unsqueeze(0)).norm(dim=-1).mean(dim=0)


def alignment_from_views_gram(views: torch.Tensor) -> torch.Tensor:
    """:func:`alignment_from_views` for unit-norm views [V, B, D] through their Gram matrix: memory O(B·V²)
    instead of O(V²·B·D), for the wide early-layer outputs LayerMem reads. ‖a − b‖ = sqrt(2 − 2 a·b)."""
    num_views = views.shape[0]
    if num_views < 2:
        raise ValueError(f"need at least 2 views per point, got {num_views}")
    per_point = views.transpose(0, 1)  # [B, V, D]
    gram = per_point @ per_point.transpose(1, 2)  # [B, V, V]
    rows, cols = torch.triu_indices(num_views, num_views, offset=1)
    return (2 - 2 * gram[:, rows, cols]).clamp_min(0).sqrt().mean(dim=1)


def alignment_clean_vs_views_gram(clean: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
    """:func:`alignment_clean_vs_views` for unit-norm inputs through dot products (clean [B, D], views [V, B, D])."""
    dots = torch.einsum("bd,vbd->bv", clean, views)
    return (2 - 2 * dots).clamp_min(0).sqrt().mean(dim=1)


@torch.no_grad()
def measure_alignment(
    represent: RepresentationFn,
    images: torch.Tensor,
    augment: BatchAugment,
    *,
    num_views: int,
    pairing: str,
    batch_size: int,
    seed: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Alignment loss of one encoder on every image: images uint8 [N, 3, H, W] → [N].

    `represent` maps a normalised batch to representations [B, D] (the caller puts the encoder in eval mode).
    The views depend only on (seed, position of the batch, batch size), so every encoder measured with the same
    arguments sees exactly the same augmented images; all V·B views of a batch go through one forward pass.
    """
    return measure_layer_alignment(
        represent, {}, images, augment, num_views=num_views, pairing=pairing, batch_size=batch_size, seed=seed,
        device=device,
    ).align


@dataclass
class LayerMeasurement:
    """What :func:`measure_layer_alignment` returns: the encoder-level alignment [N], each layer's alignment
    {name: [N]} and each unit layer's per-point mean activations {name: [N, units]} (for UnitMem)."""

    align: torch.Tensor
    layers: dict[str, torch.Tensor] = field(default_factory=dict)
    unit_means: dict[str, torch.Tensor] = field(default_factory=dict)


def unit_activation_means(output: torch.Tensor, num_views: int, num_points: int) -> torch.Tensor:
    """Per-point mean activation of every unit: a layer's output for the V·B views (conv [V·B, C, H, W] or
    tokens [V·B, T, C]) averaged over space or tokens, then over each point's views → [B, C]."""
    if output.ndim == 4:
        per_view = output.float().mean(dim=(2, 3))
    elif output.ndim == 3:
        per_view = output.float().mean(dim=1)
    else:
        per_view = output.float()
    return per_view.view(num_views, num_points, -1).mean(dim=0)


def _check_pairing(pairing: str, num_views: int) -> None:
    if pairing not in PAIRINGS:
        raise ValueError(f"unknown pairing {pairing!r}; known: {PAIRINGS}")
    if pairing == "augmented-pairs" and num_views < 2:
        raise ValueError("augmented-pairs needs num_views >= 2")


def _views_of(batch: torch.Tensor, augment: BatchAugment, generator, num_views: int, pairing: str) -> torch.Tensor:
    """The forward pass's input for one batch: its `num_views` augmented views (after the clean images for
    clean-vs-augmented), drawn from `generator` in view order."""
    views = torch.cat([augment(batch, generator) for _ in range(num_views)])
    return torch.cat([augment.clean(batch), views]) if pairing == "clean-vs-augmented" else views


def _batch_alignment(reps: torch.Tensor, batch_points: int, num_views: int, pairing: str) -> torch.Tensor:
    """Per-point alignment of one batch from its ℓ2-normalised representations (clean first, if any)."""
    if pairing == "clean-vs-augmented":
        clean, view_reps = reps[:batch_points], reps[batch_points:]
        return alignment_clean_vs_views(clean, view_reps.view(num_views, batch_points, -1))
    return alignment_from_views(reps.view(num_views, batch_points, -1))


@torch.no_grad()
def measure_layer_alignment(
    represent: RepresentationFn,
    layers: Mapping[str, nn.Module],
    images: torch.Tensor,
    augment: BatchAugment,
    *,
    num_views: int,
    pairing: str,
    batch_size: int,
    seed: int,
    device: torch.device | str = "cpu",
    unit_layers: Mapping[str, nn.Module] | None = None,
    progress: ProgressFn = None,
) -> LayerMeasurement:
    """:func:`measure_alignment` plus, in the same forward passes, the alignment on the output of each module
    of `layers` (name → module inside `represent`'s network; LayerMem reads these) and the per-point mean
    activation of every unit of each module of `unit_layers` (UnitMem reads these). `progress`, when given, is
    called after each batch with (points measured so far, points in all); it does not change what is measured.
    Each layer's output (flattened, ℓ2-normalised) is reduced to its per-point alignment inside a forward hook,
    so no more than one layer's output is held at a time; unit means use the augmented views only."""
    # The hooks below close over the batch being measured (`batch_points`) and the capture dictionaries.
    _check_pairing(pairing, num_views)
    unit_layers = unit_layers or {}
    device = torch.device(device)
    batch_points = 0  # the number of points in the batch being measured (read by the hooks)
    captured: dict[str, torch.Tensor] = {}
    captured_units: dict[str, torch.Tensor] = {}

    def layer_alignment(output: torch.Tensor) -> torch.Tensor:
        reps = l2_normalize(output.flatten(1))
        if pairing == "clean-vs-augmented":
            clean, view_reps = reps[:batch_points], reps[batch_points:]
            return alignment_clean_vs_views_gram(clean, view_reps.view(num_views, batch_points, -1))
        return alignment_from_views_gram(reps.view(num_views, batch_points, -1))

    def alignment_hook(name: str):
        def hook(module, inputs, output):
            captured[name] = layer_alignment(output[0] if isinstance(output, tuple) else output).cpu()
        return hook

    def unit_hook(name: str):
        def hook(module, inputs, output):
            output = output[0] if isinstance(output, tuple) else output
            views = output[batch_points:] if pairing == "clean-vs-augmented" else output
            captured_units[name] = unit_activation_means(views, num_views, batch_points).cpu()
        return hook

    handles = [module.register_forward_hook(alignment_hook(name)) for name, module in layers.items()]
    handles += [module.register_forward_hook(unit_hook(name)) for name, module in unit_layers.items()]
    results: list[torch.Tensor] = []
    layer_results: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    unit_results: dict[str, list[torch.Tensor]] = {name: [] for name in unit_layers}
    try:
        for start in range(0, images.shape[0], batch_size):
            batch = images[start: start + batch_size].to(device)
            batch_points = batch.shape[0]
            inputs = _views_of(batch, augment, make_generator(device, seed, start), num_views, pairing)
            captured.clear()
            captured_units.clear()
            reps = l2_normalize(represent(inputs).flatten(1))
            missing = [name for name in layers if name not in captured]
            missing += [name for name in unit_layers if name not in captured_units]
            if missing:
                raise ValueError(f"layers {missing} did not run in the forward pass of `represent`")
            results.append(_batch_alignment(reps, batch_points, num_views, pairing).cpu())
            for name in layers:
                layer_results[name].append(captured[name])
            for name in unit_layers:
                unit_results[name].append(captured_units[name])
            if progress is not None:
                progress(start + batch_points, images.shape[0])
    finally:
        for handle in handles:
            handle.remove()
    return LayerMeasurement(
        align=torch.cat(results),
        layers={name: torch.cat(parts) for name, parts in layer_results.items()},
        unit_means={name: torch.cat(parts) for name, parts in unit_results.items()},
    )
