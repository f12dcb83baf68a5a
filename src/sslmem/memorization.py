"""SSLMem: alignment loss per point and encoder, and the memorisation score (paper Eq. 1, Eq. 2, App. A).

Pure functions for the math (unit-tested against hand-computed values), plus :func:`measure_alignment`, the
batched measurement of one encoder on a set of images.

Definitions:
- alignment of encoder h on x: mean over pairs of augmented views of ‖ĥ(x') − ĥ(x'')‖₂, ĥ = h / ‖h‖₂ on the
  full representation (`augmented-pairs`, the paper's Eq. 1); the published code instead compares the clean
  image with each view, mean over views of ‖ĥ(x) − ĥ(a(x))‖₂ (`clean-vs-augmented`).
- m_raw(x) = mean over g-encoders of align(g, x) − mean over f-encoders of align(f, x).
- m(x) = m_raw(x) / (max m_raw − min m_raw) over the scored set, so m ∈ [−1, 1].
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

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
    if pairing not in PAIRINGS:
        raise ValueError(f"unknown pairing {pairing!r}; known: {PAIRINGS}")
    if pairing == "augmented-pairs" and num_views < 2:
        raise ValueError("augmented-pairs needs num_views >= 2")
    device = torch.device(device)
    results = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start: start + batch_size].to(device)
        generator = make_generator(device, seed, start)
        views = torch.cat([augment(batch, generator) for _ in range(num_views)])
        if pairing == "clean-vs-augmented":
            inputs = torch.cat([augment.clean(batch), views])
        else:
            inputs = views
        reps = l2_normalize(represent(inputs).flatten(1))
        if pairing == "clean-vs-augmented":
            clean, view_reps = reps[: batch.shape[0]], reps[batch.shape[0]:]
            align = alignment_clean_vs_views(clean, view_reps.view(num_views, batch.shape[0], -1))
        else:
            align = alignment_from_views(reps.view(num_views, batch.shape[0], -1))
        results.append(align.cpu())
    return torch.cat(results)


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
