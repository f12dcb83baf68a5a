"""A split's images as the loaders hand them on (:class:`ImageSet`: in memory, or read by index), and what every
loader shares: the image files an image folder holds, the error naming unreadable ones, resizing, labels.
Below the loaders (:mod:`sslmem.data.datasets`, :mod:`~sslmem.data.digits`, :mod:`~sslmem.data.image_folder`),
so that none imports another."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from sslmem.data.catalog import DatasetInfo
from sslmem.data.lazy import LazyImages, is_lazy

# Files with other suffixes in an image folder (README, .DS_Store, label files) are not images and are ignored.
IMAGE_FILE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp"}
)


@dataclass
class ImageSet:
    """One whole split of a dataset: its images in memory, or read by index (``image_folder``).

    Attributes:
        images: ``uint8`` tensor ``[N, 3, H, W]``, contiguous; grayscale images are repeated to 3 channels
            (digits loaded with ``channels=1``: ``[N, 1, H, W]``, and its info has one mean/std value).
            ``image_folder``: a :class:`LazyImages` of that shape, whose ``images[rows]`` decodes the rows.
        labels: ``int64`` tensor ``[N]``; -1 for every image of an unlabelled split.
        info: The dataset's :class:`DatasetInfo` (for ``image_folder``: the size and class count loaded).
    """

    images: torch.Tensor | LazyImages
    labels: torch.Tensor
    info: DatasetInfo

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def in_memory(self) -> bool:
        """Whether the images are a tensor in memory (False: read from disk when indexed)."""
        return not is_lazy(self.images)


class UnreadableImageError(OSError):
    """An image file in an image folder cannot be decoded (truncated, corrupt, not an image).

    ``paths`` lists every such file found in the split, so that one run shows all of them.
    """

    def __init__(self, message: str, *, paths: Sequence[Path]):
        super().__init__(message)
        self.paths = list(paths)


def resize_images(images: torch.Tensor | LazyImages, size: int) -> torch.Tensor | LazyImages:
    """uint8 ``[N, C, h, w]`` images resized to ``size x size``: bilinear and antialiased (which matters when
    shrinking, e.g. STL-10's 96 px to an encoder's 32), rounded back to uint8. Images already of that size are
    returned as they are (no copy). Images read by index (image_folder) are decoded at the size asked for when
    loaded, so they are never resized here."""
    if tuple(images.shape[-2:]) == (size, size):
        return images
    if is_lazy(images):
        raise ValueError(
            f"images read by index are {tuple(images.shape[-2:])} px, not {size}: load the split at that size "
            "(load_split(..., image_size=...)) instead of resizing it whole"
        )
    resized = torch.nn.functional.interpolate(
        images.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def labels_tensor(labels: Any) -> torch.Tensor:
    """Labels as an int64 tensor [N] (a copy: the loader's array may be reused)."""
    return torch.from_numpy(np.asarray(labels, dtype=np.int64).reshape(-1).copy())
