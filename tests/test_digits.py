"""The digits dataset: scikit-learn's bundled 8x8 handwritten digits, through load_split like every other dataset.

The facts checked here can be checked by hand: 1797 images, every 4th image of each digit a test image (1352 train,
445 test), pixel counts 0..16 mapped to 0..255 by x * 255 / 16 rounded half up.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from sslmem.data import catalog
from sslmem.data.datasets import DatasetNotFoundError, check_root, dataset_info, load_split
from sslmem.data.digits import digits_test_mask, digits_to_uint8, load_digits_split, resize_square

sklearn_datasets = pytest.importorskip("sklearn.datasets")

ALL_IMAGES = 1797
TRAIN_SIZE, TEST_SIZE = 1352, 445


@pytest.fixture(scope="module")
def native():
    """Both splits at the native 8x8, one channel: the pixels exactly as mapped, nothing resized."""
    return {split: load_split("digits", None, split, image_size=8, channels=1) for split in ("train", "test")}


def test_split_sizes_and_every_label_in_both(native):
    assert (len(native["train"]), len(native["test"])) == (TRAIN_SIZE, TEST_SIZE)
    assert TRAIN_SIZE + TEST_SIZE == ALL_IMAGES
    for split in native.values():
        assert sorted(split.labels.unique().tolist()) == list(range(10))


def test_splits_are_disjoint_and_cover_all_images():
    labels = sklearn_datasets.load_digits().target
    is_test = digits_test_mask(labels)
    assert is_test.sum() == TEST_SIZE and (~is_test).sum() == TRAIN_SIZE  # a boolean mask: disjoint, covering
    # Per digit: the 4th, 8th, ... image of that digit, so a quarter of each class (rounded down) is test.
    for digit in range(10):
        of_digit = np.flatnonzero(labels == digit)
        assert np.array_equal(np.flatnonzero(is_test[of_digit]), np.arange(3, len(of_digit), 4))
        assert is_test[of_digit].sum() == len(of_digit) // 4


def test_splits_hold_exactly_the_sklearn_images(native):
    bunch = sklearn_datasets.load_digits()
    expected = digits_to_uint8(bunch.images)
    is_test = digits_test_mask(bunch.target)
    for split, rows in (("train", ~is_test), ("test", is_test)):
        assert np.array_equal(native[split].images[:, 0].numpy(), expected[rows])
        assert np.array_equal(native[split].labels.numpy(), bunch.target[rows])


def test_pixel_mapping():
    counts = np.array([0.0, 1.0, 8.0, 15.0, 16.0])  # load_digits holds its counts as float64
    # 255 * (0, 1, 8, 15, 16) / 16 = 0, 15.94, 127.5, 239.06, 255; 127.5 rounds half up to 128.
    assert digits_to_uint8(counts).tolist() == [0, 16, 128, 239, 255]
    assert digits_to_uint8(counts).dtype == np.uint8
    with pytest.raises(ValueError, match="0..16"):
        digits_to_uint8(np.array([17.0]))


def test_loaded_pixels_span_the_full_range(native):
    values = torch.cat([split.images.flatten() for split in native.values()]).unique().tolist()
    assert values == [int(digits_to_uint8(np.array([count]))[0]) for count in range(17)]
    assert values[0] == 0 and values[-1] == 255


@pytest.mark.parametrize(("image_size", "channels"), [(28, 1), (28, 3), (32, 3), (32, 1), (4, 3)])
def test_requested_size_and_channels(image_size, channels):
    loaded = load_split("digits", None, "test", image_size=image_size, channels=channels)
    assert loaded.images.shape == (TEST_SIZE, channels, image_size, image_size)
    assert loaded.images.dtype == torch.uint8 and loaded.images.is_contiguous()
    assert loaded.info.image_size == image_size
    assert len(loaded.info.mean) == len(loaded.info.std) == channels
    assert all(torch.equal(loaded.images[:, 0], loaded.images[:, c]) for c in range(channels))  # gray repeated


def test_default_is_28px_three_channels_like_the_other_datasets():
    loaded = load_split("digits", "sklearn", "test")
    assert loaded.images.shape == (TEST_SIZE, 3, 28, 28)
    assert loaded.info == dataset_info("digits")


def test_resize_keeps_flat_images_flat_and_edges_in_place():
    flat = torch.full((1, 1, 8, 8), 128, dtype=torch.uint8)
    assert torch.equal(resize_square(flat, 28), torch.full((1, 1, 28, 28), 128, dtype=torch.uint8))
    # Left half white, right half black: at 32px (4x) the outer columns keep their value, the columns go from
    # white to black without overshoot, and the picture is symmetric about the middle (255 - mirror image).
    step = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    step[..., :4] = 255
    big = resize_square(step, 32)[0, 0].int()
    assert (big[:, :12] == 255).all() and (big[:, -12:] == 0).all()
    assert (big[:, :-1] >= big[:, 1:]).all() and (big == big[:1]).all()
    assert torch.equal(big, 255 - big.flip(1))
    assert resize_square(step, 8) is step  # already the size asked for: untouched


def test_loading_is_deterministic():
    first = load_split("digits", None, "train", image_size=32)
    second = load_split("digits", None, "train", image_size=32)
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)


def test_catalog_agrees_with_the_data(native):
    info = dataset_info("digits")
    assert info.num_classes == 10 and int(native["train"].labels.max()) + 1 == info.num_classes
    assert info.train_size == len(native["train"]) == info.pool_split_size
    assert info.image_size == 28 and info.splits == ("train", "test")


def test_catalog_mean_and_std_are_the_train_split_statistics(native):
    pixels = native["train"].images.double() / 255  # native 8x8, as mapped, in [0, 1]
    info = dataset_info("digits")
    assert info.mean == pytest.approx((float(pixels.mean()),) * 3, abs=5e-5)
    assert info.std == pytest.approx((float(pixels.std(unbiased=False)),) * 3, abs=5e-5)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="channels"):
        load_split("digits", None, "train", channels=2)
    with pytest.raises(ValueError, match="image_size"):
        load_split("digits", None, "train", image_size=0)
    with pytest.raises(ValueError, match="unlabeled"):
        load_split("digits", None, "unlabeled")


def test_root_check_needs_only_scikit_learn(tmp_path):
    for root in (None, "sklearn", tmp_path / "no_such_root"):
        check_root("digits", root)  # the root is not read: nothing is demanded under it


def test_missing_scikit_learn_gives_a_clear_error(monkeypatch):
    # A None entry in sys.modules makes `import sklearn` fail and find_spec("sklearn") answer None, as when the
    # package is not installed. Drop the submodules too, so that nothing imported earlier is reused.
    for module in [name for name in sys.modules if name == "sklearn" or name.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    for attempt in (
        lambda: check_root("digits", "sklearn"),
        lambda: load_split("digits", None, "test"),
        lambda: load_split("digits", None, "test", download=True),
        lambda: load_digits_split("digits", None, "test", False),  # the loader's own import, past the check
    ):
        with pytest.raises(DatasetNotFoundError, match=r"install scikit-learn \(pip install scikit-learn\)") as caught:
            attempt()
        assert caught.value.dataset == "digits" and isinstance(caught.value, FileNotFoundError)
        assert caught.value.missing[0].parts[-3:] == ("datasets", "data", "digits.csv.gz")


def test_missing_data_file_names_it(monkeypatch, tmp_path):
    # scikit-learn present but without its bundled file (a broken install).
    monkeypatch.setattr(catalog, "_sklearn_package_dir", lambda: tmp_path)
    with pytest.raises(DatasetNotFoundError, match="lacks its bundled data file") as caught:
        check_root("digits", None, "train")
    assert caught.value.missing == [tmp_path / "datasets" / "data" / "digits.csv.gz"]
    assert caught.value.root == tmp_path / "datasets" / "data"
