"""Images read from disk when indexed: a stand-in for a split's ``uint8 [N, C, H, W]`` tensor that never holds
the whole split.

Small datasets (Fashion-MNIST, CIFAR, SVHN, STL-10, digits) are loaded whole, as tensors; a dataset too large
for a job's memory (``image_folder``: ImageNet's training split is about 190 GB decoded at 224 px) is a
:class:`LazyImages` instead. It answers what the stages ask of a split's images:

- ``images[i]`` (an int) decodes one image, ``[C, H, W]``; ``images[rows]`` (a slice, an index tensor or array,
  a boolean mask) decodes those rows, ``[len(rows), C, H, W]``, contiguous, like indexing a tensor;
- ``images.subset(rows)`` is a lazy view of those rows (nothing decoded), e.g. one encoder's training set;
- ``images.to(device)`` is a lazy view whose batches land on ``device`` (pinned and copied asynchronously to
  CUDA); ``shape``, ``dtype``, ``len()``, ``contiguous()`` answer as a tensor's do.

It is also a map-style :class:`torch.utils.data.Dataset` (``dataset[i]`` is one image), for a caller that wants
its own DataLoader. What decodes the rows is an :class:`ImageReader`: the image folder's reader
(:class:`sslmem.data.image_folder.FolderReader`) decodes them with PIL in DataLoader worker processes; a tensor
can stand behind one too (:class:`TensorReader`, :func:`assemble`), so that a training set mixing a folder and
an in-memory split (a planted pool) is one lazy set.

Only the file table and the view's row numbers stay in memory (tens of bytes per image), so a job's memory does
not grow with the split; decoded pixels live only as long as the batch that asked for them.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np
import torch


class ImageReader(Protocol):
    """Decodes the rows of one source of images on request."""

    num_images: int
    image_shape: tuple[int, int, int]  # (C, H, W) of every image

    def read(self, rows: np.ndarray, *, pin_memory: bool = False) -> torch.Tensor:
        """uint8 ``[len(rows), C, H, W]`` on the CPU, contiguous (pinned when asked); row k is image rows[k]."""
        ...

    def describe(self) -> str:
        """Where the images come from, for messages."""
        ...


class TensorReader:
    """An in-memory uint8 tensor ``[N, C, H, W]`` behind the reader interface (for :func:`assemble`)."""

    def __init__(self, images: torch.Tensor):
        self.images = images
        self.num_images = int(images.shape[0])
        self.image_shape = tuple(int(size) for size in images.shape[1:])

    def read(self, rows: np.ndarray, *, pin_memory: bool = False) -> torch.Tensor:
        out = self.images[torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64))]
        return out.pin_memory() if pin_memory else out

    def describe(self) -> str:
        return f"an in-memory tensor of {self.num_images} images"


class LazyImages(torch.utils.data.Dataset):
    """The images of a reader (or a view of some of its rows, in any order), decoded only when indexed.

    Args:
        reader: What decodes the rows.
        rows: The reader's row of each image of this view (default: all of them, in order).
        device: Where decoded batches are put.
    """

    dtype = torch.uint8

    def __init__(self, reader: ImageReader, rows: np.ndarray | None = None, device: torch.device | str = "cpu"):
        self.reader = reader
        self.rows = (np.arange(reader.num_images, dtype=np.int64) if rows is None
                     else np.ascontiguousarray(rows, dtype=np.int64))
        if self.rows.ndim != 1:
            raise ValueError(f"rows must be one-dimensional, got shape {self.rows.shape}")
        if len(self.rows) and (self.rows.min() < 0 or self.rows.max() >= reader.num_images):
            raise IndexError(f"rows outside 0..{reader.num_images - 1} of {reader.describe()}")
        self.device = torch.device(device)

    # -- tensor-like answers ------------------------------------------------------------------------------

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.rows), *self.reader.image_shape))

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    @property
    def ndim(self) -> int:
        return 4

    def dim(self) -> int:
        return 4

    def __len__(self) -> int:
        return len(self.rows)

    def contiguous(self) -> LazyImages:
        """Itself: every batch it decodes is contiguous."""
        return self

    def to(self, device: torch.device | str, non_blocking: bool = False) -> LazyImages:
        """A view whose decoded batches are put on ``device`` (nothing is decoded here)."""
        device = torch.device(device)
        return self if device == self.device else LazyImages(self.reader, self.rows, device)

    def cpu(self) -> LazyImages:
        return self.to("cpu")

    def subset(self, index: Any) -> LazyImages:
        """A lazy view of the images ``index`` selects (anything :meth:`__getitem__` takes but an int)."""
        return LazyImages(self.reader, self.rows[self._positions(index)], self.device)

    @property
    def resident_bytes(self) -> int:
        """Bytes this view keeps in memory for its images: its row numbers and the reader's table (no pixels)."""
        return int(self.rows.nbytes) + int(getattr(self.reader, "resident_bytes", 0))

    @property
    def decoded_bytes(self) -> int:
        """Bytes the view's images would take decoded all at once (what a tensor of the split would hold)."""
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self) -> str:
        shape = "x".join(str(size) for size in self.reader.image_shape)
        return (f"LazyImages({len(self)} images of {shape} uint8 from {self.reader.describe()}, decoded when "
                f"indexed, on {self.device})")

    # -- reading ------------------------------------------------------------------------------------------

    def __getitem__(self, index: Any) -> torch.Tensor:
        """One image ``[C, H, W]`` for an int; the selected images ``[k, C, H, W]`` (decoded now) otherwise."""
        if _is_int(index):
            position = operator.index(index) if not isinstance(index, torch.Tensor) else int(index.item())
            if not -len(self) <= position < len(self):
                raise IndexError(f"index {position} is out of range for {len(self)} images")
            return self._read(self.rows[[position]])[0]
        return self._read(self.rows[self._positions(index)])

    def __iter__(self):
        for position in range(len(self)):
            yield self[position]

    def _read(self, rows: np.ndarray) -> torch.Tensor:
        to_cuda = self.device.type == "cuda"
        images = self.reader.read(rows, pin_memory=to_cuda)
        return images.to(self.device, non_blocking=True) if to_cuda else images.to(self.device)

    def _positions(self, index: Any) -> np.ndarray:
        """Positions in this view selected by a slice, an index tensor/array/list or a boolean mask."""
        if isinstance(index, slice):
            return np.arange(len(self), dtype=np.int64)[index]
        if isinstance(index, tuple):
            raise TypeError(
                "LazyImages indexes whole images only (along the first dimension); read the images first "
                "(images[rows]) and index the tensor that gives"
            )
        if isinstance(index, torch.Tensor):
            index = index.detach().cpu().numpy()
        positions = np.asarray(index)
        if positions.dtype == np.bool_:
            if positions.shape != (len(self),):
                raise IndexError(f"a boolean mask of shape {positions.shape} for {len(self)} images")
            return np.flatnonzero(positions)
        if positions.size == 0:
            return np.zeros(0, dtype=np.int64)
        if positions.ndim != 1 or not np.issubdtype(positions.dtype, np.integer):
            raise IndexError(f"index images with ints, slices, 1-D integer arrays or masks, got {positions.dtype} "
                             f"of shape {positions.shape}")
        positions = positions.astype(np.int64)
        if positions.min() < -len(self) or positions.max() >= len(self):
            raise IndexError(f"index out of range for {len(self)} images")
        return np.where(positions < 0, positions + len(self), positions)


