"""image_folder read by index (sslmem.data.lazy, sslmem.data.image_folder): JPEG files in class folders, as an
ImageNet-style folder holds them, load one by one when indexed, give the pixels the loader gave when it decoded
a whole split into memory, hold no decoded pixels, name a missing or corrupt file, and train an encoder exactly
as the same images held in memory do."""

from __future__ import annotations

import gc

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sslmem import io as sio
from sslmem.augment import AugmentSpec
from sslmem.data import image_folder
from sslmem.data.datasets import UnreadableImageError, load_split
from sslmem.data.lazy import LazyImages, assemble
from sslmem.training import TrainData, TrainingOptions, TrainingSpec, train_encoder
from sslmem.training.data import slot_images

SIZE = 24
WORKER_MODES = pytest.mark.parametrize("num_workers", [None, 0, 2], ids=["threads", "in-process", "workers"])


@pytest.fixture(params=[32, 4], ids=["one-chunk", "chunks-of-4"])
def chunk_images(request, monkeypatch):
    """Reads in one chunk, and in chunks of 4 images (what a batch of a large folder is cut into)."""
    monkeypatch.setattr(image_folder, "CHUNK_IMAGES", request.param)
    return request.param


def write_folder(root: Path, split: str = "train", per_class: int = 5, classes=("ant", "bee", "cat")) -> list[Path]:
    """<root>/<split>/<class>/<n>.JPEG: smooth images with noise, of different sizes and aspect ratios (some need
    no resize, some are taller than wide), RGB and grayscale; returns the files in the loader's row order."""
    rng = np.random.default_rng(0)
    files = []
    for number, class_name in enumerate(classes):
        folder = root / split / class_name
        folder.mkdir(parents=True)
        for index in range(per_class):
            height, width = [(SIZE, SIZE), (30, 41), (52, 37), (24, 60), (33, 33)][index % 5]
            y, x = np.mgrid[0:height, 0:width]
            base = np.stack([x * 255 / width, y * 255 / height, (x + y + 40 * number) % 256], axis=-1)
            pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels, "RGB")
            if index == 3:
                image = image.convert("L")
            path = folder / f"{index:04d}.JPEG"
            image.save(path, quality=90)
            files.append(path)
    return files


def old_eager_pixels(files: list[Path], size: int) -> torch.Tensor:
    """What the loader gave before it read by index: every file decoded, RGB, shorter side resized to `size`
    (bilinear) and the centre square cropped, in one uint8 tensor, here through torchvision's own transforms."""
    from torchvision import transforms

    pipeline = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
    out = []
    for path in files:
        with Image.open(path) as image:
            out.append(pipeline(image.convert("RGB")))
    return torch.stack(out)


@pytest.fixture
def folder(tmp_path) -> tuple[Path, list[Path]]:
    return tmp_path, write_folder(tmp_path)


@WORKER_MODES
def test_items_load_by_index_and_match_the_eager_loader(folder, num_workers, chunk_images):
    root, files = folder
    expected = old_eager_pixels(files, SIZE)
    loaded = load_split("image_folder", root, "train", image_size=SIZE, num_workers=num_workers)
    images = loaded.images
    assert isinstance(images, LazyImages) and not loaded.in_memory
    assert images.shape == (15, 3, SIZE, SIZE) and images.dtype == torch.uint8 and len(images) == 15
    assert loaded.labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert loaded.info.image_size == SIZE and loaded.info.num_classes == 3

    everything = images[:]
    assert everything.dtype == torch.uint8 and everything.is_contiguous()
    assert torch.equal(everything, expected)
    assert torch.equal(images[7], expected[7]) and torch.equal(images[-1], expected[-1])
    rows = torch.tensor([14, 0, 7, 7, 3])
    assert torch.equal(images[rows], expected[rows])
    assert torch.equal(images[rows.numpy()], expected[rows]) and torch.equal(images[[2, 1]], expected[[2, 1]])
    assert torch.equal(images[torch.arange(15) % 2 == 0], expected[::2])
    assert torch.equal(images[3:9:2], expected[3:9:2])
    assert images[torch.tensor([], dtype=torch.long)].shape == (0, 3, SIZE, SIZE)
    assert torch.equal(torch.stack(list(images)), expected)  # iterating, as a map-style Dataset would be read

    view = images.subset(rows)  # a lazy view: nothing decoded
    assert isinstance(view, LazyImages) and view.shape == (5, 3, SIZE, SIZE)
    assert torch.equal(view[:], expected[rows]) and torch.equal(view.subset([4, 0])[:], expected[[3, 14]])
    assert images.to("cpu") is images and images.contiguous() is images

    # Reading again reuses the same readers (persistent workers) and gives the same pixels.
    assert torch.equal(images[rows], expected[rows])


