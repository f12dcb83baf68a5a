"""The static facts of every dataset the workflow knows, without torch: sizes, classes, normalisation, the
files a split needs on disk, and the cheap check that they are there.

:mod:`sslmem.data.datasets` adds the loaders (torch, numpy, torchvision) on top of this catalog and re-exports
everything here; settings validation (:mod:`sslmem.config`) reads only this module, so that checking dataset
roots at job start-up never imports torch.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# The labelled splits every dataset has. Some datasets also have an unlabelled split (DatasetInfo.splits).
SPLITS = ("train", "test")
UNLABELED = "unlabeled"

# Where the Debian package `dataset-fashion-mnist` installs the IDX files (gzipped).
FASHION_MNIST_SYSTEM_ROOT = Path("/usr/share/datasets/fashion-mnist")

# Side length of image_folder images when the caller gives none: the usual ImageNet input size.
DEFAULT_FOLDER_IMAGE_SIZE = 224

# scikit-learn's handwritten digits (sklearn.datasets.load_digits) ship inside the scikit-learn wheel, as this file
# of its package folder; the dataset has no root of its own (check_root looks for scikit-learn and this file).
SKLEARN_DIGITS_FILE = Path("datasets", "data", "digits.csv.gz")
# Side length digits are resized to when the caller gives none: Fashion-MNIST's, the default training dataset's,
# so that an encoder trained with the default settings can be probed on digits as they load.
DEFAULT_DIGITS_IMAGE_SIZE = 28


@dataclass(frozen=True)
class DatasetInfo:
    """What a consumer needs to know about a dataset without loading it.

    Attributes:
        name: Registry key (a key of :data:`DATASETS`).
        image_size: Side length of the images as :func:`load_split` returns them (native size, or the
            requested size for ``image_folder`` and ``digits``; here, their default).
        num_classes: Number of label values; labels are ``0 .. num_classes - 1``.
        mean: Per-channel pixel mean in [0, 1] units, to normalise with *after* augmentation.
        std: Per-channel pixel standard deviation in [0, 1] units, likewise.
        train_size: Number of images in the labelled training split (what the probe trains on); None when only
            the files tell (``image_folder``).
        test_size: Number of images in the test split (S_E and Table 4's public set come from it); None when
            only the files tell (``image_folder``).
        unlabeled_size: Number of images in the dataset's unlabelled split (:data:`UNLABELED`, labels -1), or
            None when it has none (every dataset but STL-10).
        pool_split: The split the training pool S_S/S_C/S_I is drawn from: ``"train"``, or :data:`UNLABELED`
            (STL-10: the paper's 50k STL-10 pool comes from its 100k unlabelled images, App. A). S_E always
            comes from ``"test"``, and the probe always uses the labelled ``"train"`` and ``"test"``.
        grayscale: The images are grey, repeated to three channels (so a colour transform such as colour drop
            changes nothing).
    """

    name: str
    image_size: int
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    train_size: int | None = None
    unlabeled_size: int | None = None
    test_size: int | None = None
    pool_split: str = "train"
    grayscale: bool = False

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits :func:`sslmem.data.datasets.load_split` accepts for this dataset."""
        return SPLITS + ((UNLABELED,) if self.unlabeled_size is not None else ())

    @property
    def pool_split_size(self) -> int | None:
        """Number of images in :attr:`pool_split`, so that a pool larger than the data is refused before any job
        runs; None when only the files tell (``image_folder``)."""
        return self.unlabeled_size if self.pool_split == UNLABELED else self.train_size

    @property
    def pool_is_labelled(self) -> bool:
        """Whether the pool's points have labels (a method that trains on labels can use this pool)."""
        return self.pool_split != UNLABELED


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where the configuration says.

    The message names the dataset and split, the root that was checked, every expected file that is
    missing, and how to get the data. Attributes: ``dataset``, ``split``, ``root`` and ``missing`` (the
    expected paths not found; for a requirement that several paths can satisfy, the first of them). For
    ``digits`` the root is scikit-learn's data folder, or None when scikit-learn is not installed.
    """

    def __init__(self, message: str, *, dataset: str, split: str, root: Path | None, missing: Sequence[Path]):
        super().__init__(message)
        self.dataset = dataset
        self.split = split
        self.root = root
        self.missing = list(missing)


# ---------------------------------------------------------------------------------------------------------
# Expected files. A requirement is a tuple of alternative paths: it is met when any one of them is a file
# (Fashion-MNIST's IDX files may be gzipped or not, flat or in torchvision's FashionMNIST/raw/ folder).
# ---------------------------------------------------------------------------------------------------------

_Requirement = tuple[Path, ...]

_CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR10_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_CIFAR10_META = "batches.meta"
_CIFAR100_FOLDER = "cifar-100-python"
_CIFAR100_FILES = {"train": ["train"], "test": ["test"]}
_CIFAR100_META = "meta"
_SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
_STL10_FOLDER = "stl10_binary"
_STL10_FILES = {
    "train": ["train_X.bin", "train_y.bin"],
    "test": ["test_X.bin", "test_y.bin"],
    UNLABELED: ["unlabeled_X.bin"],
}
# The IDX file stems as published (and as torchvision and the Debian package name them); "t10k" is the test set.
_FASHION_MNIST_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _cifar10_requirements(root: Path, split: str) -> list[_Requirement]:
    folder = root / _CIFAR10_FOLDER
    return [(folder / name,) for name in [*_CIFAR10_FILES[split], _CIFAR10_META]]


def _cifar100_requirements(root: Path, split: str) -> list[_Requirement]:
    folder = root / _CIFAR100_FOLDER
    return [(folder / name,) for name in [*_CIFAR100_FILES[split], _CIFAR100_META]]


def _svhn_requirements(root: Path, split: str) -> list[_Requirement]:
    return [(root / _SVHN_FILES[split],)]


def _stl10_requirements(root: Path, split: str) -> list[_Requirement]:
    return [(root / _STL10_FOLDER / name,) for name in _STL10_FILES[split]]


def _fashion_mnist_requirements(root: Path, split: str) -> list[_Requirement]:
    requirements = []
    for stem in _FASHION_MNIST_STEMS[split]:
        alternatives = []
        for folder in (root, root / "FashionMNIST" / "raw"):
            alternatives += [folder / f"{stem}.gz", folder / stem]
        requirements.append(tuple(alternatives))
    return requirements


def _image_folder_requirements(root: Path, split: str) -> list[_Requirement]:
    # Checked specially in check_root (a directory with class sub-directories); listed here for messages.
    return [(root / split,)]


def _sklearn_package_dir() -> Path | None:
    """scikit-learn's package folder, found without importing it (importing costs about a second); None when
    scikit-learn is not installed."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _digits_requirements(root: Path | None, split: str) -> list[_Requirement]:
    # Both splits come from the one file bundled with scikit-learn; the root is not used (see check_root).
    package = _sklearn_package_dir()
    return [((package or Path("sklearn")) / SKLEARN_DIGITS_FILE,)]


def _first_existing(alternatives: _Requirement) -> Path | None:
    return next((path for path in alternatives if path.is_file()), None)


_HOW_TO_GET_TORCHVISION = (
    "Put the files there in torchvision's layout, or set `data.download: true` in params.yaml on a machine "
    "with internet access (torchvision then downloads them into this root)."
)
_HOW_TO_GET = {
    "fashion_mnist": (
        "On Debian/Ubuntu, `apt-get install dataset-fashion-mnist` puts the IDX files in "
        f"{FASHION_MNIST_SYSTEM_ROOT}/ (point the root there). Elsewhere set `data.download: true` in "
        "params.yaml on a machine with internet access (torchvision then downloads them into "
        "<root>/FashionMNIST/raw/)."
    ),
    "cifar10": _HOW_TO_GET_TORCHVISION,
    "cifar100": _HOW_TO_GET_TORCHVISION,
    "svhn": _HOW_TO_GET_TORCHVISION,
    "stl10": (
        f"{_HOW_TO_GET_TORCHVISION} All of STL-10's files, unlabeled_X.bin (the 100000 unlabelled images the "
        "training pool is drawn from; 2.6 GB) included, come in one archive, stl10_binary.tar.gz from "
        "http://ai.stanford.edu/~acoates/stl10/; extract it into the root."
    ),
    "image_folder": (
        "Arrange the images ImageNet-style as <root>/<split>/<class name>/<image file> "
        "(e.g. an extracted ImageNet with train/ and val/ renamed or linked to test/). "
        "There is nothing to download."
    ),
    "digits": (
        "The images ship inside scikit-learn: install scikit-learn (pip install scikit-learn) into this Python; "
        "sslmem depends on it. There is nothing to download, and the root is not read (any value, e.g. `sklearn`)."
    ),
}


# ---------------------------------------------------------------------------------------------------------
# Catalog
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    """One dataset's static facts: its info, the files a split needs, and how to get them."""

    info: DatasetInfo
    requirements: Callable[[Path, str], list[_Requirement]]
    how_to_get: str


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# Fashion-MNIST: mean and (population) standard deviation of all pixels of the 60000 training images,
# scaled to [0, 1], computed from the published train-images-idx3-ubyte.gz (0.286041, 0.353024), repeated per
# channel because the grayscale images are repeated to three channels.
_FASHION_MNIST_MEAN = (0.2860, 0.2860, 0.2860)
_FASHION_MNIST_STD = (0.3530, 0.3530, 0.3530)
# Digits: mean and (population) standard deviation of all pixels of the 1352 training images (the split rule is in
# sslmem.data.digits) at their native 8x8 size, mapped to uint8 as loaded and scaled to [0, 1] (0.304931,
# 0.375645; tests/test_digits.py recomputes them), repeated per channel like Fashion-MNIST's.
_DIGITS_MEAN = (0.3049, 0.3049, 0.3049)
_DIGITS_STD = (0.3756, 0.3756, 0.3756)


def _entry(info: DatasetInfo, requirements) -> CatalogEntry:
    return CatalogEntry(info, requirements, _HOW_TO_GET[info.name])


# The registry's static half; sslmem.data.datasets.DATASETS adds a loader to each entry (same keys, same order).
CATALOG: dict[str, CatalogEntry] = {
    entry.info.name: entry
    for entry in [
        _entry(
            DatasetInfo("fashion_mnist", 28, 10, _FASHION_MNIST_MEAN, _FASHION_MNIST_STD, train_size=60000,
                        test_size=10000, grayscale=True),
            _fashion_mnist_requirements,
        ),
        _entry(
            DatasetInfo("cifar10", 32, 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), train_size=50000,
                        test_size=10000),
            _cifar10_requirements,
        ),
        _entry(
            DatasetInfo("cifar100", 32, 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), train_size=50000,
                        test_size=10000),
            _cifar100_requirements,
        ),
        _entry(
            DatasetInfo("svhn", 32, 10, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), train_size=73257,
                        test_size=26032),
            _svhn_requirements,
        ),
        # The pool is drawn from the 100k unlabelled images (the paper's 50k STL-10 pool, App. A); the probe
        # uses the labelled 5000 train and 8000 test images.
        _entry(
            DatasetInfo(
                "stl10", 96, 10, (0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713),
                train_size=5000, unlabeled_size=100000, pool_split=UNLABELED, test_size=8000,
            ),
            _stl10_requirements,
        ),
        # num_classes is ImageNet's until loaded; load_split's info carries the folder's real class count, and
        # the training split holds whatever the folder holds (checked when the split is drawn).
        _entry(
            DatasetInfo("image_folder", DEFAULT_FOLDER_IMAGE_SIZE, 1000, _IMAGENET_MEAN, _IMAGENET_STD),
            _image_folder_requirements,
        ),
        # 1797 8x8 images in scikit-learn, no official split: sslmem.data.digits makes every 4th image of each
        # digit a test image (1352 train, 445 test). image_size is the default requested size, not the native 8.
        _entry(
            DatasetInfo("digits", DEFAULT_DIGITS_IMAGE_SIZE, 10, _DIGITS_MEAN, _DIGITS_STD, train_size=1352,
                        test_size=445, grayscale=True),
            _digits_requirements,
        ),
    ]
}


