"""Dataset loaders: each format is written to disk as its publisher lays it out, then read back with load_split.

Real images come from foolbox's wheel (20 CIFAR-10, 20 CIFAR-100 test images and 20 ImageNet JPEGs in
foolbox/data/, the label being the last number of each file name); tests that need them skip when foolbox
is not installed. Everything else uses small random images, so the whole file runs in a few seconds.
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sslmem.data.datasets import (
    DATASETS,
    FASHION_MNIST_SYSTEM_ROOT,
    DatasetInfo,
    DatasetNotFoundError,
    ImageSet,
    UnreadableImageError,
    check_root,
    dataset_info,
    load_split,
)

# ------------------------------------------------------------------------------------------------------------
# Helpers that write each format exactly as published (and as torchvision reads it)
# ------------------------------------------------------------------------------------------------------------


def random_images(count: int, size: int, seed: int, channels: int = 3) -> np.ndarray:
    """uint8 [count, channels, size, size] noise: every pixel value matters for the round-trip checks."""
    return np.random.default_rng(seed).integers(0, 256, (count, channels, size, size), dtype=np.uint8)


def write_pickle(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        pickle.dump(payload, file, protocol=2)  # the published batches are Python 2 pickles


def write_cifar10(root: Path, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> None:
    """cifar-10-batches-py/: five training batches, one test batch, batches.meta (rows are flattened CHW)."""
    folder = root / "cifar-10-batches-py"
    train_images, train_labels = train
    for number, rows in enumerate(np.array_split(np.arange(len(train_labels)), 5), start=1):
        write_pickle(
            folder / f"data_batch_{number}",
            {
                "batch_label": f"training batch {number} of 5",
                "data": train_images[rows].reshape(len(rows), -1),
                "labels": [int(label) for label in train_labels[rows]],
            },
        )
    test_images, test_labels = test
    write_pickle(
        folder / "test_batch",
        {"data": test_images.reshape(len(test_labels), -1), "labels": [int(label) for label in test_labels]},
    )
    write_pickle(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072})


def write_cifar100(root: Path, split: str, images: np.ndarray, fine_labels: np.ndarray) -> None:
    """cifar-100-python/: one pickle per split with fine and coarse labels, plus meta."""
    folder = root / "cifar-100-python"
    write_pickle(
        folder / split,
        {
            "data": images.reshape(len(fine_labels), -1),
            "fine_labels": [int(label) for label in fine_labels],
            "coarse_labels": [int(label) // 5 for label in fine_labels],
        },
    )
    write_pickle(
        folder / "meta",
        {"fine_label_names": [f"fine{i}" for i in range(100)], "coarse_label_names": [f"c{i}" for i in range(20)]},
    )


def write_idx(path: Path, array: np.ndarray, magic: int, compress: bool) -> None:
    """IDX: big-endian int32 magic (0x0803 images, 0x0801 labels), one int32 per dimension, then the bytes."""
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if compress else payload)


def write_fashion_mnist(folder: Path, split: str, images: np.ndarray, labels: np.ndarray, compress: bool) -> None:
    prefix = "train" if split == "train" else "t10k"
    suffix = ".gz" if compress else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, 2051, compress)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, 2049, compress)


def write_stl10(root: Path, split: str, images: np.ndarray, labels: np.ndarray | None = None) -> None:
    """stl10_binary/<split>_X.bin (and <split>_y.bin when labelled): each image's channels stored column-major
    (Matlab order, bytes [N, C, W, H]), labels 1-based uint8; the unlabelled split has only unlabeled_X.bin."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}_X.bin").write_bytes(np.ascontiguousarray(images.transpose(0, 1, 3, 2)).tobytes())
    if labels is not None:
        (folder / f"{split}_y.bin").write_bytes((np.asarray(labels) + 1).astype(np.uint8).tobytes())


