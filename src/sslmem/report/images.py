"""The images of scored points, for the galleries (Fig. 8's Feldman vs SSLMem, Figs. 1 and 9's most and least
memorised): points are named by (source, point_id), their id in the dataset's split of that name, and read from
the dataset itself with :func:`sslmem.pipeline.common.load_images` (which names an unreadable image_folder file
by its path)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

CLASS_NAMES = {
    "fashion_mnist": ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                      "ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    "stl10": ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"),
    "svhn": tuple(str(digit) for digit in range(10)),  # torchvision's labels: the digit (its '10' is 0)
}
UNLABELLED = -1  # the label of an image without one (STL-10's unlabeled split)


def class_name(dataset: str, label: int) -> str:
    if label == UNLABELLED:
        return "unlabelled"
    names = CLASS_NAMES.get(dataset, ())
    return names[label] if 0 <= label < len(names) else f"label {label}"


def gallery_images(data: Mapping, dataset: str, points: pd.DataFrame):
    """The uint8 images [N, 3, H, W] of `points` (columns source, point_id), in their order. `data`: params.yaml's
    `data` settings (where the images are); each source split is read once."""
    import torch

    from sslmem.pipeline.common import source_images

    images = [None] * len(points)
    for source, rows in points.reset_index(drop=True).groupby("source"):
        image_set = source_images({"data": data}, dataset, str(source))
        for row, point_id in zip(rows.index, rows["point_id"]):
            images[row] = image_set.images[int(point_id)]
    return torch.stack(images)
