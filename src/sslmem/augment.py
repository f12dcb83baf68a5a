"""Batched per-sample augmentations, on whatever device the images live on.

torchvision's transforms draw one set of random parameters per call, so augmenting a batch with them means a
Python loop over images; a CPU dataloader doing that cannot feed a GPU at CIFAR scale and is the hot path of
measuring alignment. Here every random parameter is drawn as a tensor with one entry per image, and the
geometric part (random resized crop + horizontal flip) is a single `grid_sample` call.

The families follow the methods' papers:

- SimCLR (Chen et al., 2020, App. A; CIFAR variant): RandomResizedCrop(scale 0.08–1, ratio 3/4–4/3),
  horizontal flip p=0.5, ColorJitter(0.4, 0.4, 0.4, 0.1) with p=0.8, RandomGrayscale p=0.2.
- MAE (He et al., 2022): RandomResizedCrop(scale 0.2–1) and horizontal flip; masking happens in the model.

Measurement views of another family than the training one (SSLMem Table 8: Gaussian noise, random rotation,
colour drop) are :class:`MeasurementViews`, with the same generator discipline.

Augmentations act on pixels in [0, 1]; normalisation by the dataset's mean/std comes after (the published
SSLMem code jitters already-normalised tensors, which changes what the jitter strengths mean).

Differences from torchvision, on purpose: crop boxes are continuous (bilinear resampling of a sub-pixel box
instead of an integer box), and the four colour-jitter operations run in a fixed order instead of a random one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

# ITU-R 601-2 luma, as torchvision's rgb_to_grayscale.
_LUMA = (0.299, 0.587, 0.114)
_CROP_ATTEMPTS = 10


@dataclass(frozen=True)
class AugmentSpec:
    """One augmentation family (a row of params.yaml `augmentations`).

    Attributes:
        crop_scale: range of the crop's area as a fraction of the image.
        flip: probability of a horizontal flip.
        jitter: brightness, contrast, saturation and hue strengths of the colour jitter.
        jitter_p: probability that colour jitter is applied at all.
        grayscale_p: probability of converting to grayscale.
        crop_ratio: range of the crop's aspect ratio.
        pad_crop: a crop of the image's own size from the image zero-padded by this many pixels (torchvision's
            RandomCrop(size, padding); no resizing: Table 9's "crop only"); 0 = none.
        noise_std: Gaussian noise of this std added to every pixel in [0, 1] (Table 9's "random Gaussian
            noise"); 0 = none.
        mask_ratio: this fraction of the squares of a `mask_patch`-pixel grid set to black (Table 9's "random
            masking"); 0 = none.

    The last four are applied only when set, so families without them draw exactly what they always drew.
    """

    crop_scale: tuple[float, float] = (0.08, 1.0)
    flip: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    pad_crop: int = 0
    noise_std: float = 0.0
    mask_ratio: float = 0.0
    mask_patch: int = 4

    def __post_init__(self):
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        for name in ("flip", "jitter_p", "grayscale_p"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} is a probability in [0, 1], got {value}")
        if len(self.jitter) != 4 or min(self.jitter) < 0 or self.jitter[3] > 0.5:
            raise ValueError(f"jitter must be 4 non-negative strengths with hue <= 0.5, got {self.jitter}")
        if self.pad_crop < 0 or self.noise_std < 0 or not 0 <= self.mask_ratio < 1 or self.mask_patch < 1:
            raise ValueError(f"pad_crop >= 0, noise_std >= 0, mask_ratio in [0, 1) and mask_patch >= 1, got "
                             f"{self.pad_crop}, {self.noise_std}, {self.mask_ratio}, {self.mask_patch}")

    @classmethod
    def from_settings(cls, section: Mapping) -> "AugmentSpec":
        return cls(
            crop_scale=tuple(section["crop_scale"]),
            flip=float(section["flip"]),
            jitter=tuple(float(v) for v in section["jitter"]),
            jitter_p=float(section["jitter_p"]),
            grayscale_p=float(section["grayscale_p"]),
            pad_crop=int(section.get("pad_crop", 0)),
            noise_std=float(section.get("noise_std", 0.0)),
            mask_ratio=float(section.get("mask_ratio", 0.0)),
            mask_patch=int(section.get("mask_patch", 4)),
        )


def _uniform(generator: torch.Generator, shape, low, high, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=device) * (high - low) + low


def sample_crop_boxes(batch: int, spec: AugmentSpec, generator: torch.Generator, device) -> torch.Tensor:
    """Random resized crop boxes as fractions of the image: [batch, 4] = (x0, y0, width, height).

    Like torchvision, each image gets up to 10 tries at a box of random area and aspect ratio that fits;
    images where none fits fall back to the whole image.
    """
    shape = (batch, _CROP_ATTEMPTS)
    area = _uniform(generator, shape, spec.crop_scale[0], spec.crop_scale[1], device)
    log_ratio = _uniform(generator, shape, math.log(spec.crop_ratio[0]), math.log(spec.crop_ratio[1]), device)
    ratio = torch.exp(log_ratio)
    width = torch.sqrt(area * ratio)
    height = torch.sqrt(area / ratio)
    fits = (width <= 1) & (height <= 1)
    first_fit = torch.argmax(fits.int(), dim=1, keepdim=True)
    any_fit = fits.any(dim=1)
    width = torch.where(any_fit, width.gather(1, first_fit).squeeze(1), torch.ones_like(any_fit, dtype=width.dtype))
    height = torch.where(any_fit, height.gather(1, first_fit).squeeze(1), torch.ones_like(width))
    x0 = torch.rand(batch, generator=generator, device=device) * (1 - width)
    y0 = torch.rand(batch, generator=generator, device=device) * (1 - height)
    return torch.stack([x0, y0, width, height], dim=1)


def crop_flip_resize(images: torch.Tensor, boxes: torch.Tensor, flip: torch.Tensor, out_size: int) -> torch.Tensor:
    """Resample each image's box (fractions, [B, 4]) to out_size², mirrored where `flip` is True."""
    x0, y0, width, height = boxes.unbind(1)
    sign = 1.0 - 2.0 * flip.to(images.dtype)
    # affine_grid maps output coords in [-1, 1] to input coords in [-1, 1].
    theta = torch.zeros(images.shape[0], 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = width * sign
    theta[:, 0, 2] = (x0 + width / 2) * 2 - 1
    theta[:, 1, 1] = height
    theta[:, 1, 2] = (y0 + height / 2) * 2 - 1
    grid = F.affine_grid(theta, [images.shape[0], images.shape[1], out_size, out_size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def random_pad_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """torchvision's RandomCrop(size, padding): each image zero-padded by `padding` pixels on every side, then a
    crop of its own size at an offset drawn uniformly from [0, 2·padding]² (no resampling)."""
    batch, _, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, batch), generator=generator, device=images.device)
    rows = offsets[0].view(-1, 1) + torch.arange(height, device=images.device)
    cols = offsets[1].view(-1, 1) + torch.arange(width, device=images.device)
    batch_index = torch.arange(batch, device=images.device).view(-1, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch_index, rows.unsqueeze(2), cols.unsqueeze(1)].permute(0, 3, 1, 2)


def random_patch_mask(images: torch.Tensor, ratio: float, patch: int, generator: torch.Generator) -> torch.Tensor:
    """Each image with round(ratio · n) of the n squares of a `patch`-pixel grid set to 0, drawn per image
    (edge squares may be smaller)."""
    batch, _, height, width = images.shape
    grid_rows, grid_cols = -(-height // patch), -(-width // patch)
    count = grid_rows * grid_cols
    masked = torch.rand(batch, count, generator=generator, device=images.device).argsort(dim=1) < round(ratio * count)
    keep = (~masked).view(batch, 1, grid_rows, grid_cols).to(images.dtype)
    keep = keep.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)[:, :, :height, :width]
    return images * keep


def grayscale(images: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(_LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def _rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    r, g, b = rgb.unbind(1)
    value, _ = rgb.max(dim=1)
    minimum, _ = rgb.min(dim=1)
    delta = value - minimum
    saturation = torch.where(value > 0, delta / value.clamp_min(1e-12), torch.zeros_like(value))
    safe_delta = delta.clamp_min(1e-12)
    hue = torch.where(
        value == r,
        ((g - b) / safe_delta) % 6,
        torch.where(value == g, (b - r) / safe_delta + 2, (r - g) / safe_delta + 4),
    )
    hue = torch.where(delta > 0, hue / 6, torch.zeros_like(hue))
    return torch.stack([hue, saturation, value], dim=1)


def _hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    hue, saturation, value = hsv.unbind(1)
    offsets = torch.tensor([5.0, 3.0, 1.0], dtype=hsv.dtype, device=hsv.device).view(1, 3, 1, 1)
    k = (offsets + hue.unsqueeze(1) * 6) % 6
    weight = torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return value.unsqueeze(1) - value.unsqueeze(1) * saturation.unsqueeze(1) * weight


def adjust_hue(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate hue by `shift` (fraction of a turn, one per image) in HSV space."""
    hsv = _rgb_to_hsv(images)
    hue = (hsv[:, 0] + shift.view(-1, 1, 1)) % 1.0
    return _hsv_to_rgb(torch.stack([hue, hsv[:, 1], hsv[:, 2]], dim=1))


def color_jitter(images: torch.Tensor, spec: AugmentSpec, generator: torch.Generator) -> torch.Tensor:
    """Per-image brightness, contrast, saturation and hue factors; identity for images not selected (p)."""
    batch, device = images.shape[0], images.device
    brightness, contrast, saturation, hue = spec.jitter
    apply = torch.rand(batch, generator=generator, device=device) < spec.jitter_p

    def factor(strength):
        drawn = _uniform(generator, (batch,), max(0.0, 1 - strength), 1 + strength, device)
        return torch.where(apply, drawn, torch.ones_like(drawn)).view(-1, 1, 1, 1)

    b_factor, c_factor, s_factor = factor(brightness), factor(contrast), factor(saturation)
    hue_shift = torch.where(apply, _uniform(generator, (batch,), -hue, hue, device), torch.zeros(batch, device=device))
    if brightness > 0:
        images = (images * b_factor).clamp(0, 1)
    if contrast > 0:
        mean = grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
        images = ((images - mean) * c_factor + mean).clamp(0, 1)
    if saturation > 0:
        gray = grayscale(images)
        images = ((images - gray) * s_factor + gray).clamp(0, 1)
    if hue > 0:
        images = adjust_hue(images, hue_shift).clamp(0, 1)
    return images


class BatchAugment:
    """Draw one augmented view per image of a batch, then normalise.

    >>> augment = BatchAugment(AugmentSpec(), out_size=32, mean=(0.5,)*3, std=(0.25,)*3)
    >>> views = augment(images_uint8, torch.Generator().manual_seed(0))   # [B, 3, 32, 32] float

    Randomness comes only from the generator passed in, so a view is a pure function of
    (images, generator state): the training loop and the measurement views derive generators from seeds.
    """

    def __init__(self, spec: AugmentSpec, out_size: int, mean: Sequence[float], std: Sequence[float]):
        if out_size < 1:
            raise ValueError(f"out_size must be positive, got {out_size}")
        self.spec = spec
        self.out_size = out_size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    @staticmethod
    def to_unit(images: torch.Tensor) -> torch.Tensor:
        return images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean.to(images.device)) / self.std.to(images.device)

    def clean(self, images: torch.Tensor) -> torch.Tensor:
        """The un-augmented image, resized to out_size and normalised (the published code's reference view)."""
        images = self.to_unit(images)
        if images.shape[-1] != self.out_size or images.shape[-2] != self.out_size:
            images = F.interpolate(images, size=(self.out_size, self.out_size), mode="bilinear", align_corners=False)
        return self.normalize(images)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        images = self.to_unit(images)
        batch, device = images.shape[0], images.device
        boxes = sample_crop_boxes(batch, self.spec, generator, device)
        flip = torch.rand(batch, generator=generator, device=device) < self.spec.flip
        images = crop_flip_resize(images, boxes, flip, self.out_size)
        if self.spec.jitter_p > 0 and max(self.spec.jitter) > 0:
            images = color_jitter(images, self.spec, generator)
        if self.spec.grayscale_p > 0:
            to_gray = torch.rand(batch, generator=generator, device=device) < self.spec.grayscale_p
            images = torch.where(to_gray.view(-1, 1, 1, 1), grayscale(images).expand_as(images), images)
        if self.spec.pad_crop:
            images = random_pad_crop(images, self.spec.pad_crop, generator)
        if self.spec.noise_std:
            images = add_gaussian_noise(images, self.spec.noise_std, generator)
        if self.spec.mask_ratio:
            images = random_patch_mask(images, self.spec.mask_ratio, self.spec.mask_patch, generator)
        return self.normalize(images.clamp(0, 1))


# ------------------------------------------------------------------------------------------------------------
# Measurement view families (SSLMem Table 8): other views than the encoder's training augmentation
# ------------------------------------------------------------------------------------------------------------

# Each kind of measurement view and the parameter(s) its params.yaml entry (measure.view_families.<name>) sets.
VIEW_KINDS: dict[str, tuple[str, ...]] = {
    "gaussian_noise": ("std",),
    "rotation": ("degrees",),
    "color_drop": ("p",),
}


def add_gaussian_noise(images: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Pixels in [0, 1] plus independent N(0, std²) noise per pixel and channel, clipped back to [0, 1] (as
    torchvision's GaussianNoise(mean=0, sigma=std, clip=True))."""
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return (images + std * noise).clamp(0, 1)


def rotate(images: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image about its centre by its angle (degrees, counter-clockwise as torchvision's rotate;
    [B]), keeping its size; corners that come from outside the image are black (torchvision's fill=0).
    Bilinear resampling: a multiple of 90° on a square image moves pixel centres onto pixel centres (torch.rot90
    up to rounding)."""
    radians = torch.deg2rad(degrees.to(images.dtype))
    cos, sin = torch.cos(radians), torch.sin(radians)
    # affine_grid maps each output location (x right, y down, in [-1, 1]) to the input location it reads: the
    # inverse rotation, which with y pointing down is [[cos, -sin], [sin, cos]] for a counter-clockwise turn.
    theta = torch.zeros(images.shape[0], 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_rotation(images: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    """torchvision's RandomRotation(degrees): each image turned by an angle drawn uniformly from
    [-degrees, degrees] (so 270 draws from [-270, 270])."""
    angles = _uniform(generator, (images.shape[0],), -degrees, degrees, images.device)
    return rotate(images, angles)


def color_drop(images: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """SimCLR's colour dropping (Chen et al., 2020, App. A: RandomGrayscale): each image, with probability p,
    replaced by its ITU-R 601-2 luma in all three channels; the others unchanged. (Not dropping single channels.)
    On a dataset whose images are grey already this changes nothing (the settings rules refuse it there)."""
    to_gray = torch.rand(images.shape[0], generator=generator, device=images.device) < p
    return torch.where(to_gray.view(-1, 1, 1, 1), grayscale(images).expand_as(images), images)


class MeasurementViews(BatchAugment):
    """Measurement views of one family of :data:`VIEW_KINDS` instead of the encoder's training augmentation
    (SSLMem Table 8): the image at the encoder's input size, then only that family's transform, then
    normalisation. Like :class:`BatchAugment`, every random draw comes from the generator passed in.

    - ``gaussian_noise`` {std}: :func:`add_gaussian_noise` on pixels in [0, 1] (before normalisation).
    - ``rotation`` {degrees}: :func:`random_rotation`, an angle uniform in [-degrees, degrees] per view. A fixed
      rotation would make every view the same image and the alignment 0 for every point, so "Rotate 90°" of
      the paper is read as torchvision's RandomRotation(90).
    - ``color_drop`` {p}: :func:`color_drop`, grayscale with probability p (SimCLR's colour drop).
    """

    def __init__(self, kind: str, options: Mapping, out_size: int, mean: Sequence[float], std: Sequence[float]):
        if kind not in VIEW_KINDS:
            raise ValueError(f"unknown measurement view kind {kind!r}; known: {sorted(VIEW_KINDS)}")
        missing = [name for name in VIEW_KINDS[kind] if name not in options]
        if missing:
            raise ValueError(f"measurement view kind {kind!r} needs {list(VIEW_KINDS[kind])}; missing {missing}")
        super().__init__(AugmentSpec(), out_size, mean, std)
        self.kind = kind
        self.options = {name: float(options[name]) for name in VIEW_KINDS[kind]}

    def resized(self, images: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] at out_size² (bilinear, as :meth:`BatchAugment.clean`), not yet normalised."""
        images = self.to_unit(images)
        if images.shape[-1] != self.out_size or images.shape[-2] != self.out_size:
            images = F.interpolate(images, size=(self.out_size, self.out_size), mode="bilinear", align_corners=False)
        return images

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        images = self.resized(images)
        if self.kind == "gaussian_noise":
            images = add_gaussian_noise(images, self.options["std"], generator)
        elif self.kind == "rotation":
            images = random_rotation(images, self.options["degrees"], generator)
        else:
            images = color_drop(images, self.options["p"], generator)
        return self.normalize(images)


def make_generator(device, *seed_parts: int) -> torch.Generator:
    """A generator on `device` seeded from a tuple of integers (e.g. seed, epoch, step)."""
    seed = 0
    for part in seed_parts:
        seed = (seed * 1_000_003 + int(part) + 1) % (2**63 - 1)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