def _entry_for(name: str) -> CatalogEntry:
    try:
        return CATALOG[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(CATALOG))}") from None


def _check_split(info: DatasetInfo, split: str) -> None:
    if split in info.splits:
        return
    if split in (*SPLITS, UNLABELED):
        raise ValueError(f"{info.name} has no {split!r} split; its splits are {', '.join(info.splits)}")
    raise ValueError(f"unknown split {split!r}; expected one of {', '.join(info.splits)}")


def training_splits(name: str) -> tuple[str, ...]:
    """The splits whose files a training run of ``name`` reads besides ``"test"``: the labelled ``"train"`` (the
    probe's) and the pool split when that is another one (STL-10: ``"unlabeled"``)."""
    pool_split = dataset_info(name).pool_split
    return ("train",) if pool_split == "train" else ("train", pool_split)


def dataset_info(name: str) -> DatasetInfo:
    """Static facts about dataset ``name`` (size, classes, normalisation); loads nothing.

    Raises:
        ValueError: ``name`` is not a key of :data:`DATASETS` (the message lists the known names).
    """
    return _entry_for(name).info


def resolve_root(root: str | Path) -> Path:
    """A dataset root of params.yaml as a path: ~ expanded; a relative root is relative to the repository, which
    is the working directory of the default preset's jobs and SSLMEM_PROJECT_DIR for the other presets' (they run in
    runs/<preset>/, sslmem.artifacts.preset_root)."""
    import os

    path = Path(root).expanduser()
    base = os.environ.get("SSLMEM_PROJECT_DIR")
    return path if path.is_absolute() or not base else Path(base) / path