def assert_image_set(loaded: ImageSet, images: np.ndarray, labels: np.ndarray, name: str) -> None:
    """The loaded set equals what was written: pixels, labels, dtypes, layout and info."""
    assert loaded.images.dtype == torch.uint8
    assert loaded.images.is_contiguous()
    assert loaded.images.shape == (len(labels), 3, *images.shape[2:])
    assert loaded.labels.dtype == torch.int64
    assert loaded.labels.shape == (len(labels),)
    np.testing.assert_array_equal(loaded.images.numpy(), np.broadcast_to(images, loaded.images.shape))
    np.testing.assert_array_equal(loaded.labels.numpy(), labels)
    assert loaded.info == dataset_info(name)
    assert len(loaded) == len(labels)


# ------------------------------------------------------------------------------------------------------------
# Real images shipped in foolbox's wheel
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def foolbox_data_dir() -> Path:
    # find_spec locates the package without importing it (importing foolbox pulls in eagerpy and more).
    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("foolbox==3.3.4 (test extra) is not installed; its wheel carries the real sample images")
    data_dir = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not any(data_dir.glob("cifar10_*.png")):
        pytest.skip(f"no sample images in {data_dir}")
    return data_dir


def read_samples(data_dir: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """foolbox's <prefix>_<index>_<label>.png files as uint8 [N, 3, H, W] and int64 labels, in index order."""
    pattern = re.compile(rf"{prefix}_(\d+)_(\d+)\.png")
    found = sorted(
        (int(match[1]), int(match[2]), path) for path in data_dir.iterdir() if (match := pattern.fullmatch(path.name))
    )
    images = np.stack([np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1) for _, _, path in found])
    return images, np.array([label for _, label, _ in found], dtype=np.int64)


def test_cifar10_real_images_round_trip(tmp_path, foolbox_data_dir):
    images, labels = read_samples(foolbox_data_dir, "cifar10")
    assert images.shape == (20, 3, 32, 32)
    write_cifar10(tmp_path, train=(images, labels), test=(images[:7], labels[:7]))
    assert_image_set(load_split("cifar10", tmp_path, "train"), images, labels, "cifar10")
    assert_image_set(load_split("cifar10", tmp_path, "test"), images[:7], labels[:7], "cifar10")


def test_cifar100_real_images_round_trip(tmp_path, foolbox_data_dir):
    images, labels = read_samples(foolbox_data_dir, "cifar100")
    assert images.shape == (20, 3, 32, 32)
    write_cifar100(tmp_path, "test", images, labels)
    assert_image_set(load_split("cifar100", tmp_path, "test"), images, labels, "cifar100")


def test_image_folder_real_jpegs(tmp_path, foolbox_data_dir):
    jpegs = sorted(foolbox_data_dir.glob("imagenet_0[0-3]_*.jpg"))
    assert len(jpegs) == 4
    for number, path in enumerate(jpegs):
        class_dir = tmp_path / "test" / f"class{number % 2}"
        class_dir.mkdir(parents=True, exist_ok=True)
        (class_dir / path.name).write_bytes(path.read_bytes())
    loaded = load_split("image_folder", tmp_path, "test", image_size=64)
    assert loaded.images.shape == (4, 3, 64, 64)
    assert loaded.labels.tolist() == [0, 0, 1, 1]  # files 00, 02 in class0; 01, 03 in class1
    assert loaded.images[:].float().std() > 10  # real photographs, not a blank decode


# ------------------------------------------------------------------------------------------------------------
# Each format, written and read back
# ------------------------------------------------------------------------------------------------------------


def test_cifar10_round_trip(tmp_path):
    train_images, train_labels = random_images(23, 32, seed=0), np.arange(23) % 10
    test_images, test_labels = random_images(6, 32, seed=1), np.array([9, 0, 3, 3, 1, 2])
    write_cifar10(tmp_path, (train_images, train_labels), (test_images, test_labels))
    assert_image_set(load_split("cifar10", tmp_path, "train"), train_images, train_labels, "cifar10")
    assert_image_set(load_split("cifar10", str(tmp_path), "test"), test_images, test_labels, "cifar10")
    # download=True keeps files that are present (their md5 differs from the published ones on purpose).
    assert_image_set(load_split("cifar10", tmp_path, "test", download=True), test_images, test_labels, "cifar10")


