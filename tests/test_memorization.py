"""SSLMem math (paper Eq. 1, Eq. 2, App. A) against values worked out by hand in the comments."""

from __future__ import annotations

import math

import pytest
import torch

from sslmem.augment import AugmentSpec, BatchAugment
from sslmem.measures.alignment import (
    alignment_clean_vs_views,
    alignment_clean_vs_views_gram,
    alignment_from_views,
    alignment_from_views_gram,
    l2_normalize,
    measure_alignment,
    measure_layer_alignment,
)
from sslmem.measures.scores import ensemble_scores, normalize_by_range, raw_score
from sslmem.measures.unitmem import unit_memorization

SQRT2 = math.sqrt(2.0)


# ----------------------------------------------------------------------------------------------- alignment


def test_alignment_from_views_is_mean_of_pairwise_distances():
    # views [V=3, B=2, D=2], unit vectors.
    # point 0: a=(1,0), b=(0,1), c=(-1,0): |a-b| = √2, |a-c| = 2, |b-c| = √2  → (2√2 + 2) / 3
    # point 1: a=(1,0), b=(1,0), c=(0,1):  |a-b| = 0,  |a-c| = √2, |b-c| = √2 → 2√2 / 3
    views = torch.tensor(
        [
            [[1.0, 0.0], [1.0, 0.0]],
            [[0.0, 1.0], [1.0, 0.0]],
            [[-1.0, 0.0], [0.0, 1.0]],
        ]
    )
    expected = torch.tensor([(2 * SQRT2 + 2) / 3, 2 * SQRT2 / 3])
    assert torch.allclose(alignment_from_views(views), expected, atol=1e-6)


def test_alignment_counts_each_unordered_pair_once():
    # V=4 views of one 1-D point at 0, 0, 0, 1: pairs (6 of them) have distances 0,0,1,0,1,1 → 3/6 = 0.5.
    # (Counting ordered pairs with the diagonal, 16 terms, would give 6/16 = 0.375.)
    views = torch.tensor([[[0.0]], [[0.0]], [[0.0]], [[1.0]]])
    assert alignment_from_views(views).item() == pytest.approx(0.5)


def test_alignment_needs_two_views():
    with pytest.raises(ValueError, match="at least 2 views"):
        alignment_from_views(torch.zeros(1, 3, 2))


def test_alignment_clean_vs_augmented():
    # clean [B=2, D=2], views [V=3, B=2, D=2].
    # point 0: clean (1,0); views (1,0), (0,1), (-1,0): distances 0, √2, 2 → (√2 + 2) / 3
    # point 1: clean (0,1); views (0,1), (0,1), (0,-1): distances 0, 0, 2  → 2 / 3
    clean = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    views = torch.tensor(
        [
            [[1.0, 0.0], [0.0, 1.0]],
            [[0.0, 1.0], [0.0, 1.0]],
            [[-1.0, 0.0], [0.0, -1.0]],
        ]
    )
    expected = torch.tensor([(SQRT2 + 2) / 3, 2 / 3])
    assert torch.allclose(alignment_clean_vs_views(clean, views), expected, atol=1e-6)


def test_l2_normalize_rows():
    # (3, 4) has norm 5 → (0.6, 0.8); (0, -2) → (0, -1); integer input comes back as float.
    out = l2_normalize(torch.tensor([[3, 4], [0, -2]]))
    assert out.dtype == torch.float32
    assert torch.allclose(out, torch.tensor([[0.6, 0.8], [0.0, -1.0]]))
    # Scale does not matter: 10·x and x normalise to the same row.
    assert torch.allclose(l2_normalize(torch.tensor([[30.0, 40.0]])), out[:1])


# -------------------------------------------------------------------------------------------------- scores


def test_raw_score_averages_over_encoders():
    # K_f = 2 f-encoders, K_g = 3 g-encoders, N = 2 points.
    # mean_f = ([1, 2] + [3, 4]) / 2 = [2, 3]
    # mean_g = ([2, 2] + [4, 6] + [6, 1]) / 3 = [12/3, 9/3] = [4, 3]
    # m_raw = mean_g − mean_f = [2, 0]
    align_f = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    align_g = torch.tensor([[2.0, 2.0], [4.0, 6.0], [6.0, 1.0]])
    assert torch.allclose(raw_score(align_f, align_g), torch.tensor([2.0, 0.0]))


def test_raw_score_single_encoder_and_sign():
    # One encoder each ([N] inputs): m_raw = align_g − align_f; a point f aligns better (smaller loss) than g
    # does is memorised by f → positive score. [0.5 − 0.2, 0.1 − 0.4] = [0.3, −0.3]
    m_raw = raw_score(torch.tensor([0.2, 0.4]), torch.tensor([0.5, 0.1]))
    assert torch.allclose(m_raw, torch.tensor([0.3, -0.3]))


def test_raw_score_rejects_different_point_counts():
    with pytest.raises(ValueError, match="different numbers of points"):
        raw_score(torch.zeros(2, 3), torch.zeros(2, 4))


