"""SSLMem: alignment loss per point and encoder, and the memorisation score (paper Eq. 1, Eq. 2, App. A).

Pure functions for the math (unit-tested against hand-computed values), plus :func:`measure_alignment`, the
batched measurement of one encoder on a set of images, and :func:`measure_layer_alignment`, which also measures
the output of every layer in the same forward passes (LayerMem: SSLMem per layer, localization paper).

Definitions:
- alignment of encoder h on x: mean over pairs of augmented views of ‖ĥ(x') − ĥ(x'')‖₂, ĥ = h / ‖h‖₂ on the
  full representation (`augmented-pairs`, the paper's Eq. 1); the published code instead compares the clean
  image with each view, mean over views of ‖ĥ(x) − ĥ(a(x))‖₂ (`clean-vs-augmented`).
- m_raw(x) = mean over g-encoders of align(g, x) − mean over f-encoders of align(f, x).
- m(x) = m_raw(x) / (max m_raw − min m_raw) over the scored set, so m ∈ [−1, 1].
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sslmem.augment import BatchAugment, make_generator

PAIRINGS = ("augmented-pairs", "clean-vs-augmented")


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


def raw_score(align_f: torch.Tensor, align_g: torch.Tensor) -> torch.Tensor:
    """m_raw = E_g align − E_f align. Inputs are [K_f, N] and [K_g, N] (one row per encoder) or [N]."""
    align_f = align_f if align_f.ndim == 2 else align_f.unsqueeze(0)
    align_g = align_g if align_g.ndim == 2 else align_g.unsqueeze(0)
    if align_f.shape[1] != align_g.shape[1]:
        raise ValueError(f"f and g were measured on different numbers of points: {align_f.shape[1]} vs {align_g.shape[1]}")
    return align_g.mean(dim=0) - align_f.mean(dim=0)


def normalize_by_range(scores: torch.Tensor) -> torch.Tensor:
    """Divide by (max − min) over the scored set (App. A, "Normalization"); all-equal scores map to 0."""
    spread = scores.max() - scores.min()
    if spread <= 0:
        return torch.zeros_like(scores)
    return scores / spread


RepresentationFn = Callable[[torch.Tensor], torch.Tensor]


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
    align, _ = measure_layer_alignment(
        represent, {}, images, augment, num_views=num_views, pairing=pairing, batch_size=batch_size, seed=seed,
        device=device,
    )
    return align


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
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """:func:`measure_alignment` plus, in the same forward passes, the alignment on the output of each module
    of `layers` (name → module inside `represent`'s network; LayerMem reads these): returns ([N], {name: [N]}).

    Each layer's output (flattened, ℓ2-normalised) is reduced to its per-point alignment inside a forward
    hook, so no more than one layer's output is held at a time.
    """
    if pairing not in PAIRINGS:
        raise ValueError(f"unknown pairing {pairing!r}; known: {PAIRINGS}")
    if pairing == "augmented-pairs" and num_views < 2:
        raise ValueError("augmented-pairs needs num_views >= 2")
    device = torch.device(device)
    batch_points = 0  # the number of points in the batch being measured (read by the hooks)
    captured: dict[str, torch.Tensor] = {}

    def layer_alignment(output: torch.Tensor) -> torch.Tensor:
        reps = l2_normalize(output.flatten(1))
        if pairing == "clean-vs-augmented":
            clean, view_reps = reps[:batch_points], reps[batch_points:]
            return alignment_clean_vs_views_gram(clean, view_reps.view(num_views, batch_points, -1))
        return alignment_from_views_gram(reps.view(num_views, batch_points, -1))

    def hook_for(name: str):
        def hook(module, inputs, output):
            captured[name] = layer_alignment(output[0] if isinstance(output, tuple) else output).cpu()
        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in layers.items()]
    results: list[torch.Tensor] = []
    layer_results: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    try:
        for start in range(0, images.shape[0], batch_size):
            batch = images[start: start + batch_size].to(device)
            batch_points = batch.shape[0]
            generator = make_generator(device, seed, start)
            views = torch.cat([augment(batch, generator) for _ in range(num_views)])
            if pairing == "clean-vs-augmented":
                inputs = torch.cat([augment.clean(batch), views])
            else:
                inputs = views
            captured.clear()
            reps = l2_normalize(represent(inputs).flatten(1))
            missing = [name for name in layers if name not in captured]
            if missing:
                raise ValueError(f"layers {missing} did not run in the forward pass of `represent`")
            if pairing == "clean-vs-augmented":
                clean, view_reps = reps[:batch_points], reps[batch_points:]
                align = alignment_clean_vs_views(clean, view_reps.view(num_views, batch_points, -1))
            else:
                align = alignment_from_views(reps.view(num_views, batch_points, -1))
            results.append(align.cpu())
            for name in layers:
                layer_results[name].append(captured[name])
    finally:
        for handle in handles:
            handle.remove()
    return torch.cat(results), {name: torch.cat(parts) for name, parts in layer_results.items()}


def score_table_rows(align_f: Sequence[torch.Tensor], align_g: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Ensemble estimate of Eq. 2 from lists of per-encoder alignments (each [N]): align_f, align_g, m_raw, m."""
    stacked_f, stacked_g = torch.stack(list(align_f)), torch.stack(list(align_g))
    m_raw = raw_score(stacked_f, stacked_g)
    return {
        "align_f": stacked_f.mean(dim=0),
        "align_g": stacked_g.mean(dim=0),
        "m_raw": m_raw,
        "m": normalize_by_range(m_raw),
    }