def _is_int(index: Any) -> bool:
    if isinstance(index, torch.Tensor):
        return index.ndim == 0 and not index.is_floating_point() and index.dtype != torch.bool
    if isinstance(index, (bool, np.bool_)):
        return False
    try:
        operator.index(index)
    except TypeError:
        return False
    return not isinstance(index, np.ndarray) or index.ndim == 0


def is_lazy(images: Any) -> bool:
    return isinstance(images, LazyImages)


class _GatherReader:
    """Images taken from several sources (tensors or lazy sets): row r is ``parts[part[r]]``'s image ``row[r]``."""

    def __init__(self, parts: Sequence[LazyImages | TensorReader], part: np.ndarray, row: np.ndarray):
        shapes = {tuple(p.reader.image_shape if isinstance(p, LazyImages) else p.image_shape) for p in parts}
        if len(shapes) != 1:
            raise ValueError(f"images of different shapes cannot be gathered: {sorted(shapes)}")
        self.parts, self.part, self.row = list(parts), part, row
        self.num_images = len(part)
        self.image_shape = shapes.pop()

    @property
    def resident_bytes(self) -> int:
        owned = sum(p.resident_bytes if isinstance(p, LazyImages) else p.images.nbytes for p in self.parts)
        return int(self.part.nbytes + self.row.nbytes + owned)

    def read(self, rows: np.ndarray, *, pin_memory: bool = False) -> torch.Tensor:
        out = torch.empty((len(rows), *self.image_shape), dtype=torch.uint8, pin_memory=pin_memory)
        parts = self.part[rows]
        for number, source in enumerate(self.parts):
            where = np.flatnonzero(parts == number)
            if len(where):
                wanted = self.row[rows[where]]
                images = source._read(source.rows[wanted]) if isinstance(source, LazyImages) else source.read(wanted)
                out[torch.from_numpy(where)] = images.cpu()
        return out

    def describe(self) -> str:
        return " and ".join(p.reader.describe() if isinstance(p, LazyImages) else p.describe() for p in self.parts)


def assemble(count: int, parts: Iterable[tuple[Any, np.ndarray, np.ndarray]]) -> torch.Tensor | LazyImages:
    """The images of ``count`` slots put together from parts ``(images, slots, rows)``: slot ``slots[k]`` holds
    image ``rows[k]`` of that part's images (a tensor or a :class:`LazyImages`).

    All tensors: one tensor, filled exactly as ``out[slots] = images[rows]`` (what the in-memory path always
    did). Any lazy part: a :class:`LazyImages` (a view of the one lazy set when it fills every slot; otherwise a
    gather over the parts, the tensors' rows taken from memory), nothing decoded.
    """
    parts = [(images, np.asarray(slots, dtype=np.int64), np.asarray(rows, dtype=np.int64))
             for images, slots, rows in parts]
    if not parts:
        raise ValueError("no images to assemble")
    if not any(is_lazy(images) for images, _, _ in parts):
        out = None
        for images, slots, rows in parts:
            if out is None:
                out = torch.empty((count, *images.shape[1:]), dtype=images.dtype)
            out[torch.from_numpy(slots)] = images[torch.from_numpy(rows)]
        return out
    filled = np.zeros(count, dtype=bool)
    for _, slots, _ in parts:
        filled[slots] = True
    if not filled.all():
        raise ValueError(f"{int((~filled).sum())} of {count} slots get no image")
    if len(parts) == 1:
        images, slots, rows = parts[0]
        order = np.empty(count, dtype=np.int64)
        order[slots] = rows
        return images.subset(order)
    part = np.empty(count, dtype=np.int64)
    row = np.empty(count, dtype=np.int64)
    sources = []
    for number, (images, slots, rows) in enumerate(parts):
        part[slots], row[slots] = number, rows
        sources.append(images if is_lazy(images) else TensorReader(images))
    return LazyImages(_GatherReader(sources, part, row))
