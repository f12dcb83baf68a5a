"""Dense-prediction data (the dense study, SSLMem Tables 3 and 10): ADE20K, NYU-Depth v2, and the offline stand-in.

Every loader returns a :class:`DenseSet`: ``uint8`` images ``[N, 3, S, S]`` (resized to the task's square size S),
and per-pixel targets ``[N, S, S]``: class indices (``int64``, :data:`IGNORE` where unlabelled) for segmentation,
depth in metres (``float32``, 0 where unknown) for depth.

- **ADE20K** (SceneParsing / ADEChallengeData2016 layout): ``images/{training,validation}/*.jpg`` and
  ``annotations/{training,validation}/*.png`` of the same stem; 150 classes, 0 = "other" (ignored), so class c is
  stored as c − 1 and 0 becomes :data:`IGNORE` (mmseg's ``reduce_zero_label``).
- **NYU-Depth v2**: the labelled ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3, i.e. HDF5, read with h5py: ``images``
  ``[N, 3, W, H]`` uint8 and ``depths`` ``[N, W, H]`` metres as MATLAB stores them transposed), split by the
  standard 795/654 ``splits.mat`` (``trainNdxs``/``testNdxs``, 1-based) when present, else the first 795 images
  train; or the common extracted layout ``{train,test}/rgb/*.png`` with ``{train,test}/depth/*.png`` of the same
  stem (16-bit PNG, millimetres → metres).
- **scenes** (the stand-in that runs offline): a seeded canvas with several Fashion-MNIST items (from its test
  split: images no encoder trained on) at random places and scales, a mask of 11 classes (0 = background, c + 1 =
  item of class c, the last item on top) and a depth map (background 5 m; an item at 2 m / its scale, so that
  bigger items are nearer and stacked over smaller ones: depth is readable from apparent size and occlusion).

Nothing here imports torch at module level beyond what the loaders need when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from sslmem.data.catalog import DatasetNotFoundError, resolve_root

IGNORE = 255
ADE20K_CLASSES = 150
SCENE_CLASSES = 11  # background + the 10 Fashion-MNIST classes
NYU_TRAIN_IMAGES = 795  # the standard labelled split (Silberman et al. 2012): 795 train, 654 test
SCENE_BACKGROUND_DEPTH = 5.0
SCENE_DEPTH_AT_UNIT_SCALE = 2.0
# An item's pixels: those brighter than this (of 255); the rest of its 28 px square stays background.
SCENE_ITEM_THRESHOLD = 24
_SPLITS = {"ade20k": {"train": "training", "test": "validation"}}


@dataclass(frozen=True)
class DenseSet:
    images: torch.Tensor  # uint8 [N, 3, S, S]
    targets: torch.Tensor  # int64 class indices or float32 metres, [N, S, S]
    num_classes: int | None  # segmentation: classes predicted; depth: None

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _missing(dataset: str, split: str, root: Path, missing: Sequence[Path], how: str) -> DatasetNotFoundError:
    listed = ", ".join(str(path) for path in list(missing)[:5]) + (" …" if len(missing) > 5 else "")
    return DatasetNotFoundError(f"{dataset} ({split}): missing under {root}: {listed}; {how}", dataset=dataset,
                                split=split, root=root, missing=list(missing))


def _resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-2:] == (size, size):
        return images
    resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False)
    return resized.round().clamp(0, 255).to(torch.uint8)


def _resize_targets(targets: torch.Tensor, size: int) -> torch.Tensor:
    """Nearest-neighbour (a class or a depth is never blended with its neighbour's)."""
    if targets.shape[-2:] == (size, size):
        return targets
    return F.interpolate(targets[:, None].float(), size=(size, size), mode="nearest")[:, 0].to(targets.dtype)


def _subset(count: int, size: int | None, seed) -> np.ndarray:
    """`size` of `count` indices, seeded, in order (all when size is None or not smaller)."""
    if size is None or size >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=size, replace=False))


# --- ADE20K -------------------------------------------------------------------------------------------------