def test_normalize_by_range():
    # max − min = 3 − (−1) = 4 → [−1/4, 0/4, 3/4]
    out = normalize_by_range(torch.tensor([-1.0, 0.0, 3.0]))
    assert torch.allclose(out, torch.tensor([-0.25, 0.0, 0.75]))
    assert out.min() >= -1 and out.max() <= 1


def test_normalize_by_range_all_equal_maps_to_zero():
    # spread 0: no division by zero, no NaN
    out = normalize_by_range(torch.tensor([2.0, 2.0, 2.0]))
    assert torch.equal(out, torch.zeros(3))


def test_ensemble_scores():
    # f: [1, 2] and [3, 4] → align_f = [2, 3]; g: [5, 3] → align_g = [5, 3]
    # m_raw = [3, 0]; range 3 → m = [1, 0]
    rows = ensemble_scores([torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])], [torch.tensor([5.0, 3.0])])
    assert torch.allclose(rows["align_f"], torch.tensor([2.0, 3.0]))
    assert torch.allclose(rows["align_g"], torch.tensor([5.0, 3.0]))
    assert torch.allclose(rows["m_raw"], torch.tensor([3.0, 0.0]))
    assert torch.allclose(rows["m"], torch.tensor([1.0, 0.0]))


# ------------------------------------------------------------------------------------- measure_alignment

SIZE = 8


@pytest.fixture
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (11, 3, SIZE, SIZE), generator=generator, dtype=torch.uint8)


@pytest.fixture
def augment() -> BatchAugment:
    return BatchAugment(AugmentSpec(), SIZE, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def linear_encoder(seed: int, dim: int = 16):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(3 * SIZE * SIZE, dim, generator=generator)
    return lambda batch: batch.flatten(1) @ weight


def measure(represent, images, augment, **overrides):
    options = dict(num_views=4, pairing="augmented-pairs", batch_size=4, seed=3)
    options.update(overrides)
    return measure_alignment(represent, images, augment, **options)


@pytest.mark.parametrize("pairing", ["augmented-pairs", "clean-vs-augmented"])
def test_measure_alignment_same_seed_is_identical_different_seed_differs(images, augment, pairing):
    encoder = linear_encoder(1)
    first = measure(encoder, images, augment, pairing=pairing)
    again = measure(encoder, images, augment, pairing=pairing)
    other = measure(encoder, images, augment, pairing=pairing, seed=4)
    assert first.shape == (11,)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert (first > 0).all() and (first <= 2).all()  # distances between unit vectors lie in [0, 2]


def test_measure_alignment_constant_encoder_is_zero(images, augment):
    # Every view maps to the same unit vector → every pairwise distance is exactly 0.
    constant = lambda batch: torch.ones(batch.shape[0], 5)  # noqa: E731
    for pairing in ("augmented-pairs", "clean-vs-augmented"):
        assert torch.equal(measure(constant, images, augment, pairing=pairing), torch.zeros(11))


def test_same_encoder_as_f_and_g_scores_zero(images, augment):
    # f and g see the same views (same seed), so f == g gives align_f == align_g and m_raw == 0 exactly.
    encoder = linear_encoder(2)
    align_f = measure(encoder, images, augment)
    align_g = measure(encoder, images, augment)
    assert torch.equal(raw_score(align_f, align_g), torch.zeros(11))


def test_every_encoder_sees_the_same_views(images, augment):
    seen = {1: [], 2: []}

    def recording(seed):
        encoder = linear_encoder(seed)

        def represent(batch):
            seen[seed].append(batch.clone())
            return encoder(batch)

        return represent

    measure(recording(1), images, augment)
    measure(recording(2), images, augment)
    assert len(seen[1]) == 3  # ceil(11 / 4) batches
    assert all(torch.equal(a, b) for a, b in zip(seen[1], seen[2]))


def test_deterministic_views_give_hand_computed_alignment(images):
    # Crop of the whole image (scale 1, ratio 1), always flipped, no colour changes: every view is the mirror
    # image x̃ of x. With the identity "encoder" (flattened pixels):
    #   augmented-pairs:    all views equal               → alignment 0
    #   clean-vs-augmented: every view at ‖n(x) − n(x̃)‖ → align ‖n(x) − n(x̃)‖ (n = ℓ2-normalise)
    spec = AugmentSpec(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=1.0, jitter_p=0.0, grayscale_p=0.0)
    augment = BatchAugment(spec, SIZE, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    identity = lambda batch: batch.flatten(1)  # noqa: E731
    pairs = measure(identity, images, augment, num_views=3)
    assert torch.allclose(pairs, torch.zeros(11), atol=1e-5)

    clean = augment.clean(images)
    expected = (l2_normalize(clean.flatten(1)) - l2_normalize(clean.flip(-1).flatten(1))).norm(dim=1)
    measured = measure(identity, images, augment, num_views=3, pairing="clean-vs-augmented")
    assert torch.allclose(measured, expected, atol=1e-5)
    assert (expected > 0.1).all()  # the check is not vacuous: mirrored noise images are far apart


def test_measure_alignment_rejects_bad_arguments(images, augment):
    with pytest.raises(ValueError, match="unknown pairing 'clean-vs-clean'"):
        measure(linear_encoder(1), images, augment, pairing="clean-vs-clean")
    with pytest.raises(ValueError, match="num_views >= 2"):
        measure(linear_encoder(1), images, augment, num_views=1)


# ------------------------------------------------------------------------------------------------- LayerMem


def test_gram_alignment_matches_the_hand_computed_pairwise_distances():
    # The same views as test_alignment_from_views_is_mean_of_pairwise_distances.
    views = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]], [[-1.0, 0.0], [0.0, 1.0]]])
    expected = torch.tensor([(2 * SQRT2 + 2) / 3, 2 * SQRT2 / 3])
    torch.testing.assert_close(alignment_from_views_gram(views), expected)
    clean = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # point 0: |clean - a| = 0, |clean - b| = √2, |clean - c| = 2; point 1: √2, √2, 0.
    torch.testing.assert_close(
        alignment_clean_vs_views_gram(clean, views), torch.tensor([(SQRT2 + 2) / 3, 2 * SQRT2 / 3])
    )