def test_cifar100_round_trip_uses_fine_labels(tmp_path):
    images, fine_labels = random_images(8, 32, seed=2), np.array([0, 99, 42, 7, 7, 13, 64, 5])
    write_cifar100(tmp_path, "train", images, fine_labels)
    assert_image_set(load_split("cifar100", tmp_path, "train"), images, fine_labels, "cifar100")
    with pytest.raises(DatasetNotFoundError, match="cifar-100-python/test"):
        load_split("cifar100", tmp_path, "test")  # only the train pickle was written


@pytest.mark.parametrize("download", [False, True], ids=["local", "download-flag-keeps-present-files"])
def test_svhn_round_trip_maps_label_10_to_digit_0(tmp_path, download):
    scipy_io = pytest.importorskip("scipy.io")
    images = random_images(5, 32, seed=3)
    stored_labels = np.array([[10], [1], [9], [10], [5]], dtype=np.uint8)  # the .mat files store digit 0 as 10
    # The published .mat holds X as [H, W, C, N].
    scipy_io.savemat(tmp_path / "test_32x32.mat", {"X": images.transpose(2, 3, 1, 0), "y": stored_labels})
    # With download=True, files already present are used as they are (no network, no md5 re-download).
    loaded = load_split("svhn", tmp_path, "test", download=download)
    assert_image_set(loaded, images, np.array([0, 1, 9, 0, 5]), "svhn")


def test_stl10_round_trip_reads_column_major_binary(tmp_path):
    images, labels = random_images(4, 96, seed=4), np.array([0, 9, 3, 3])
    # STL-10's binaries store each channel column-major (Matlab order): bytes are [N, C, W, H].
    write_stl10(tmp_path, "train", images, labels)
    # No unlabeled_X.bin: the labelled train split must load without the 2.6 GB unlabelled file.
    assert_image_set(load_split("stl10", tmp_path, "train"), images, labels, "stl10")
    assert_image_set(load_split("stl10", tmp_path, "train", download=True), images, labels, "stl10")
    check_root("stl10", tmp_path, "train")


@pytest.mark.parametrize("download", [False, True])
def test_stl10_unlabeled_split_is_read_with_labels_minus_one(tmp_path, download):
    images = random_images(5, 96, seed=5)
    # Only unlabeled_X.bin: the unlabelled split needs neither the labelled files nor a label file.
    write_stl10(tmp_path, "unlabeled", images)
    loaded = load_split("stl10", tmp_path, "unlabeled", download=download)
    assert_image_set(loaded, images, np.full(5, -1), "stl10")
    check_root("stl10", tmp_path, "unlabeled")