def ade20k_pairs(root, split: str) -> list[tuple[Path, Path]]:
    """(image, annotation) paths of one split, by stem; an error naming the folder or the annotations missing."""
    root = resolve_root(root)
    folder = _SPLITS["ade20k"][split]
    images_dir, labels_dir = root / "images" / folder, root / "annotations" / folder
    how = "expected ADE20K's SceneParsing layout (ADEChallengeData2016: images/ and annotations/)"
    absent = [path for path in (images_dir, labels_dir) if not path.is_dir()]
    if absent:
        raise _missing("ade20k", split, root, absent, how)
    images = sorted(images_dir.glob("*.jpg"))
    if not images:
        raise _missing("ade20k", split, root, [images_dir / "*.jpg"], how)
    labels = [labels_dir / f"{image.stem}.png" for image in images]
    unlabelled = [label for label in labels if not label.is_file()]
    if unlabelled:
        raise _missing("ade20k", split, root, unlabelled, how + "; every image needs its annotation PNG")
    return list(zip(images, labels))


def load_ade20k(root, split: str, size: int, limit: int | None = None, seed=0) -> DenseSet:
    from PIL import Image

    pairs = ade20k_pairs(root, split)
    images, masks = [], []
    for index in _subset(len(pairs), limit, seed):
        image_path, label_path = pairs[index]
        image = Image.open(image_path).convert("RGB").resize((size, size), Image.BILINEAR)
        label = np.asarray(Image.open(label_path).resize((size, size), Image.NEAREST), dtype=np.int64)
        images.append(torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1))
        masks.append(torch.from_numpy(np.where(label == 0, IGNORE, label - 1)))
    return DenseSet(torch.stack(images).contiguous(), torch.stack(masks), ADE20K_CLASSES)


# --- NYU-Depth v2 -------------------------------------------------------------------------------------------

NYU_MAT = "nyu_depth_v2_labeled.mat"
NYU_SPLITS_MAT = "splits.mat"


def _nyu_split_indices(root: Path, count: int, split: str) -> np.ndarray:
    """0-based indices of the split: splits.mat's trainNdxs/testNdxs (1-based, MATLAB) or the first 795 / rest."""
    path = root / NYU_SPLITS_MAT
    if path.is_file():
        from scipy.io import loadmat

        key = "trainNdxs" if split == "train" else "testNdxs"
        return np.asarray(loadmat(path)[key], dtype=np.int64).ravel() - 1
    cut = min(NYU_TRAIN_IMAGES, count)
    return np.arange(cut) if split == "train" else np.arange(cut, count)


def load_nyu_depth(root, split: str, size: int, limit: int | None = None, seed=0) -> DenseSet:
    """The labelled .mat when the root has it, else the extracted PNG layout; an error naming both when neither."""
    root = resolve_root(root)
    if (root / NYU_MAT).is_file():
        return _nyu_from_mat(root, split, size, limit, seed)
    rgb_dir, depth_dir = root / split / "rgb", root / split / "depth"
    if rgb_dir.is_dir() and depth_dir.is_dir():
        return _nyu_from_pngs(rgb_dir, depth_dir, split, size, limit, seed)
    raise _missing("nyu_depth_v2", split, root, [root / NYU_MAT, rgb_dir, depth_dir],
                   f"expected the labelled {NYU_MAT} (MATLAB v7.3) or the extracted {split}/rgb/*.png and "
                   f"{split}/depth/*.png (16-bit, millimetres)")


def _nyu_from_mat(root: Path, split: str, size: int, limit: int | None, seed) -> DenseSet:
    import h5py

    with h5py.File(root / NYU_MAT, "r") as mat:
        for key in ("images", "depths"):
            if key not in mat:
                raise _missing("nyu_depth_v2", split, root, [root / NYU_MAT / key],
                               f"{NYU_MAT} has no dataset {key!r} (datasets: {sorted(mat.keys())})")
        count = mat["images"].shape[0]
        indices = _nyu_split_indices(root, count, split)
        indices = indices[_subset(len(indices), limit, seed)]
        # h5py reads in increasing index order; MATLAB stores [N, C, W, H]: transposed to [N, C, H, W].
        images = torch.from_numpy(np.asarray(mat["images"][np.sort(indices)])).permute(0, 1, 3, 2)
        depths = torch.from_numpy(np.asarray(mat["depths"][np.sort(indices)], dtype=np.float32)).permute(0, 2, 1)
    return DenseSet(_resize_images(images.contiguous(), size), _resize_targets(depths.contiguous(), size), None)


