"""Feldman & Zhang's label memorisation (Feldman, 2020), as the SSLMem paper measures it (App. B.3, Table 12).

Feldman defines the memorisation of a labelled point (x, y) by a learning algorithm as how much more likely a model
trained with the point predicts its label than a model trained without it. The SSLMem paper reads it from one
supervised pair, f trained on S_S ∪ S_C and g on S_S ∪ S_I, as "the difference in softmax outputs" on the candidates
S_C (used by f, not by g)::

    feldman(x) = softmax(f(x))[y] − softmax(g(x))[y]

With several f/g pairs (one per seed) the score of a point is the mean of its per-pair differences, which is the
difference of the mean probabilities (the expectations over training runs in Feldman's definition). Feldman's
original uses the 0/1 correctness of the prediction averaged over many models; with a few pairs the softmax
probability is the continuous stand-in the SSLMem paper uses.

Pure functions: tensors and arrays in, numbers out (no files, no settings).
"""

from __future__ import annotations

import numpy as np
import torch


def true_label_probability(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The softmax probability of each row's true label, [N] float64, from class logits [N, C] and labels [N].

    Computed in float64: a float32 softmax rounds confident predictions to exactly 1.0, which would tie the
    most confidently learnt points in every ranking by the score.
    """
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"logits must be [N, C] and labels [N]; got {tuple(logits.shape)} and {tuple(labels.shape)}")
    labels = labels.long()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1]}) (the logits' classes); "
                         f"got [{int(labels.min())}, {int(labels.max())}]")
    log_probabilities = torch.log_softmax(logits.double(), dim=1)
    return log_probabilities.gather(1, labels[:, None]).squeeze(1).exp()


def feldman_scores(p_true_f, p_true_g) -> np.ndarray:
    """Feldman's score per point from the true-label probabilities under f and g.

    Args:
        p_true_f, p_true_g: [pairs, N] (or [N] for one pair): row s holds pair s's probabilities (f_s with the
            points, g_s without them), the same points in the same order.

    Returns:
        [N]: the mean over pairs of p_true_f − p_true_g, in [−1, 1].

    Example: f gives the true label 0.9 and g 0.6 → 0.3; a second pair with 0.8 and 0.8 → mean 0.15.
    """
    f = np.atleast_2d(np.asarray(p_true_f, dtype=float))
    g = np.atleast_2d(np.asarray(p_true_g, dtype=float))
    if f.shape != g.shape:
        raise ValueError(f"p_true_f and p_true_g must have the same shape (pairs, points); got {f.shape} and {g.shape}")
    if f.size == 0:
        raise ValueError("feldman_scores needs at least one pair and one point")
    if ((f < 0) | (f > 1) | (g < 0) | (g > 1)).any() or np.isnan(f).any() or np.isnan(g).any():
        raise ValueError("p_true_f and p_true_g are probabilities: every value must lie in [0, 1]")
    return (f - g).mean(axis=0)
