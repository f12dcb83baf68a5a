"""What every stage shares: dataset loading and the versions recorded with every result."""

from __future__ import annotations

import dataclasses
import platform
from typing import Mapping

import torch

from sslmem import __version__
from sslmem.data import datasets

def environment_versions(device: torch.device | str = "cpu") -> dict:
    """Versions and device recorded with every checkpoint and result (for determinism audits)."""
    import timm

    versions = {
        "sslmem": __version__,
        "python": platform.python_version(),
        # str(): torch.__version__ is a TorchVersion object, which weights_only loading rejects.
        "torch": str(torch.__version__),
        "timm": str(timm.__version__),
        "device": str(device),
    }
    try:
        import opacus

        versions["opacus"] = str(opacus.__version__)
    except ImportError:
        versions["opacus"] = None
    if torch.device(device).type == "cuda":
        versions["device_name"] = torch.cuda.get_device_name(torch.device(device))
    return versions


def load_images(settings: Mapping, dataset: str, split: str) -> datasets.ImageSet:
    data = settings["data"]
    folder = dataset == "image_folder"
    return datasets.load_split(
        dataset,
        data["roots"][dataset],
        split,
        download=data["download"],
        image_size=data["image_folder_size"] if folder else None,
        skip_bad=data["skip_bad_images"] if folder else False,
        num_workers=data["loader_workers"] if folder else None,
    )


# Loaders that resize as they read (image_folder: shorter side and centre crop; digits: from its native 8x8): they
# are asked for the size directly, so that an image is interpolated once, not twice.
_RESIZED_ON_LOAD = ("image_folder", "digits")


def load_images_at(settings: Mapping, dataset: str, split: str, image_size: int, channels: int) -> datasets.ImageSet:
    """One split of `dataset` as another dataset's encoder takes it (a downstream probe): `image_size` px square
    (:func:`sslmem.data.datasets.resize_images` for datasets of another size) and `channels` channels."""
    data = settings["data"]
    options = {"image_size": image_size, "channels": channels} if dataset in _RESIZED_ON_LOAD else {}
    image_set = datasets.load_split(
        dataset, data["roots"][dataset], split, download=data["download"],
        skip_bad=data["skip_bad_images"] if dataset == "image_folder" else False,
        num_workers=data["loader_workers"] if dataset == "image_folder" else None, **options,
    )
    if image_set.images.shape[1] != channels:  # every loader gives 3 (gray repeated) unless told otherwise
        raise ValueError(
            f"{dataset} '{split}' images have {image_set.images.shape[1]} channels; the encoder takes {channels}"
        )
    images = datasets.resize_images(image_set.images, image_size)
    info = dataclasses.replace(image_set.info, image_size=image_size)
    return datasets.ImageSet(images.contiguous(), image_set.labels, info)


def source_images(settings: Mapping, dataset: str, source: str) -> datasets.ImageSet:
    """The split a point's `source` names, as `dataset`'s encoders take it: one of the dataset's own splits, or a
    foreign "<dataset>/<split>" (planted points) loaded at this dataset's image size, three channels like every
    loader gives, and labelled with its own labels."""
    from sslmem.data.splits import is_foreign, parse_foreign

    if not is_foreign(source):
        return load_images(settings, dataset, source)
    other, split = parse_foreign(source)
    return load_images_at(settings, other, split, image_size_of(settings, dataset), 3)


def image_size_of(settings: Mapping, dataset: str) -> int:
    if dataset == "image_folder":
        return settings["data"]["image_folder_size"]
    return datasets.dataset_info(dataset).image_size