def test_index_errors_are_clear(folder):
    root, _ = folder
    images = load_split("image_folder", root, "train", image_size=SIZE, num_workers=0).images
    with pytest.raises(IndexError, match="out of range"):
        images[15]
    with pytest.raises(IndexError, match="out of range"):
        images[torch.tensor([0, 15])]
    with pytest.raises(TypeError, match="whole images only"):
        images[:, 0]


def test_the_split_is_not_decoded_into_memory(folder):
    root, _ = folder
    images = load_split("image_folder", root, "train", image_size=SIZE, num_workers=2).images
    decoded = 15 * 3 * SIZE * SIZE
    assert images.decoded_bytes == decoded
    # What it holds: a table of relative file names and the row numbers, tens of bytes per image.
    assert images.resident_bytes < 40 * 15
    assert len(pickle.dumps(images)) < decoded / 4
    held = [value for value in vars(images.reader.decoder).values() if isinstance(value, (np.ndarray, torch.Tensor))]
    assert all(array.nbytes < 40 * 15 for array in held)
    images[:]  # a read leaves nothing behind: the reader keeps no decoded pixels either
    assert len(pickle.dumps(images)) < decoded / 4


@WORKER_MODES
def test_a_missing_or_corrupt_file_is_named(folder, num_workers, chunk_images):
    root, files = folder
    loaded = load_split("image_folder", root, "train", image_size=SIZE, num_workers=num_workers)
    files[2].unlink()  # gone after the folder was listed
    files[6].write_bytes(b"not a JPEG at all")  # corrupt
    with pytest.raises(UnreadableImageError, match=re.escape(str(files[2]))) as caught:
        loaded.images[2]
    assert caught.value.paths == [files[2]] and "FileNotFoundError" in str(caught.value)
    with pytest.raises(UnreadableImageError) as caught:
        loaded.images[:]
    assert caught.value.paths == [files[2], files[6]]
    assert str(files[2]) in str(caught.value) and str(files[6]) in str(caught.value)
    assert "2 unreadable image file(s)" in str(caught.value) and "skip_bad_images" in str(caught.value)
    assert torch.equal(loaded.images[[0, 1, 3]], old_eager_pixels([files[0], files[1], files[3]], SIZE))

    # skip_bad: every file listed is checked when the split is loaded (the missing one is no longer listed), the
    # bad ones left out, each named in a warning.
    with pytest.warns(UserWarning, match=re.escape(f"skipping unreadable image {files[6]}")):
        skipped = load_split("image_folder", root, "train", image_size=SIZE, num_workers=num_workers, skip_bad=True)
    assert len(skipped) == 13 and skipped.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 5
    kept = [path for index, path in enumerate(files) if index not in (2, 6)]
    assert torch.equal(skipped.images[:], old_eager_pixels(kept, SIZE))
    # Shut the readers' worker processes down now: left to a later garbage collection (another test's), the
    # DataLoader's shutdown waited out its 5 s join timeout per worker there (20-40 s of CI per run).
    del caught, skipped, loaded
    gc.collect()