def check_root(name: str, root: str | Path | None, split: str | None = None) -> None:
    """Check cheaply (no file is read) that ``root`` holds the files of ``name``'s ``split``.

    ``split`` None (the default) checks the splits training reads (:func:`training_splits`): ``"train"``, and
    the pool split when that is another one (STL-10's ``unlabeled_X.bin``), all missing files in one message.

    For ``image_folder`` this checks that ``root/<split>`` is a directory with at least one class
    sub-directory; the images themselves are only looked at when loading.

    ``digits`` has no root (its images ship inside scikit-learn): ``root`` is not read and may be None; this
    checks that scikit-learn is installed with its bundled data file, without importing it.

    Raises:
        ValueError: unknown dataset or split (or a split the dataset does not have).
        DatasetNotFoundError: something is missing; the message names the dataset, the root checked, the
            expected files that are missing and how to get them; its ``split`` is the (first) split with
            missing files.
    """
    entry = _entry_for(name)
    splits = training_splits(name) if split is None else (split,)
    for each in splits:
        _check_split(entry.info, each)
    if name == "digits":
        _check_digits(splits[0])
        return
    root = resolve_root(root)
    if name == "image_folder":
        for each in splits:
            _check_image_folder(entry, root, each)
        return
    missing_by_split = {
        each: [alternatives for alternatives in entry.requirements(root, each) if not _first_existing(alternatives)]
        for each in splits
    }
    failing = [each for each, missing in missing_by_split.items() if missing]
    if failing:
        missing = [alternatives for each in failing for alternatives in missing_by_split[each]]
        lines = []
        for alternatives in missing:
            first, *others = alternatives
            lines.append(f"  {first}" + (f" (or {', '.join(map(str, others))})" if others else ""))
        root_state = "" if root.is_dir() else f" (the root {root} does not exist)"
        what = " and ".join(f"'{each}'" for each in failing) + (" splits" if len(failing) > 1 else " split")
        raise DatasetNotFoundError(
            f"{name} {what} not found under {root}{root_state}; missing file(s):\n"
            + "\n".join(lines)
            + f"\n{entry.how_to_get}",
            dataset=name,
            split=failing[0],
            root=root,
            missing=[alternatives[0] for alternatives in missing],
        )


