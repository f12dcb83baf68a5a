"""Déjà Vu memorisation (Meehan, Bordes, Vincent, Chaudhuri, Guo 2023: "Do SSL Models Have Déjà Vu?"), as the
SSLMem paper compares it with SSLMem (Sec. 4.5, Table 4).

An encoder that memorised a training image associates a crop of its background with the object it was seen with:
a k-nearest-neighbour classifier over a labelled *public* set (images neither encoder trained on), embedded by
the same encoder, then guesses the image's label from that crop alone more often than it could from what the
crop shows. Model A trained on the image, model B did not (here f, trained on S_S ∪ S_C, and g, on S_S ∪ S_I);
the Déjà Vu memorisation of A's training points is the kNN accuracy of A minus that of B on the same points.
Meehan et al. also report it on each model's most confident points: the fraction of points whose k neighbours'
labels have the lowest entropy, chosen per model, accuracy of A on its own most confident minus B on its own.

Their definitions, from their code (facebookresearch/DejaVu, label_inference_attack.py): k = 100 neighbours by
squared Euclidean distance (faiss IndexFlatL2, float32), the prediction the most frequent neighbour label, the
confidence the entropy of the neighbour label counts, the most confident int(fraction · n) points. The crop is
the largest box outside the object's bounding boxes (ImageNet annotations); their alternative, which we use for
want of boxes, a corner crop (bottom left, side 0.3 of the image's) resized back to the encoder's input.

Pure functions of arrays (numpy only, no torch: the report imports them): the crop geometry, the public set's
draw, the kNN votes and the accuracy gaps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

CORNERS = ("bottom_left", "bottom_right", "top_left", "top_right")


# ------------------------------------------------------------------------------------------------------ the crop


def crop_box(height: int, width: int, corner: str, fraction: float) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width) of the corner crop: each side int(fraction · side) pixels, as Meehan
    et al.'s corner crop (``int(crop_frac * vert)``), at `corner` of an image of `height` x `width` pixels."""
    if corner not in CORNERS:
        raise ValueError(f"crop corner {corner!r}: one of {list(CORNERS)}")
    if not 0 < fraction < 1:
        raise ValueError(f"crop fraction {fraction}: must be in (0, 1) (1 would be the whole image)")
    crop_height, crop_width = int(fraction * height), int(fraction * width)
    if min(crop_height, crop_width) < 1:
        raise ValueError(f"crop fraction {fraction} of a {height}x{width} image leaves no pixel; use at least "
                         f"{1 / min(height, width):.3g}")
    top = height - crop_height if corner.startswith("bottom") else 0
    left = width - crop_width if corner.endswith("right") else 0
    return top, left, crop_height, crop_width


def corner_crop(images, corner: str, fraction: float):
    """The corner crop of every image of a batch [..., H, W] (numpy array or torch tensor, any dtype)."""
    top, left, crop_height, crop_width = crop_box(images.shape[-2], images.shape[-1], corner, fraction)
    return images[..., top: top + crop_height, left: left + crop_width]


# --------------------------------------------------------------------------------------------- the public set


def draw_public(test_size: int, excluded: Sequence[int], size: int, seed: int) -> np.ndarray:
    """Point ids of the public set: `size` test-split ids drawn without replacement (seeded) from those not in
    `excluded` (S_E), sorted. Test images are in no training set, so the public set is disjoint from f's and g's."""
    available = np.setdiff1d(np.arange(test_size, dtype=np.int64), np.asarray(excluded, dtype=np.int64))
    if size > available.size:
        raise ValueError(f"report.table4.public_size: {size} public points asked, but the test split has "
                         f"{available.size} outside S_E ({test_size} in all)")
    chosen = np.random.default_rng(seed).choice(available.size, size=size, replace=False)
    return np.sort(available[chosen])


# ------------------------------------------------------------------------------------------------------ the kNN


