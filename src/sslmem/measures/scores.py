"""The SSLMem score (paper Eq. 2) from the alignments of f encoders (trained with x) and g encoders (without).

- m_raw(x) = mean over g-encoders of align(g, x) − mean over f-encoders of align(f, x).
- m(x) = m_raw(x) / (max m_raw − min m_raw) over the scored set, so m ∈ [−1, 1].
"""

from __future__ import annotations

from typing import Sequence

import torch

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


def ensemble_scores(align_f: Sequence[torch.Tensor], align_g: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Ensemble estimate of Eq. 2 from lists of per-encoder alignments (each [N]): align_f, align_g, m_raw, m."""
    stacked_f, stacked_g = torch.stack(list(align_f)), torch.stack(list(align_g))
    m_raw = raw_score(stacked_f, stacked_g)
    return {
        "align_f": stacked_f.mean(dim=0),
        "align_g": stacked_g.mean(dim=0),
        "m_raw": m_raw,
        "m": normalize_by_range(m_raw),
    }


def center_encoders(align: torch.Tensor) -> torch.Tensor:
    """Each encoder's alignments ([K, N]) less that encoder's mean over the N points.

    Why: every encoder has a global offset (its loss level on any image), and within one round of the in/out
    design the points of half A are scored by (B's offset − A's offset) and those of half B by its negative, a
    shift as large as the differences between points that only averages out over many rounds. Centering removes
    it in every round; it cannot remove memorisation, which every encoder of the design has on exactly half of the
    points (so its share of the mean is the same for every encoder), and it leaves the ranking of the points
    of one half by one pair unchanged (one constant per half)."""
    return align - align.mean(dim=1, keepdim=True)


def in_out_scores(align: torch.Tensor, member: torch.Tensor) -> dict[str, torch.Tensor]:
    """SSLMem of every point from encoders that trained with it and encoders that did not (an in/out design).

    `align` is [K, N]: each encoder's alignment loss on each point; `member` [K, N] (bool): whether the
    encoder's training set held the point. Per point, m_raw = mean alignment over the encoders without it −
    mean over those with it (Eq. 2 with f = "in" and g = "out"), and m = m_raw / range as in the paper. A point
    must be in at least one and out of at least one encoder. With K = 2 on disjoint halves this is the paper's
    removal setup (every point of f's half is scored by f as in and g as out); with K encoders on balanced
    random halves each point is scored by K/2 in and K/2 out, and every encoder's global offset cancels.
    Returns align_in, align_out, m_raw, m ([N] each) and n_in, n_out (counts of encoders, int64)."""
    if align.shape != member.shape or align.ndim != 2:
        raise ValueError(f"align {tuple(align.shape)} and member {tuple(member.shape)} must both be [K, N]")
    member = member.to(torch.bool)
    n_in, n_out = member.sum(dim=0), (~member).sum(dim=0)
    lonely = torch.nonzero((n_in == 0) | (n_out == 0)).flatten()
    if len(lonely):
        raise ValueError(f"{len(lonely)} point(s) (columns {lonely[:5].tolist()}) are in every encoder or in none; "
                         "each needs encoders with and without it")
    inside = member.to(align.dtype)
    align_in = (align * inside).sum(dim=0) / n_in
    align_out = (align * (1 - inside)).sum(dim=0) / n_out
    m_raw = align_out - align_in
    return {"align_in": align_in, "align_out": align_out, "m_raw": m_raw, "m": normalize_by_range(m_raw),
            "n_in": n_in.to(torch.int64), "n_out": n_out.to(torch.int64)}