def test_stl10_pool_split_is_the_unlabeled_one_and_root_check_needs_it(tmp_path):
    info = dataset_info("stl10")
    assert (info.pool_split, info.pool_split_size, info.train_size) == ("unlabeled", 100000, 5000)
    assert info.splits == ("train", "test", "unlabeled") and not info.pool_is_labelled
    for name in ("fashion_mnist", "cifar10", "cifar100", "svhn", "image_folder"):
        other = dataset_info(name)
        assert (other.pool_split, other.pool_split_size, other.splits) == ("train", other.train_size, ("train", "test"))
    # The default root check covers the splits training reads: the labelled train split (the probe's) and the
    # pool split, all missing files in one message that says where the archive comes from.
    write_stl10(tmp_path, "train", random_images(2, 96, seed=6), np.array([1, 2]))
    with pytest.raises(DatasetNotFoundError) as caught:
        check_root("stl10", tmp_path)
    message = str(caught.value)
    assert "stl10 'unlabeled' split not found" in message and "unlabeled_X.bin" in message
    assert "stl10_binary.tar.gz" in message and "data.download: true" in message
    assert caught.value.missing == [tmp_path / "stl10_binary" / "unlabeled_X.bin"] and caught.value.split == "unlabeled"
    with pytest.raises(DatasetNotFoundError, match="unlabeled_X.bin"):
        load_split("stl10", tmp_path, "unlabeled")
    write_stl10(tmp_path, "unlabeled", random_images(3, 96, seed=7))
    check_root("stl10", tmp_path)
    # An empty root names the files of both splits.
    with pytest.raises(DatasetNotFoundError) as caught:
        check_root("stl10", tmp_path / "empty")
    assert "'train' and 'unlabeled' splits not found" in str(caught.value)
    assert [path.name for path in caught.value.missing] == ["train_X.bin", "train_y.bin", "unlabeled_X.bin"]


def test_unlabeled_split_only_for_datasets_that_have_one(tmp_path):
    for check in (lambda: load_split("cifar10", tmp_path, "unlabeled"),
                  lambda: check_root("fashion_mnist", tmp_path, "unlabeled")):
        with pytest.raises(ValueError, match=r"has no 'unlabeled' split; its splits are train, test$"):
            check()


@pytest.mark.parametrize("compress", [True, False], ids=["gzipped", "plain"])
def test_fashion_mnist_idx_round_trip(tmp_path, compress):
    images, labels = random_images(7, 28, seed=5, channels=1), np.array([3, 1, 4, 1, 5, 9, 2])
    write_fashion_mnist(tmp_path, "test", images[:, 0], labels, compress)
    assert_image_set(load_split("fashion_mnist", tmp_path, "test"), images, labels, "fashion_mnist")
    loaded = load_split("fashion_mnist", tmp_path, "test")
    assert torch.equal(loaded.images[:, 0], loaded.images[:, 2])  # grayscale repeated to three channels


def test_fashion_mnist_torchvision_layout(tmp_path):
    images, labels = random_images(3, 28, seed=6, channels=1), np.array([0, 8, 9])
    write_fashion_mnist(tmp_path / "FashionMNIST" / "raw", "train", images[:, 0], labels, compress=False)
    assert_image_set(load_split("fashion_mnist", tmp_path, "train"), images, labels, "fashion_mnist")
    assert_image_set(load_split("fashion_mnist", tmp_path, "train", download=True), images, labels, "fashion_mnist")


def test_fashion_mnist_rejects_wrong_magic(tmp_path):
    images, labels = random_images(2, 28, seed=7, channels=1), np.array([0, 1])
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images[:, 0], 2049, compress=True)  # a labels magic
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, 2049, compress=True)
    with pytest.raises(ValueError, match="magic"):
        load_split("fashion_mnist", tmp_path, "train")


