"""Image datasets as whole-split uint8 tensors (or, too large for memory, read by index), behind one registry.

Every dataset the workflow knows is a key of :data:`DATASETS`; :func:`load_split` returns one split of it
as an :class:`ImageSet`: all images as a contiguous ``uint8`` tensor ``[N, 3, H, W]`` (grayscale sets are
repeated to three channels) and ``int64`` labels (-1 throughout an unlabelled split). Every dataset has the
labelled ``"train"`` and ``"test"`` splits; STL-10 also has ``"unlabeled"`` (100000 images), its pool split
(:attr:`DatasetInfo.pool_split`), from which the training pool is drawn.

Loading the whole split at once keeps later stages simple (splits index rows, augmentations run on batches)
and is cheap at the sizes of the published sets (CIFAR-10's training set is 150 MiB as uint8; STL-10's
unlabelled split, the largest, 2.6 GiB). ``image_folder`` is the exception: its split can be any size
(ImageNet's training split is about 190 GB decoded at 224 px), so its images are a
:class:`sslmem.data.lazy.LazyImages`, which indexes like the tensor (``images[rows]`` decodes those rows,
``images.shape``, ``images.subset(rows)`` a lazy view) and decodes from disk with DataLoader workers, never
the whole split at once (:mod:`sslmem.data.image_folder`). Pixels stay uint8 on purpose: augmentation happens
before normalisation (as the paper defines the views), so :class:`DatasetInfo` carries the mean/std that the
caller applies *after* augmenting.

The paper's datasets are read from the standard on-disk formats, in torchvision's layout under ``root``,
through torchvision's own dataset classes (which can also download them, where a machine has internet).
Fashion-MNIST, the default dataset here, is parsed from its IDX files directly, so that the Debian package
``dataset-fashion-mnist`` (files in ``/usr/share/datasets/fashion-mnist/``) works as a root as it is.
``digits`` (scikit-learn's 8x8 handwritten digits, a small downstream set for probing) has no root: its images ship
inside scikit-learn (:mod:`sslmem.data.digits`).

The registry's static half (:class:`DatasetInfo`, the files each split needs, :func:`check_root`) lives in
:mod:`sslmem.data.catalog`, which imports no torch, so that validating settings stays cheap; this module adds
the loaders and re-exports those names.

Usage::

    train = load_split("fashion_mnist", FASHION_MNIST_SYSTEM_ROOT, "train")
    train.images.shape   # torch.Size([60000, 3, 28, 28]), torch.uint8
    train.info.mean      # normalise with this after augmenting
"""

from __future__ import annotations

import functools
import gzip
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslmem.data.catalog import (
    _CIFAR10_FILES,
    _CIFAR10_META,
    _CIFAR100_FILES,
    _CIFAR100_META,
    _STL10_FILES,
    CATALOG,
    DEFAULT_FOLDER_IMAGE_SIZE,
    FASHION_MNIST_SYSTEM_ROOT,
    SPLITS,
    UNLABELED,
    DatasetInfo,
    resolve_root,
    DatasetNotFoundError,
    _check_split,
    _first_existing,
    _fashion_mnist_requirements,
    _Requirement,
    check_root,
    dataset_info,
    training_splits,
)
from sslmem.data.lazy import LazyImages, is_lazy
from sslmem.data.images import (  # noqa: F401 (the image set and its helpers, handed on to this module's users)
    IMAGE_FILE_SUFFIXES,
    ImageSet,
    UnreadableImageError,
    labels_tensor as _labels_tensor,
    resize_images,
)

__all__ = [
    "DATASETS",
    "DEFAULT_FOLDER_IMAGE_SIZE",
    "FASHION_MNIST_SYSTEM_ROOT",
    "IMAGE_FILE_SUFFIXES",
    "SPLITS",
    "UNLABELED",
    "DatasetInfo",
    "DatasetNotFoundError",
    "DatasetSpec",
    "ImageSet",
    "LazyImages",
    "UnreadableImageError",
    "check_root",
    "dataset_info",
    "load_split",
    "resize_images",
    "training_splits",
]

# ---------------------------------------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------------------------------------


def _uint8_nchw(array: np.ndarray) -> torch.Tensor:
    """A contiguous uint8 tensor of an [N, C, H, W] array; grayscale (C = 1) repeated to three channels."""
    if array.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {array.dtype}")
    if array.shape[1] == 1:
        array = np.repeat(array, 3, axis=1)  # copies, so the result is contiguous too
    return torch.from_numpy(np.ascontiguousarray(array))