def _check_image_folder(entry: CatalogEntry, root: Path, split: str) -> None:
    split_dir = root / split
    has_class_dir = split_dir.is_dir() and any(
        item.is_dir() and not item.name.startswith(".") for item in os.scandir(split_dir)
    )
    if not has_class_dir:
        raise DatasetNotFoundError(
            f"image_folder '{split}' split not found: expected class folders <class name>/<image file> "
            f"in {split_dir}, which {'has none' if split_dir.is_dir() else 'does not exist'}. "
            f"{entry.how_to_get}",
            dataset=entry.info.name,
            split=split,
            root=root,
            missing=[split_dir],
        )


def _check_digits(split: str) -> None:
    package = _sklearn_package_dir()
    if package is None or not (package / SKLEARN_DIGITS_FILE).is_file():
        raise _digits_not_found(split)


def _digits_not_found(split: str, problem: str | None = None) -> DatasetNotFoundError:
    """The error for digits whose scikit-learn is missing or broken; ``problem`` None describes what is missing
    (also used by the loader when importing scikit-learn fails after this check passed)."""
    package = _sklearn_package_dir()
    data_file = _digits_requirements(None, split)[0][0]
    if problem is None and package is None:
        problem = f"scikit-learn, which ships its images, is not installed in this Python ({sys.executable})"
    elif problem is None:
        problem = f"scikit-learn at {package} lacks its bundled data file {data_file} (reinstall it)"
    return DatasetNotFoundError(
        f"digits '{split}' split not found: {problem}. {_HOW_TO_GET['digits']}",
        dataset="digits",
        split=split,
        root=data_file.parent if package is not None else None,
        missing=[data_file],
    )
