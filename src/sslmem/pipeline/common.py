"""What every stage shares: dataset loading and the versions recorded with every result."""

from __future__ import annotations

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
    )


def image_size_of(settings: Mapping, dataset: str) -> int:
    if dataset == "image_folder":
        return settings["data"]["image_folder_size"]
    return datasets.dataset_info(dataset).image_size