def test_reading_with_workers_leaves_the_global_random_stream_alone(folder):
    root, _ = folder
    images = load_split("image_folder", root, "train", image_size=SIZE, num_workers=2).images
    torch.manual_seed(123)
    state = torch.get_rng_state()
    images[:]
    images[torch.tensor([1, 2, 3])]
    assert torch.equal(torch.get_rng_state(), state)


def test_assemble_fills_tensors_as_before_and_keeps_folders_lazy(folder):
    root, files = folder
    expected = old_eager_pixels(files, SIZE)
    lazy = load_split("image_folder", root, "train", image_size=SIZE, num_workers=0).images
    slots, rows = np.array([2, 0, 1]), np.array([9, 4, 11])

    in_memory = slot_images(3, [(expected, slots, rows)])
    reference = torch.empty((3, 3, SIZE, SIZE), dtype=torch.uint8)
    reference[torch.from_numpy(slots)] = expected[torch.from_numpy(rows)]
    assert isinstance(in_memory, torch.Tensor) and torch.equal(in_memory, reference)

    view = slot_images(3, [(lazy, slots, rows)])
    assert isinstance(view, LazyImages) and torch.equal(view[:], reference)

    # A folder and an in-memory split (a planted pool) in one training set: still lazy, each slot its image.
    foreign = torch.randint(0, 256, (4, 3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    mixed = assemble(5, [(lazy, np.array([0, 3, 4]), np.array([1, 2, 3])),
                         (foreign, np.array([2, 1]), np.array([0, 3]))])
    assert isinstance(mixed, LazyImages)
    assert torch.equal(mixed[:], torch.stack([expected[1], foreign[3], foreign[0], expected[2], expected[3]]))
    assert torch.equal(mixed[[4, 2]], torch.stack([expected[3], foreign[0]]))
    with pytest.raises(ValueError, match="slots get no image"):
        assemble(4, [(lazy, np.array([0, 1]), np.array([0, 1]))])


TRAIN_SPEC = TrainingSpec(
    method="supervised",
    recipe={"epochs": 2, "warmup_epochs": 0, "batch_size": 4, "optimizer": "sgd", "lr": 0.05, "weight_decay": 0.0,
            "momentum": 0.9, "num_classes": 3},
    arch="vit_tiny",
    arch_cfg={"patch_size": 8, "depth": 1},
    augment=AugmentSpec(),
    image_size=SIZE,
    mean=(0.5, 0.5, 0.5),
    std=(0.25, 0.25, 0.25),
    seed=0,
    role="f",
)


def test_training_on_the_folder_read_by_index_equals_training_on_it_in_memory(folder, tmp_path):
    """The loop indexes a lazy training set as it indexes a tensor: same batches, same augmentation draws, same
    weights, bit for bit."""
    root, _ = folder
    loaded = load_split("image_folder", root, "train", image_size=SIZE, num_workers=2)
    ids = np.array([3, 14, 0, 9, 5, 11, 7, 1, 12, 6])
    lazy = slot_images(len(ids), [(loaded.images, np.arange(len(ids)), ids)])
    assert isinstance(lazy, LazyImages)
    results = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, images in [("lazy", lazy), ("memory", lazy[:])]:
            data = TrainData(images, ids, labels=loaded.labels[torch.from_numpy(ids)])
            options = TrainingOptions(device=torch.device("cpu"), out_path=tmp_path / f"{name}.pt",
                                      resume_path=tmp_path / f"{name}.resume.pt",
                                      meta={"params_hash": "x", "split_hash": "y"}, progress=False)
            log = train_encoder(TRAIN_SPEC, data, options).log
            results[name] = ([row["loss"] for row in log], sio.load_checkpoint(tmp_path / f"{name}.pt"))
    finally:
        torch.set_num_threads(threads)
    assert results["lazy"][0] == results["memory"][0]
    lazy_state, memory_state = (results[name][1]["model"] for name in ("lazy", "memory"))
    assert lazy_state.keys() == memory_state.keys()
    assert all(torch.equal(lazy_state[key], memory_state[key]) for key in lazy_state)
