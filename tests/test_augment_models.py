"""Batched augmentations (exact cases) and backbone representation shapes."""

from __future__ import annotations

import pytest
import torch

from sslmem.augment import (
    AugmentSpec,
    BatchAugment,
    _hsv_to_rgb,
    _rgb_to_hsv,
    adjust_hue,
    crop_flip_resize,
    grayscale,
    make_generator,
    sample_crop_boxes,
)
from sslmem.models import build_encoder, count_parameters


def images(batch=4, size=8, seed=0):
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_whole_image_box_without_flip_is_identity():
    x = images()
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).expand(4, 4)
    out = crop_flip_resize(x, boxes, torch.zeros(4, dtype=torch.bool), 8)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_flip_mirrors_horizontally():
    x = images()
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).expand(4, 4)
    out = crop_flip_resize(x, boxes, torch.ones(4, dtype=torch.bool), 8)
    torch.testing.assert_close(out, torch.flip(x, dims=[3]), atol=1e-5, rtol=0)


def test_left_half_box_upsamples_the_left_half():
    # A box covering columns 0..3 of an 8-px image, resampled to 4 px, reads exactly those pixel centres.
    x = images(batch=1)
    boxes = torch.tensor([[0.0, 0.0, 0.5, 1.0]])
    out = crop_flip_resize(x, boxes, torch.zeros(1, dtype=torch.bool), 4)
    expected = torch.nn.functional.interpolate(x[..., :4], size=(4, 4), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_crop_boxes_respect_scale_and_fit_inside():
    spec = AugmentSpec(crop_scale=(0.2, 0.5))
    boxes = sample_crop_boxes(10_000, spec, torch.Generator().manual_seed(0), "cpu")
    x0, y0, w, h = boxes.unbind(1)
    assert (x0 >= 0).all() and (y0 >= 0).all() and (x0 + w <= 1 + 1e-6).all() and (y0 + h <= 1 + 1e-6).all()
    area = w * h
    fitted = area < 1  # fallback boxes are the whole image
    assert (area[fitted] >= 0.2 - 1e-6).all() and (area[fitted] <= 0.5 + 1e-6).all()
    ratio = w / h
    assert (ratio[fitted] >= 3 / 4 - 1e-5).all() and (ratio[fitted] <= 4 / 3 + 1e-5).all()


def test_grayscale_uses_itu_luma():
    x = torch.zeros(1, 3, 1, 1)
    x[0, :, 0, 0] = torch.tensor([1.0, 0.5, 0.25])
    assert grayscale(x).item() == pytest.approx(0.299 * 1 + 0.587 * 0.5 + 0.114 * 0.25)


def test_hsv_round_trip_and_known_values():
    x = images(batch=8)
    torch.testing.assert_close(_hsv_to_rgb(_rgb_to_hsv(x)), x, atol=1e-5, rtol=0)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(_rgb_to_hsv(red).flatten(), torch.tensor([0.0, 1.0, 1.0]))
    # A third of a turn takes pure red to pure green.
    torch.testing.assert_close(adjust_hue(red, torch.tensor([1 / 3])).flatten(), torch.tensor([0.0, 1.0, 0.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(adjust_hue(x, torch.zeros(8)), x, atol=1e-5, rtol=0)


def test_views_are_a_pure_function_of_the_generator_and_normalised():
    x = (images(batch=6, size=16) * 255).to(torch.uint8)
    augment = BatchAugment(AugmentSpec(), 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    first = augment(x, make_generator("cpu", 3, 1))
    again = augment(x, make_generator("cpu", 3, 1))
    other = augment(x, make_generator("cpu", 3, 2))
    assert first.shape == (6, 3, 16, 16) and first.dtype == torch.float32
    assert torch.equal(first, again) and not torch.equal(first, other)
    # Normalised from pixels in [0, 1]: (0 - 0.5) / 0.25 = -2, (1 - 0.5) / 0.25 = 2.
    assert first.min() >= -2 - 1e-5 and first.max() <= 2 + 1e-5


def test_views_differ_per_sample_within_a_batch():
    one = (images(batch=1, size=16) * 255).to(torch.uint8)
    batch = one.expand(8, -1, -1, -1).contiguous()
    views = BatchAugment(AugmentSpec(), 16, (0.5,) * 3, (0.25,) * 3)(batch, make_generator("cpu", 0))
    assert len({tuple(v.flatten()[:20].tolist()) for v in views}) == 8


def test_no_augmentation_spec_gives_the_clean_view():
    x = (images(batch=3, size=8) * 255).to(torch.uint8)
    spec = AugmentSpec(crop_scale=(1.0, 1.0), flip=0.0, jitter=(0, 0, 0, 0), jitter_p=0.0, grayscale_p=0.0,
                       crop_ratio=(1.0, 1.0))
    augment = BatchAugment(spec, 8, (0.5,) * 3, (0.25,) * 3)
    torch.testing.assert_close(augment(x, make_generator("cpu", 0)), augment.clean(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("bad", [dict(crop_scale=(0.5, 0.2)), dict(flip=1.5), dict(jitter=(0.4, 0.4, 0.4, 0.7))])
def test_bad_augment_spec_is_rejected(bad):
    with pytest.raises(ValueError):
        AugmentSpec(**bad)


@pytest.mark.parametrize(
    "arch, size, options, shape",
    [
        ("resnet18", 32, dict(width=16), (128, 4, 4)),
        ("resnet18", 28, dict(width=16), (128, 4, 4)),
        ("resnet50", 32, dict(width=8), (256, 4, 4)),
        ("wide_resnet50_2", 32, dict(width=8), (256, 4, 4)),
        ("vit_tiny", 32, dict(patch_size=2, depth=1), (257, 192)),  # 192 x 257 = 49344 (App. A)
        ("vit_tiny", 28, dict(patch_size=7, depth=1), (17, 192)),
        ("vit_base", 32, dict(patch_size=16, depth=1), (5, 768)),
    ],
)
def test_representation_shapes(arch, size, options, shape):
    encoder = build_encoder(arch, size, **options).eval()
    assert encoder.representation_shape() == shape
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        assert encoder.representation(x).shape == (2, int(torch.tensor(shape).prod()))
        assert encoder(x).shape == (2, encoder.feature_dim)


def test_resnet50_at_224_has_the_papers_representation_size():
    encoder = build_encoder("resnet50", 224)  # standard stem above 64 px
    assert encoder.representation_shape() == (2048, 7, 7)  # 49 x 2048 = 100352 (App. A)
    assert 23_000_000 < count_parameters(encoder) < 24_000_000


def test_named_layers_cover_every_block():
    assert len(build_encoder("resnet18", 32, width=8).named_layers()) == 8
    assert len(build_encoder("vit_tiny", 32, patch_size=4, depth=3).named_layers()) == 3


def test_pad_crop_is_a_shifted_window_of_the_padded_image():
    from sslmem.augment import random_pad_crop

    images = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    out = random_pad_crop(images, 1, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
    windows = [padded[0, 0, r:r + 4, c:c + 4] for r in range(3) for c in range(3)]
    assert out.shape == images.shape and any(torch.equal(out[0, 0], window) for window in windows)


def test_patch_mask_blacks_out_the_given_share_of_squares():
    from sslmem.augment import random_patch_mask

    out = random_patch_mask(torch.ones(3, 2, 8, 8), 0.75, 4, torch.Generator().manual_seed(0))
    squares = out[:, 0].unfold(1, 4, 4).unfold(2, 4, 4)  # [3, 2, 2, 4, 4]
    per_square = squares.flatten(3).amax(dim=3)  # 1 kept, 0 masked
    assert per_square.flatten(1).sum(dim=1).tolist() == [1.0, 1.0, 1.0]  # 3 of 4 squares masked, whole squares
    assert torch.equal(out[:, 0], out[:, 1])  # every channel alike


def test_augmentation_extras_are_drawn_only_when_set():
    from sslmem.augment import AugmentSpec, BatchAugment

    plain = AugmentSpec()
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    first = BatchAugment(plain, 16, (0.5,) * 3, (0.25,) * 3)(images, torch.Generator().manual_seed(0))
    again = BatchAugment(AugmentSpec(noise_std=0.0, mask_ratio=0.0), 16, (0.5,) * 3, (0.25,) * 3)(
        images, torch.Generator().manual_seed(0))
    noisy = BatchAugment(AugmentSpec(noise_std=0.2), 16, (0.5,) * 3, (0.25,) * 3)(images, torch.Generator().manual_seed(0))
    assert torch.equal(first, again) and not torch.equal(first, noisy)