def nearest_neighbours(queries: np.ndarray, public: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """Indices [N, k] of each query's k nearest public embeddings by squared Euclidean distance, nearest first;
    equal distances go to the lower public index. In float32, as faiss' IndexFlatL2 (‖q‖² + ‖p‖² − 2 q·p)."""
    queries = np.asarray(queries, dtype=np.float32).reshape(len(queries), -1)
    public = np.asarray(public, dtype=np.float32).reshape(len(public), -1)
    if queries.shape[1] != public.shape[1]:
        raise ValueError(f"queries of dimension {queries.shape[1]}, public set of {public.shape[1]}")
    if not 1 <= k <= len(public):
        raise ValueError(f"k = {k} neighbours from a public set of {len(public)}")
    public_norms = np.einsum("ij,ij->i", public, public)
    parts = []
    for start in range(0, len(queries), chunk):
        block = queries[start: start + chunk]
        distances = np.einsum("ij,ij->i", block, block)[:, None] + public_norms[None, :] - 2.0 * block @ public.T
        parts.append(np.argsort(distances, axis=1, kind="stable")[:, :k])
    return np.concatenate(parts) if parts else np.empty((0, k), dtype=np.int64)


def neighbour_label_counts(neighbours: np.ndarray, public_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Per query, how many of its neighbours carry each label: [N, num_classes] integers."""
    labels = np.asarray(public_labels, dtype=np.int64)[neighbours]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"public labels outside 0 .. {num_classes - 1}: the public set must be labelled")
    counts = np.zeros((len(labels), num_classes), dtype=np.int64)
    np.add.at(counts, (np.arange(len(labels))[:, None], labels), 1)
    return counts


def label_entropy(counts: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each row's label distribution (counts normalised; 0 · log 0 = 0): 0 when all
    neighbours agree, log k at most. Meehan et al.'s confidence is its negative (scipy.stats.entropy of counts)."""
    counts = np.asarray(counts, dtype=np.float64)
    p = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=1)


def knn_predict(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(predicted label, its votes, label entropy) per row of neighbour label counts: the majority label, ties
    to the lower label (Meehan et al. take torch.topk's, which leaves ties unspecified)."""
    counts = np.asarray(counts)
    predicted = counts.argmax(axis=1)
    return predicted, counts[np.arange(len(counts)), predicted], label_entropy(counts)


# ------------------------------------------------------------------------------------------ the memorisation


def most_confident(entropy: Sequence[float], fraction: float) -> np.ndarray:
    """Mask of the int(fraction · n) points with the lowest label entropy (Meehan et al.'s most confident
    fraction, int() as theirs); equal entropies go to the earlier point, so the choice is deterministic."""
    entropy = np.asarray(entropy, dtype=np.float64)
    if not 0 < fraction <= 1:
        raise ValueError(f"confident fraction {fraction}: must be in (0, 1]")
    count = int(fraction * entropy.size)
    if count < 1:
        raise ValueError(f"confident fraction {fraction} of {entropy.size} points selects none")
    mask = np.zeros(entropy.size, dtype=bool)
    mask[np.argsort(entropy, kind="stable")[:count]] = True
    return mask


def accuracy_percent(correct: Sequence[bool]) -> float:
    correct = np.asarray(correct, dtype=bool)
    return 100.0 * float(correct.mean()) if correct.size else math.nan


def dejavu_gaps(correct_f, entropy_f, correct_g, entropy_g, fraction: float) -> dict:
    """Déjà Vu memorisation of one f/g pair on one set of points (the same points, in the same order, for both),
    in percentage points: ``dejavu`` = accuracy of f − accuracy of g over all points; ``dejavu_confident`` = the
    accuracy of f on its own most confident `fraction` − that of g on its own (:func:`most_confident`). The
    accuracies themselves ride along."""
    correct_f, correct_g = np.asarray(correct_f, dtype=bool), np.asarray(correct_g, dtype=bool)
    if correct_f.shape != correct_g.shape or np.shape(entropy_f) != correct_f.shape \
            or np.shape(entropy_g) != correct_g.shape:
        raise ValueError("f and g must be scored on the same points (correct and entropy of equal length)")
    accuracies = {
        "acc_f": accuracy_percent(correct_f), "acc_g": accuracy_percent(correct_g),
        "acc_f_confident": accuracy_percent(correct_f[most_confident(entropy_f, fraction)]),
        "acc_g_confident": accuracy_percent(correct_g[most_confident(entropy_g, fraction)]),
    }
    return {"dejavu": accuracies["acc_f"] - accuracies["acc_g"],
            "dejavu_confident": accuracies["acc_f_confident"] - accuracies["acc_g_confident"], **accuracies}


# A point's identity across f's and g's rows.
POINT = ["source", "point_id"]


def pair_gaps(frame, confident_fraction: float):
    """Per seed and subset of one setup's Déjà Vu rows, the pair's memorisation
    (:func:`dejavu_gaps`: accuracy of f − of g, all points and each one's most confident
    `confident_fraction`), from f's and g's guesses of the same points, matched by point (a DataFrame)."""
    import pandas as pd

    rows = []
    for (seed, subset), group in frame.groupby(["seed", "subset"], sort=True):
        f = group[group["role"] == "f"].sort_values(POINT, kind="stable")
        g = group[group["role"] == "g"].sort_values(POINT, kind="stable")
        if len(f) != len(g) or not (f[POINT].to_numpy() == g[POINT].to_numpy()).all():
            raise ValueError(f"seed {seed}, {subset}: f and g guessed different points ({len(f)} and {len(g)}); "
                             "rebuild the Déjà Vu file with both encoders of every pair")
        gaps = dejavu_gaps(f["correct"].to_numpy(), f["entropy"].to_numpy(), g["correct"].to_numpy(),
                           g["entropy"].to_numpy(), confident_fraction)
        rows.append({"seed": int(seed), "subset": subset, "n": len(f), **gaps})
    return pd.DataFrame(rows, columns=["seed", "subset", "n", "dejavu", "dejavu_confident", "acc_f", "acc_g",
                                       "acc_f_confident", "acc_g_confident"])


def pair_summary(frame, confident_fraction: float) -> str:
    """A log line of one setup's memorisation: per subset, the mean gap over pairs (all points; most confident)."""
    gaps = pair_gaps(frame, confident_fraction)
    means = gaps.groupby("subset", sort=False)[["dejavu", "dejavu_confident"]].mean()
    return "Déjà Vu memorisation (f − g, points of accuracy) " + ", ".join(
        f"{subset} {row.dejavu:+.1f} (most confident {confident_fraction:g}: {row.dejavu_confident:+.1f})"
        for subset, row in means.iterrows()) + f" over {gaps['seed'].nunique()} pair(s)"