def _nyu_from_pngs(rgb_dir: Path, depth_dir: Path, split: str, size: int, limit: int | None, seed) -> DenseSet:
    from PIL import Image

    rgbs = sorted(rgb_dir.glob("*.png"))
    depths = [depth_dir / path.name for path in rgbs]
    missing = [path for path in depths if not path.is_file()] or ([] if rgbs else [rgb_dir / "*.png"])
    if missing:
        raise _missing("nyu_depth_v2", split, rgb_dir.parent, missing, "every rgb/<name>.png needs depth/<name>.png")
    images, targets = [], []
    for index in _subset(len(rgbs), limit, seed):
        image = Image.open(rgbs[index]).convert("RGB").resize((size, size), Image.BILINEAR)
        millimetres = np.asarray(Image.open(depths[index]), dtype=np.float32)
        depth = Image.fromarray(millimetres / 1000.0, mode="F").resize((size, size), Image.NEAREST)
        images.append(torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1))
        targets.append(torch.from_numpy(np.asarray(depth, dtype=np.float32).copy()))
    return DenseSet(torch.stack(images).contiguous(), torch.stack(targets), None)


# --- the stand-in: scenes of Fashion-MNIST items ------------------------------------------------------------


def compose_scene(items: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator,
                  scale_range: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene from `items` (uint8 [n, 28, 28]) of classes `labels`: (image uint8 [S, S], mask int64, depth
    float32). Items are drawn at scales in `scale_range`, pasted smallest first, so a nearer (bigger) item covers a
    farther one where they overlap; each item's depth is SCENE_DEPTH_AT_UNIT_SCALE / scale."""
    from PIL import Image

    image = np.zeros((size, size), dtype=np.uint8)
    mask = np.zeros((size, size), dtype=np.int64)
    depth = np.full((size, size), SCENE_BACKGROUND_DEPTH, dtype=np.float32)
    scales = rng.uniform(scale_range[0], scale_range[1], size=len(items))
    for index in np.argsort(scales, kind="stable"):
        side = min(size, max(4, int(round(items.shape[-1] * scales[index]))))
        item = np.asarray(Image.fromarray(items[index]).resize((side, side), Image.BILINEAR))
        top, left = rng.integers(0, size - side + 1, size=2)
        region = (slice(top, top + side), slice(left, left + side))
        on = item > SCENE_ITEM_THRESHOLD
        image[region][on] = item[on]
        mask[region][on] = int(labels[index]) + 1
        depth[region][on] = SCENE_DEPTH_AT_UNIT_SCALE / scales[index]
    return image, mask, depth


def make_scenes(items: torch.Tensor, labels: torch.Tensor, count: int, size: int, seed,
                per_scene: Sequence[int], scale_range: Sequence[float]) -> tuple[torch.Tensor, ...]:
    """`count` scenes from the item pool (uint8 [M, C, 28, 28], labels [M]): (images [N, 3, S, S] uint8, masks
    [N, S, S] int64, depths [N, S, S] float32). Each scene draws its number of items in [per_scene[0],
    per_scene[1]] and the items without replacement from the pool."""
    rng = np.random.default_rng(seed)
    pool = items[:, 0].numpy() if items.ndim == 4 else items.numpy()
    classes = labels.numpy()
    images, masks, depths = [], [], []
    for _ in range(count):
        chosen = rng.choice(len(pool), size=int(rng.integers(per_scene[0], per_scene[1] + 1)), replace=False)
        image, mask, depth = compose_scene(pool[chosen], classes[chosen], size, rng, scale_range)
        images.append(image)
        masks.append(mask)
        depths.append(depth)
    images = torch.from_numpy(np.stack(images))[:, None].expand(-1, 3, -1, -1).contiguous()
    return images, torch.from_numpy(np.stack(masks)), torch.from_numpy(np.stack(depths))


def scene_sets(items: torch.Tensor, labels: torch.Tensor, task: Mapping, scenes: Mapping) -> dict:
    """The train and test scenes of one task: the item pool halved (seeded) so that no item is in both."""
    order = np.random.default_rng([scenes["seed"], 0]).permutation(len(labels))
    halves = {"train": order[: len(order) // 2], "test": order[len(order) // 2:]}
    sets = {}
    for offset, split in enumerate(("train", "test")):
        chosen = torch.from_numpy(halves[split])
        images, masks, depths = make_scenes(
            items[chosen], labels[chosen], task[f"{split}_size"], task["image_size"], [scenes["seed"], offset + 1],
            scenes["items"], scenes["scale"])
        segmentation = task["kind"] == "segmentation"
        sets[split] = DenseSet(images, masks if segmentation else depths, SCENE_CLASSES if segmentation else None)
    return sets