@pytest.mark.skipif(not FASHION_MNIST_SYSTEM_ROOT.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_debian_package():
    train = load_split("fashion_mnist", FASHION_MNIST_SYSTEM_ROOT, "train")
    test = load_split("fashion_mnist", FASHION_MNIST_SYSTEM_ROOT, "test")
    assert train.images.shape == (60000, 3, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (10000, 3, 28, 28)
    assert train.labels.bincount().tolist() == [6000] * 10
    assert test.labels.bincount().tolist() == [1000] * 10
    # The registry's normalisation constants are the training set's own statistics.
    pixels = train.images[:, 0].float() / 255
    info = dataset_info("fashion_mnist")
    assert pixels.mean().item() == pytest.approx(info.mean[0], abs=1e-4)
    assert pixels.std().item() == pytest.approx(info.std[0], abs=1e-4)


# ------------------------------------------------------------------------------------------------------------
# image_folder
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def mixed_folder(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    """test/<class>/ with an RGB PNG, a grayscale JPEG, an RGBA PNG and a non-image file, all 32x32."""
    rgb, gray, rgba = (
        random_images(1, 32, seed=8)[0],
        random_images(1, 32, seed=9, channels=1)[0],
        random_images(1, 32, seed=10, channels=4)[0],
    )
    (tmp_path / "test" / "zebra").mkdir(parents=True)
    (tmp_path / "test" / "apple").mkdir(parents=True)
    Image.fromarray(rgb.transpose(1, 2, 0), "RGB").save(tmp_path / "test" / "zebra" / "a.png")
    Image.fromarray(gray[0], "L").save(tmp_path / "test" / "apple" / "b.jpg", quality=95)
    Image.fromarray(rgba.transpose(1, 2, 0), "RGBA").save(tmp_path / "test" / "apple" / "c.png")
    (tmp_path / "test" / "apple" / "notes.txt").write_text("not an image")
    return tmp_path, {"rgb": rgb, "gray": gray, "rgba": rgba}


def test_image_folder_converts_modes_and_labels_sorted_classes(mixed_folder):
    root, written = mixed_folder
    loaded = load_split("image_folder", root, "test", image_size=32)
    assert loaded.images.shape == (3, 3, 32, 32) and loaded.images.dtype == torch.uint8
    assert not loaded.in_memory and loaded.images[:].is_contiguous()
    # Sorted class names: apple -> 0 (b.jpg, c.png), zebra -> 1 (a.png).
    assert loaded.labels.tolist() == [0, 0, 1]
    assert loaded.info == DatasetInfo(
        "image_folder", 32, 2, dataset_info("image_folder").mean, dataset_info("image_folder").std
    )
    gray_jpeg, rgba_png, rgb_png = loaded.images[:].numpy().astype(int)
    np.testing.assert_array_equal(rgb_png, written["rgb"])  # PNG is lossless and 32 needs no resize
    np.testing.assert_array_equal(rgba_png, written["rgba"][:3])  # alpha dropped
    assert (gray_jpeg[0] == gray_jpeg[1]).all() and (gray_jpeg[1] == gray_jpeg[2]).all()
    assert np.abs(gray_jpeg[0] - written["gray"][0].astype(int)).mean() < 12  # JPEG is lossy, but close


def test_image_folder_resize_matches_torchvision(tmp_path):
    from torchvision import transforms

    image = Image.fromarray(random_images(1, 64, seed=11)[0].transpose(1, 2, 0)[:40], "RGB")  # 64 wide, 40 high
    (tmp_path / "train" / "only").mkdir(parents=True)
    image.save(tmp_path / "train" / "only" / "wide.png")
    loaded = load_split("image_folder", tmp_path, "train", image_size=24)
    expected = transforms.Compose([transforms.Resize(24), transforms.CenterCrop(24), transforms.PILToTensor()])(image)
    assert loaded.images.shape == (1, 3, 24, 24)
    assert torch.equal(loaded.images[0], expected)


def test_image_folder_default_size_is_224(mixed_folder):
    root, _ = mixed_folder
    assert load_split("image_folder", root, "test").images.shape == (3, 3, 224, 224)


def test_image_folder_test_labels_follow_training_classes(tmp_path):
    for split, classes in [("train", ["ant", "bee", "cat"]), ("test", ["cat"])]:
        for class_name in classes:
            (tmp_path / split / class_name).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / split / class_name / "x.png")
    loaded = load_split("image_folder", tmp_path, "test", image_size=8)
    assert loaded.labels.tolist() == [2] and loaded.info.num_classes == 3


@pytest.mark.parametrize("num_workers", [None, 0, 2], ids=["threads", "in-process", "workers"])
def test_truncated_image_is_named_when_read_or_skipped(mixed_folder, num_workers):
    root, _ = mixed_folder
    good = root / "test" / "zebra" / "a.png"
    truncated = root / "test" / "zebra" / "broken.png"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    # Read by index: loading lists the files; the read that reaches the broken one names it.
    loaded = load_split("image_folder", root, "test", image_size=32, num_workers=num_workers)
    assert len(loaded) == 4 and loaded.images[0].shape == (3, 32, 32)
    for read in (lambda: loaded.images[3], lambda: loaded.images[:], lambda: loaded.images[torch.tensor([3, 0])]):
        with pytest.raises(UnreadableImageError, match=re.escape(str(truncated))) as caught:
            read()
        assert caught.value.paths == [truncated]

    with pytest.warns(UserWarning, match=re.escape(str(truncated))):
        loaded = load_split("image_folder", root, "test", image_size=32, skip_bad=True, num_workers=num_workers)
    assert loaded.images.shape == (3, 3, 32, 32)
    assert loaded.labels.tolist() == [0, 0, 1]
    assert loaded.images[:].shape == (3, 3, 32, 32)


def test_image_folder_without_images_is_not_found(tmp_path):
    (tmp_path / "train" / "empty_class").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no image files"):
        load_split("image_folder", tmp_path, "train")


# ------------------------------------------------------------------------------------------------------------
# Registry and errors
# ------------------------------------------------------------------------------------------------------------


def test_registry_keys_and_info():
    assert set(DATASETS) == {"fashion_mnist", "cifar10", "cifar100", "svhn", "stl10", "image_folder", "digits"}
    for name in DATASETS:
        info = dataset_info(name)
        assert info.name == name
        assert len(info.mean) == len(info.std) == 3
        assert all(0 < value < 1 for value in (*info.mean, *info.std))
    assert (dataset_info("cifar10").image_size, dataset_info("cifar100").num_classes) == (32, 100)
    assert dataset_info("stl10").image_size == 96 and dataset_info("fashion_mnist").image_size == 28


def test_unknown_dataset_names_the_bad_and_known_names(tmp_path):
    with pytest.raises(ValueError, match=r"'imagenet21k'.*cifar10.*fashion_mnist"):
        dataset_info("imagenet21k")
    with pytest.raises(ValueError, match="imagenet21k"):
        load_split("imagenet21k", tmp_path, "train")


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="'validation'"):
        load_split("cifar10", tmp_path, "validation")


@pytest.mark.parametrize(
    ("name", "expected_file"),
    [
        ("fashion_mnist", "train-images-idx3-ubyte"),
        ("cifar10", "data_batch_1"),
        ("cifar100", "cifar-100-python/train"),
        ("svhn", "train_32x32.mat"),
        ("stl10", "stl10_binary/train_X.bin"),
        ("image_folder", "train"),
    ],
)
def test_missing_root_names_path_and_expected_files(tmp_path, name, expected_file):
    missing_root = tmp_path / "no_such_root"
    for check in (lambda: check_root(name, missing_root), lambda: load_split(name, missing_root, "train")):
        with pytest.raises(DatasetNotFoundError) as caught:
            check()
        message = str(caught.value)
        assert str(missing_root) in message and expected_file in message and name in message
        assert isinstance(caught.value, FileNotFoundError)
        assert caught.value.dataset == name and caught.value.root == missing_root


def test_fashion_mnist_missing_message_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        check_root("fashion_mnist", tmp_path)
    with pytest.raises(DatasetNotFoundError, match="data.download: true"):
        check_root("cifar10", tmp_path)


def test_partially_present_cifar10_lists_only_missing_files(tmp_path):
    write_cifar10(tmp_path, (random_images(5, 32, seed=12), np.arange(5)), (random_images(1, 32, seed=13), np.zeros(1)))
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError) as caught:
        load_split("cifar10", tmp_path, "train")
    assert caught.value.missing == [tmp_path / "cifar-10-batches-py" / "data_batch_3"]
    check_root("cifar10", tmp_path, "test")  # the test split is complete
