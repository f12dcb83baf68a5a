"""The `image_folder` dataset: an ImageNet-style folder of class sub-folders, read by index from disk.

`load_split("image_folder", root, split)` reads `root/<split>/<class>/*.JPEG` (and the other suffixes of
IMAGE_FILE_SUFFIXES) through this module. Loading lists the files (nothing is decoded): the split's images are a
:class:`sslmem.data.lazy.LazyImages` over a :class:`FolderReader`, which decodes the rows a caller indexes, each
image with PIL, converted to RGB, its shorter side resized to the image size and the centre square cropped (the
same pixels the loader gave when it decoded the whole split into memory). A batch is decoded by
``num_workers`` DataLoader worker processes (params.yaml `data.loader_workers`), so a job holds the file table
(tens of bytes per image) and the batches in flight, whatever the folder's size: ImageNet's training split,
about 190 GB decoded at 224 px, is read by a 16 GB job.

An image that cannot be decoded (truncated, corrupt, not an image, deleted since the folder was listed) stops
the read that asked for it with an :class:`UnreadableImageError` naming every such file of the batch. With
``skip_bad`` (`data.skip_bad_images`) the loader first decodes every file once (in bounded memory, pixels thrown
away), warns about each unreadable one and leaves it out of the split, so that row numbers never change later.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import itertools
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslmem.data.catalog import _HOW_TO_GET, DatasetNotFoundError, dataset_info
from sslmem.data.catalog import DEFAULT_FOLDER_IMAGE_SIZE
from sslmem.data.images import IMAGE_FILE_SUFFIXES, ImageSet, UnreadableImageError
from sslmem.data.images import labels_tensor as _labels_tensor
from sslmem.data.lazy import LazyImages

# Images per task sent to one DataLoader worker: small enough that a batch spreads over every worker and a large
# read streams through a few tasks at a time, large enough that the per-task overhead stays small.
CHUNK_IMAGES = 32


@functools.cache
def _decode_errors() -> tuple[type[BaseException], ...]:
    """What PIL raises for a file it cannot read (OSError covers missing and truncated files)."""
    from PIL import Image

    return (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


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


def decode_image(path: str | Path, size: int) -> np.ndarray:
    """One image file as uint8 ``[3, size, size]``: RGB, shorter side resized to ``size``, centre-cropped.

    Raises what PIL raises for a file it cannot read (OSError for a missing or truncated file).
    """
    from PIL import Image

    with Image.open(path) as image:
        # convert() forces a full decode, so truncated files fail here rather than later.
        rgb = image.convert("RGB")  # grayscale, palette, RGBA (alpha dropped), CMYK -> RGB
    return np.asarray(_resize_and_center_crop(rgb, size)).transpose(2, 0, 1)


class _Decoder(torch.utils.data.Dataset):
    """What a DataLoader worker runs: decodes a list of rows of the file table into one array.

    Holds the table as one bytes array (no Python object per file: forked workers then share its pages instead
    of copying them as reference counts change). Returns ``(pixels [k, 3, size, size], errors)``, errors being
    ``(position in the list, message)`` of each file that failed (its pixels zero), so that the caller can name
    every bad file of a batch at once.
    """

    def __init__(self, split_dir: Path, names: np.ndarray, size: int):
        self.split_dir = os.fsencode(split_dir)
        self.names = names
        self.size = size

    def __len__(self) -> int:
        return len(self.names)

    def path(self, row: int) -> Path:
        return Path(os.fsdecode(os.path.join(self.split_dir, self.names[row])))

    def __getitem__(self, row: int):
        return self.__getitems__([row])

    def __getitems__(self, rows) -> tuple[torch.Tensor, list[tuple[int, str]]]:
        out = np.zeros((len(rows), 3, self.size, self.size), dtype=np.uint8)
        errors = []
        for position, row in enumerate(rows):
            try:
                out[position] = decode_image(self.path(int(row)), self.size)
            except _decode_errors() as error:
                errors.append((position, f"{type(error).__name__}: {str(error) or 'truncated or corrupt image data'}"))
        return torch.from_numpy(out), errors


def _unwrap(batch):
    """collate_fn: the decoder already returns the batch."""
    return batch


class _Requests(torch.utils.data.Sampler):
    """The DataLoader's batch sampler: the chunks of the current request (set before each iteration; the
    DataLoader may call iter() more than once per iteration)."""

    def __init__(self):
        self.chunks: list[list[int]] = []

    def __iter__(self):
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)


class FolderReader:
    """Decodes rows of an image folder split's file table on request (:class:`sslmem.data.lazy.ImageReader`).

    Args:
        split_dir: ``root/<split>``.
        names: Path of each image relative to ``split_dir`` (bytes), in row order.
        size: Side of the decoded square images.
        num_workers: DataLoader worker processes that decode (persistent: started at the first read of more
            than one image and kept for the reader's life). 0: decode in this process, one image after another.
            None: decode in this process with threads (PIL releases the GIL while decoding and resizing).
    """

    def __init__(self, split_dir: Path, names: np.ndarray, size: int, num_workers: int | None = None):
        if num_workers is not None and num_workers < 0:
            raise ValueError(f"num_workers must be >= 0 (or None), got {num_workers}")
        self.split_dir = Path(split_dir)
        self.decoder = _Decoder(self.split_dir, names, size)
        self.num_images = len(names)
        self.image_shape = (3, size, size)
        self.num_workers = num_workers
        self._loaders: dict[bool, tuple[torch.utils.data.DataLoader, _Requests]] = {}
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def resident_bytes(self) -> int:
        return int(self.decoder.names.nbytes)

    def path(self, row: int) -> Path:
        return self.decoder.path(row)

    def describe(self) -> str:
        return str(self.split_dir)

    def __getstate__(self):
        # Worker processes and threads stay with the process that started them.
        return {**self.__dict__, "_loaders": {}, "_threads": None}

    def read(self, rows: np.ndarray, *, pin_memory: bool = False) -> torch.Tensor:
        rows = np.asarray(rows, dtype=np.int64)
        out = torch.empty((len(rows), *self.image_shape), dtype=torch.uint8, pin_memory=pin_memory)
        errors: list[tuple[int, str]] = []
        filled = 0
        for start, (pixels, chunk_errors) in self._decoded_chunks(rows, pin_memory):
            out[start: start + len(pixels)] = pixels
            errors += [(start + position, message) for position, message in chunk_errors]
            filled += len(pixels)
        if filled != len(rows):
            raise RuntimeError(f"decoded {filled} of the {len(rows)} images asked for from {self.split_dir}")
        if errors:
            bad = [(self.path(int(rows[position])), message) for position, message in errors]
            raise UnreadableImageError(_unreadable_message(bad, self.split_dir), paths=[path for path, _ in bad])
        return out

    def _decoded_chunks(self, rows: np.ndarray, pin_memory: bool):
        """(start, (pixels, errors)) for consecutive chunks of ``rows``, in order."""
        if len(rows) == 0:
            return
        if len(rows) == 1 or self.num_workers == 0:
            for start in range(0, len(rows), CHUNK_IMAGES):
                yield start, self.decoder.__getitems__(rows[start: start + CHUNK_IMAGES].tolist())
            return
        workers = self.num_workers or min(32, (os.cpu_count() or 1) + 4)
        # Spread a batch over every worker, in chunks of at most CHUNK_IMAGES.
        chunk = max(1, min(CHUNK_IMAGES, math.ceil(len(rows) / workers)))
        starts = range(0, len(rows), chunk)
        chunks = [rows[start: start + chunk].tolist() for start in starts]
        if self.num_workers is None:
            if self._threads is None:
                self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
            # At most two chunks a thread ahead of the caller, so that a long read stays in bounded memory.
            yield from zip(starts, _ordered_map(self._threads, self.decoder.__getitems__, chunks, 2 * workers))
            return
        loader, requests = self._loader(pin_memory)
        requests.chunks = chunks
        try:
            yield from zip(starts, loader)
        finally:
            requests.chunks = []

    def _loader(self, pin_memory: bool) -> tuple[torch.utils.data.DataLoader, _Requests]:
        if pin_memory not in self._loaders:
            requests = _Requests()
            loader = torch.utils.data.DataLoader(
                self.decoder,
                batch_sampler=requests,
                num_workers=self.num_workers,
                collate_fn=_unwrap,
                pin_memory=pin_memory,
                persistent_workers=True,
                # Its own generator: starting an iteration draws a base seed, which must not move the global RNG
                # (model initialisation and any global draw stay as they are without workers).
                generator=torch.Generator(),
            )
            self._loaders[pin_memory] = (loader, requests)
        return self._loaders[pin_memory]

    def find_unreadable(self) -> list[tuple[int, Path, str]]:
        """(row, path, PIL's message) of every file of the table that cannot be decoded: one decoding pass over
        the split, a few chunks at a time (pixels thrown away)."""
        rows = np.arange(self.num_images, dtype=np.int64)
        bad = []
        for start, (_, errors) in self._decoded_chunks(rows, pin_memory=False):
            bad += [(start + position, self.path(start + position), message) for position, message in errors]
        return bad


def _ordered_map(pool: concurrent.futures.Executor, function, items, ahead: int):
    """pool.map(function, items) in order, with at most `ahead` items submitted and not yet consumed."""
    items = iter(items)
    pending = collections.deque(pool.submit(function, item) for item in itertools.islice(items, ahead))
    while pending:
        result = pending.popleft().result()
        for item in itertools.islice(items, 1):
            pending.append(pool.submit(function, item))
        yield result


def _unreadable_message(bad: list[tuple[Path, str]], split_dir: Path) -> str:
    listing = "\n".join(f"  {path}: {error}" for path, error in bad[:20])
    more = f"\n  … and {len(bad) - 20} more" if len(bad) > 20 else ""
    return (
        f"{len(bad)} unreadable image file(s) in {split_dir}:\n{listing}{more}\n"
        "Fix or remove them, or skip them (data.skip_bad_images: true in params.yaml; load_split(skip_bad=True)),"
        " which checks every file of the split when it is loaded."
    )


def scan_image_folder(root: Path, split: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The classes of a split, and each image file's path relative to ``root/<split>`` (bytes) and label, in
    row order: classes sorted, files sorted by name within each class."""
    classes = _folder_classes(root, split)
    split_dir = root / split
    names: list[bytes] = []
    labels: list[int] = []
    for label, class_name in enumerate(classes):
        class_dir = split_dir / class_name
        if not class_dir.is_dir():  # a training class absent from this split
            continue
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() in IMAGE_FILE_SUFFIXES and not path.name.startswith(".") and path.is_file():
                names.append(os.fsencode(Path(class_name) / path.name))
                labels.append(label)
    # One fixed-width bytes array (ImageNet: about 30 bytes a file) rather than a list of Path objects.
    table = np.array(names, dtype=np.bytes_) if names else np.zeros(0, dtype="S1")
    return classes, table, np.asarray(labels, dtype=np.int64)


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
    """The images of `root/<split>/<class>/`, read by index (:class:`LazyImages`): each decoded when asked for,
    resized (shorter side) and centre-cropped to `image_size`, labelled by its class's index among the training
    split's classes (ImageNet layout)."""
    size = DEFAULT_FOLDER_IMAGE_SIZE if image_size is None else int(image_size)
    if size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    classes, names, labels = scan_image_folder(root, split)
    split_dir = root / split
    if not len(names):
        raise DatasetNotFoundError(
            f"image_folder '{split}' split: no image files ({', '.join(sorted(IMAGE_FILE_SUFFIXES))}) in the "
            f"class folders of {split_dir}. {_HOW_TO_GET['image_folder']}",
            dataset=name,
            split=split,
            root=root,
            missing=[split_dir],
        )
    reader = FolderReader(split_dir, names, size, num_workers)
    if skip_bad:
        bad = reader.find_unreadable()
        for _, path, error in bad:
            warnings.warn(f"skipping unreadable image {path} ({error})", stacklevel=4)
        if bad:
            keep = np.ones(len(names), dtype=bool)
            keep[[row for row, _, _ in bad]] = False
            names, labels = names[keep], labels[keep]
            reader = FolderReader(split_dir, names, size, num_workers)
    info = dataclasses.replace(dataset_info(name), image_size=size, num_classes=len(classes))
    return ImageSet(LazyImages(reader), _labels_tensor(labels), info)
