"""The `image_folder` dataset: an ImageNet-style folder of class sub-folders, decoded into one uint8 tensor.

`load_split("image_folder", root, split)` reads `root/<split>/<class>/*.JPEG` (and the other suffixes of
IMAGE_FILE_SUFFIXES) through this module; unreadable files stop the load with every path named, or are skipped
with a warning each (`data.skip_bad_images`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslmem.data.catalog import _HOW_TO_GET, DatasetNotFoundError, dataset_info
from sslmem.data.datasets import (
    DEFAULT_FOLDER_IMAGE_SIZE,
    IMAGE_FILE_SUFFIXES,
    ImageSet,
    UnreadableImageError,
    _labels_tensor,
)


def _folder_classes(root: Path, split: str) -> list[str]:
    """Class names of an image folder split: sorted sub-directory names.

    Labels come from the training split's classes whenever it exists, so that a test split with fewer
    classes (or a missing one) still maps each class name to the same label as in training.
    """
    reference = root / "train" if (root / "train").is_dir() else root / split
    classes = sorted(entry.name for entry in os.scandir(reference) if entry.is_dir() and not entry.name.startswith("."))
    if reference != root / split:
        extra = sorted(
            entry.name
            for entry in os.scandir(root / split)
            if entry.is_dir() and not entry.name.startswith(".") and entry.name not in set(classes)
        )
        if extra:
            raise ValueError(
                f"image folder {root / split} has classes not in {reference}: {', '.join(extra[:10])}"
                f"{' …' if len(extra) > 10 else ''}; the label of each class is its index among the "
                "training classes, so every class needs a training folder"
            )
    return classes


def _resize_and_center_crop(image: Any, size: int) -> Any:
    """Resize the shorter side to ``size`` and crop the centre ``size × size``.

    Same geometry and filter as torchvision's ``Resize(size)`` + ``CenterCrop(size)`` on a PIL image
    (bilinear; the longer side is truncated; crop offsets rounded), so that the folder loader and a
    torchvision pipeline see identical pixels.
    """
    from PIL import Image

    width, height = image.size
    if min(width, height) != size:
        if width <= height:
            new_size = (size, int(size * height / width))
        else:
            new_size = (int(size * width / height), size)
        image = image.resize(new_size, Image.Resampling.BILINEAR)
        width, height = image.size
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def load_image_folder(
    name: str,
    root: Path,
    split: str,
    download: bool,
    *,
    image_size: int | None = None,
    skip_bad: bool = False,
    num_workers: int | None = None,
    **_: Any,
) -> ImageSet:
    """Every image of `root/<split>/<class>/` decoded, resized (shorter side) and centre-cropped to `image_size`,
    labelled by its class's index among the training split's classes (ImageNet layout)."""
    from PIL import Image

    size = DEFAULT_FOLDER_IMAGE_SIZE if image_size is None else int(image_size)
    if size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    classes = _folder_classes(root, split)
    split_dir = root / split
    files: list[Path] = []
    labels: list[int] = []
    for label, class_name in enumerate(classes):
        class_dir = split_dir / class_name
        if not class_dir.is_dir():  # a training class absent from this split
            continue
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() in IMAGE_FILE_SUFFIXES and not path.name.startswith(".") and path.is_file():
                files.append(path)
                labels.append(label)
    if not files:
        raise DatasetNotFoundError(
            f"image_folder '{split}' split: no image files ({', '.join(sorted(IMAGE_FILE_SUFFIXES))}) in the "
            f"class folders of {split_dir}. {_HOW_TO_GET['image_folder']}",
            dataset=name,
            split=split,
            root=root,
            missing=[split_dir],
        )

    # Workers decode straight into their row of one preallocated array (no per-image list, no extra copy).
    images = np.empty((len(files), 3, size, size), dtype=np.uint8)

    def decode_into(index: int) -> str | None:
        path = files[index]
        try:
            with Image.open(path) as image:
                # convert() forces a full decode, so truncated files fail here rather than later.
                rgb = image.convert("RGB")  # grayscale, palette, RGBA (alpha dropped), CMYK -> RGB
            images[index] = np.asarray(_resize_and_center_crop(rgb, size)).transpose(2, 0, 1)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            return f"{type(error).__name__}: {error}"
        return None

    # PIL releases the GIL while decoding and resizing, so threads give a real speed-up.
    workers = num_workers or min(32, (os.cpu_count() or 1) + 4)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        errors = list(pool.map(decode_into, range(len(files))))

    bad = [(files[i], error) for i, error in enumerate(errors) if error is not None]
    if bad and not skip_bad:
        listing = "\n".join(f"  {path}: {error}" for path, error in bad[:20])
        more = f"\n  … and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise UnreadableImageError(
            f"{len(bad)} unreadable image file(s) in {split_dir}:\n{listing}{more}\n"
            "Fix or remove them, or pass skip_bad=True to skip them.",
            paths=[path for path, _ in bad],
        )
    for path, error in bad:
        warnings.warn(f"skipping unreadable image {path} ({error})", stacklevel=4)
    keep = np.array([error is None for error in errors])
    if bad:
        images = images[keep]
    info = dataclasses.replace(dataset_info(name), image_size=size, num_classes=len(classes))
    return ImageSet(torch.from_numpy(images), _labels_tensor(np.asarray(labels)[keep]), info)