@functools.cache
def _torchvision_readers() -> dict[str, type]:
    """torchvision's dataset classes, with the md5 check replaced by an existence check.

    torchvision verifies the md5 of every file before reading (``_check_integrity``; for CIFAR also
    ``_load_meta``). That rejects any file that is not byte-for-byte the published one: the small
    real-format files the tests write, a set re-pickled by a user, and for STL10 it needs the 2.6 GB
    ``unlabeled_X.bin`` even to read the labelled split (and hashes it on every load); here each STL10 split
    needs only its own files (``"unlabeled"``: ``unlabeled_X.bin``). The readers below
    keep torchvision's parsing and downloading and only require that the requested split's files exist
    (and SVHN then no longer re-downloads a present file); downloads are still verified, since
    torchvision checks the md5 of what it fetches.
    Built lazily because importing torchvision costs about a second.
    """
    import torchvision.datasets as tvd

    class CIFAR10Reader(tvd.CIFAR10):
        _split_files = _CIFAR10_FILES
        _meta_file = _CIFAR10_META

        def _check_integrity(self) -> bool:
            split = "train" if self.train else "test"
            names = [*self._split_files[split], self._meta_file]
            return all(os.path.isfile(os.path.join(self.root, self.base_folder, n)) for n in names)

        def _load_meta(self) -> None:
            # Same as torchvision's, less the md5 check (see the factory's docstring).
            with open(os.path.join(self.root, self.base_folder, self.meta["filename"]), "rb") as file:
                self.classes = pickle.load(file, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {name: index for index, name in enumerate(self.classes)}

    class CIFAR100Reader(CIFAR10Reader, tvd.CIFAR100):
        # CIFAR100's class attributes (folder, file lists, meta key) come from tvd.CIFAR100 through the MRO.
        _split_files = _CIFAR100_FILES
        _meta_file = _CIFAR100_META

    class SVHNReader(tvd.SVHN):
        def _check_integrity(self) -> bool:
            return os.path.isfile(os.path.join(self.root, self.filename))

        def download(self) -> None:
            # torchvision's SVHN re-downloads any file whose md5 differs; keep a file that is already there.
            if not self._check_integrity():
                super().download()

    class STL10Reader(tvd.STL10):
        def _check_integrity(self) -> bool:
            names = _STL10_FILES[self.split]
            return all(os.path.isfile(os.path.join(self.root, self.base_folder, n)) for n in names)

    return {
        "cifar10": CIFAR10Reader,
        "cifar100": CIFAR100Reader,
        "svhn": SVHNReader,
        "stl10": STL10Reader,
        "fashion_mnist": tvd.FashionMNIST,
    }


def _load_cifar(name: str, root: Path, split: str, download: bool, **_: Any) -> ImageSet:
    reader = _torchvision_readers()[name](str(root), train=split == "train", download=download)
    # torchvision holds CIFAR as [N, H, W, C]; back to channels-first.
    images = _uint8_nchw(reader.data.transpose(0, 3, 1, 2))
    return ImageSet(images, _labels_tensor(reader.targets), dataset_info(name))


def _load_svhn(name: str, root: Path, split: str, download: bool, **_: Any) -> ImageSet:
    # torchvision already maps label 10 to digit 0 and transposes X [H, W, C, N] to [N, C, H, W].
    reader = _torchvision_readers()["svhn"](str(root), split=split, download=download)
    return ImageSet(_uint8_nchw(reader.data), _labels_tensor(reader.labels), dataset_info(name))


def _load_stl10(name: str, root: Path, split: str, download: bool, **_: Any) -> ImageSet:
    # "train" is the labelled 5000-image split; "unlabeled" the 100k unlabelled images (labels -1, set by
    # torchvision), the pool split; "test" the labelled 8000.
    reader = _torchvision_readers()["stl10"](str(root), split=split, download=download)
    return ImageSet(_uint8_nchw(reader.data), _labels_tensor(reader.labels), dataset_info(name))


_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Parse an IDX file (gzipped or plain) of unsigned bytes into an array of its declared shape."""
    with open(path, "rb") as file:
        raw = file.read()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file's name says
        raw = gzip.decompress(raw)
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise ValueError(f"{path}: IDX magic number {magic}, expected {expected_magic}")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(shape)):
        raise ValueError(f"{path}: IDX header declares shape {shape} but holds {len(raw) - offset} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def _load_fashion_mnist(name: str, root: Path, split: str, download: bool, **_: Any) -> ImageSet:
    requirements = _fashion_mnist_requirements(root, split)
    if download and not all(_first_existing(r) for r in requirements):
        # torchvision fetches the IDX files into <root>/FashionMNIST/raw/, where the parser below finds them.
        _torchvision_readers()["fashion_mnist"](str(root), train=split == "train", download=True)
        check_root(name, root, split)
    image_path, label_path = (_first_existing(r) for r in requirements)
    images = _read_idx(image_path, _IDX_IMAGES_MAGIC)
    labels = _read_idx(label_path, _IDX_LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{image_path} holds {images.shape[0]} images but {label_path} {labels.shape[0]} labels")
    return ImageSet(_uint8_nchw(images[:, None]), _labels_tensor(labels), dataset_info(name))


def _load_image_folder(name: str, root: Path, split: str, download: bool, **options: Any) -> ImageSet:
    # The image-folder reader has a module of its own (data/image_folder.py); imported here, when used.
    from sslmem.data.image_folder import load_image_folder

    return load_image_folder(name, root, split, download, **options)


def _load_digits(name: str, root: Path | None, split: str, download: bool, **options: Any) -> ImageSet:
    # Like the image-folder reader, in a module of its own (data/digits.py), imported when used.
    from sslmem.data.digits import load_digits_split

    return load_digits_split(name, root, split, download, **options)


# ---------------------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """One registry entry: static info, the files a split needs, and the loader."""

    info: DatasetInfo
    requirements: Callable[[Path, str], list[_Requirement]]
    load: Callable[..., ImageSet]
    how_to_get: str


_LOADERS: dict[str, Callable[..., ImageSet]] = {
    "fashion_mnist": _load_fashion_mnist,
    "cifar10": _load_cifar,
    "cifar100": _load_cifar,
    "svhn": _load_svhn,
    "stl10": _load_stl10,
    "image_folder": _load_image_folder,
    "digits": _load_digits,
}
if set(_LOADERS) != set(CATALOG):
    raise ImportError(f"sslmem.data: loaders for {sorted(_LOADERS)} but catalog entries for {sorted(CATALOG)}")

# The catalog's static facts (sslmem.data.catalog, torch-free) with each dataset's loader.
DATASETS: dict[str, DatasetSpec] = {
    name: DatasetSpec(entry.info, entry.requirements, _LOADERS[name], entry.how_to_get)
    for name, entry in CATALOG.items()
}


def _spec_for(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}") from None


def load_split(
    name: str,
    root: str | Path | None,
    split: str,
    *,
    download: bool = False,
    image_size: int | None = None,
    channels: int | None = None,
    skip_bad: bool = False,
    num_workers: int | None = None,
) -> ImageSet:
    """Load one whole split of a dataset as uint8 tensors (image_folder: images read by index, none decoded yet).

    Args:
        name: A key of :data:`DATASETS`.
        root: Directory holding the dataset in its standard layout (torchvision's for cifar10/100, svhn,
            stl10; IDX files flat or in ``FashionMNIST/raw/`` for fashion_mnist; ``<split>/<class>/<image>``
            for image_folder). Not read for digits (its images ship inside scikit-learn), where it may be None.
        split: ``"train"`` or ``"test"`` (stl10's train is the labelled 5000 images), or ``"unlabeled"`` for a
            dataset that has one (``DatasetInfo.splits``; stl10's 100000 unlabelled images, labels -1).
        download: Let torchvision download missing files into ``root`` (needs internet). Ignored by
            image_folder and digits, which have nothing to download.
        image_size: image_folder: resize the shorter side to this and centre-crop a square of it (default
            :data:`DEFAULT_FOLDER_IMAGE_SIZE`). digits: resize the 8x8 images to this (default 28). The other
            datasets keep their native size.
        channels: digits only: 1, or 3 (the default, as every other dataset: gray repeated to three channels).
        skip_bad: image_folder only: decode every file once now (in bounded memory) and leave out the
            unreadable ones, each named in a warning; without it an unreadable file stops the read that asks
            for it, naming it.
        num_workers: image_folder only: DataLoader worker processes that decode the rows a caller indexes
            (params.yaml `data.loader_workers`); 0: in this process, one image after another; None: in this
            process with threads (a few more than the CPU count).

    Returns:
        An :class:`ImageSet` with images ``uint8 [N, 3, H, W]`` (contiguous; ``[N, 1, H, W]`` for digits with
        ``channels=1``; image_folder: a :class:`LazyImages` of that shape) and labels ``int64 [N]``.

    Raises:
        ValueError: unknown dataset or split, or a split the dataset does not have.
        DatasetNotFoundError: the files are missing (checked before any file is read, unless ``download``).
        UnreadableImageError: image_folder: from indexing the images, for a file that cannot be decoded.
    """
    spec = _spec_for(name)
    _check_split(spec.info, split)
    root = None if root is None and name == "digits" else resolve_root(root)
    if not download or name in ("image_folder", "digits"):  # these two have nothing to download
        check_root(name, root, split)
    return spec.load(
        name, root, split, download,
        image_size=image_size, channels=channels, skip_bad=skip_bad, num_workers=num_workers,
    )