def test_gram_alignment_equals_the_direct_one_on_wide_random_views():
    generator = torch.Generator().manual_seed(0)
    views = l2_normalize(torch.randn(5, 7, 300, generator=generator))
    torch.testing.assert_close(alignment_from_views_gram(views), alignment_from_views(views), atol=1e-5, rtol=0)


@pytest.mark.parametrize("pairing", ["augmented-pairs", "clean-vs-augmented"])
def test_layer_alignment_reads_every_layer_in_the_same_passes(images, pairing):
    from sslmem.models import build_encoder

    torch.manual_seed(0)
    encoder = build_encoder("resnet18", SIZE, width=8).eval()
    augment = BatchAugment(AugmentSpec(crop_scale=(0.3, 1.0)), SIZE, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    layers = encoder.named_layers()
    options = dict(num_views=4, pairing=pairing, batch_size=4, seed=3)
    measured = measure_layer_alignment(encoder.representation, layers, images, augment, **options)
    align, per_layer = measured.align, measured.layers
    assert list(per_layer) == list(layers) and all(v.shape == (images.shape[0],) for v in per_layer.values())
    # The encoder-level alignment is exactly what measure_alignment gives (same views, same code path) ...
    assert torch.equal(align, measure_alignment(encoder.representation, images, augment, **options))
    # ... and a ResNet's representation is its last block's output, so that layer's alignment is the same number.
    torch.testing.assert_close(per_layer["layer4.1"], align, atol=1e-5, rtol=0)
    assert not torch.allclose(per_layer["layer1.0"], align, atol=1e-3)
    assert not any(module._forward_hooks for module in layers.values())  # hooks removed afterwards


def test_layer_alignment_names_a_layer_that_did_not_run(images, augment):
    from sslmem.models import build_encoder

    encoder = build_encoder("resnet18", SIZE, width=8).eval()
    other = build_encoder("resnet18", SIZE, width=8).eval()
    with pytest.raises(ValueError, match=r"layers \['layer1.0'\] did not run"):
        measure_layer_alignment(encoder.representation, {"layer1.0": other.named_layers()["layer1.0"]}, images,
                                augment, num_views=2, pairing="augmented-pairs", batch_size=4, seed=0)


# -------------------------------------------------------------------------------------------------- UnitMem


def test_unitmem_by_hand():
    # 4 points x 3 units.
    # unit 0: [4, 1, 1, 1] → μ_max 4, others mean 1   → (4 − 1) / (4 + 1) = 0.6
    # unit 1: [2, 2, 2, 2] → μ_max 2, others 2        → 0
    # unit 2: [0, 1, 3, 8] → μ_max 8 (point 3), others mean 4/3 → (8 − 4/3) / (8 + 4/3) = 20/28;
    #                        others median 1               → 7/9
    means = torch.tensor([[4.0, 2.0, 0.0], [1.0, 2.0, 1.0], [1.0, 2.0, 3.0], [1.0, 2.0, 8.0]])
    unitmem, argmax = unit_memorization(means)
    torch.testing.assert_close(unitmem, torch.tensor([0.6, 0.0, 20 / 28], dtype=torch.float64))
    assert argmax[0] == 0 and argmax[2] == 3
    unitmem, _ = unit_memorization(means, others="median")
    torch.testing.assert_close(unitmem[[0, 2]], torch.tensor([0.6, 7 / 9], dtype=torch.float64))


def test_unitmem_of_a_dead_unit_is_nan_and_bad_input_is_refused():
    unitmem, _ = unit_memorization(torch.zeros(3, 2))
    assert torch.isnan(unitmem).all()
    # Negative activations (GELU) leave the ratio's range: [2, -0.1, -0.1] would give 2.1 / 1.9 > 1.
    unitmem, _ = unit_memorization(torch.tensor([[2.0], [-0.1], [-0.1]]))
    assert torch.isnan(unitmem).all()
    with pytest.raises(ValueError, match="others='max'"):
        unit_memorization(torch.ones(3, 2), others="max")
    with pytest.raises(ValueError, match=r"\[N >= 2, units\]"):
        unit_memorization(torch.ones(1, 2))
