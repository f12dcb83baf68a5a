"""The `digits` dataset: scikit-learn's 1797 handwritten digits (`sklearn.datasets.load_digits`, 8x8 pixels,
10 classes), resized to the image size and channel count an encoder takes.

A small downstream dataset for linear probing that needs no files of its own: the images ship inside the
scikit-learn wheel, so it installs offline from a package registry. `load_split("digits", root, split)` reads it
through this module (the root is not read; see :func:`sslmem.data.catalog.check_root`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from sslmem.data.catalog import DEFAULT_DIGITS_IMAGE_SIZE, _digits_not_found, dataset_info
from sslmem.data.images import ImageSet, labels_tensor as _labels_tensor, resize_images

# load_digits' pixel values are counts 0..16: the on-pixels of each 4x4 block of the original 32x32 bitmaps.
DIGITS_MAX_VALUE = 16
# Every TEST_EVERY-th image of each digit is a test image (digits_test_mask).
TEST_EVERY = 4
CHANNEL_CHOICES = (1, 3)


def digits_test_mask(labels: np.ndarray) -> np.ndarray:
    """Which images are test images: the 4th, 8th, 12th, ... image of each digit, counted in load_digits' order.

    scikit-learn gives no train/test split. This rule needs no seed, so the split is the same on every machine,
    and counting per digit puts a quarter of every class in the test split (43-45 images of each digit's
    174-183), which a rule on the plain index (index % 4 == 3: 41-50 per class) does not. With the 1797 images
    of load_digits: 1352 train, 445 test (the catalog's train_size).
    """
    labels = np.asarray(labels)
    is_test = np.zeros(len(labels), dtype=bool)
    for digit in np.unique(labels):
        of_digit = np.flatnonzero(labels == digit)
        is_test[of_digit[TEST_EVERY - 1 :: TEST_EVERY]] = True
    return is_test


def digits_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Map load_digits' 0..16 to 0..255: ``x * 255 / 16`` rounded half up, in integer arithmetic so that it is
    exact (0 -> 0, 1 -> 16, 8 -> 128 (127.5 rounded up), 16 -> 255)."""
    values = np.rint(np.asarray(pixels)).astype(np.int64)  # load_digits holds the integer counts as float64
    if values.min() < 0 or values.max() > DIGITS_MAX_VALUE:
        raise ValueError(f"digits pixels outside 0..{DIGITS_MAX_VALUE}: {values.min()}..{values.max()}")
    return ((values * 255 + DIGITS_MAX_VALUE // 2) // DIGITS_MAX_VALUE).astype(np.uint8)


# The resize every dataset shares (the probe resizes downstream datasets to an encoder's input with it too).
resize_square = resize_images


def _read_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """All 1797 images (float64 ``[N, 8, 8]``, 0..16) and labels, from scikit-learn's bundled file."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # check_root found the files, yet scikit-learn (or a dependency) fails to import
        raise _digits_not_found(split, f"scikit-learn cannot be imported ({error})") from error
    bunch = load_digits()
    return bunch.images, bunch.target


def _checked_options(image_size: int | None, channels: int | None) -> tuple[int, int]:
    size = DEFAULT_DIGITS_IMAGE_SIZE if image_size is None else int(image_size)
    # Three channels unless asked otherwise, like every other dataset's ImageSet (the encoders take RGB).
    channel_count = 3 if channels is None else int(channels)
    if size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if channel_count not in CHANNEL_CHOICES:
        raise ValueError(f"digits: channels must be one of {CHANNEL_CHOICES}, got {channels}")
    return size, channel_count


def load_digits_split(
    name: str,
    root: Any,
    split: str,
    download: bool,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    **_: Any,
) -> ImageSet:
    """One split of digits (:func:`digits_test_mask`) as uint8 ``[N, channels, image_size, image_size]``.

    Pixels are mapped to 0..255 (:func:`digits_to_uint8`) at the native 8x8, then resized (:func:`resize_square`;
    default :data:`DEFAULT_DIGITS_IMAGE_SIZE`, Fashion-MNIST's 28) and the gray channel repeated to ``channels``
    (1 or 3, default 3). The info carries the size loaded and as many mean/std values as channels. ``root`` and
    ``download`` are not used: the images ship inside scikit-learn.
    """
    size, channel_count = _checked_options(image_size, channels)
    pixels, labels = _read_digits(split)
    in_split = digits_test_mask(labels) == (split == "test")
    gray = torch.from_numpy(digits_to_uint8(pixels[in_split])[:, None])  # [N, 1, 8, 8]
    images = resize_square(gray, size).repeat(1, channel_count, 1, 1)  # resized once, then copied per channel
    info = dataset_info(name)
    info = dataclasses.replace(
        info, image_size=size, mean=info.mean[:channel_count], std=info.std[:channel_count]
    )
    return ImageSet(images.contiguous(), _labels_tensor(labels[in_split]), info)
