"""The rules that look at files: every dataset trained or probed on has a root, and its files are there.

These run on every load, even of settings from the validation cache (:mod:`sslmem.config.cache`): files can
appear or vanish without params.yaml changing.
"""

from __future__ import annotations

from typing import Mapping

from sslmem.config.base import ConfigError
from sslmem.config.registry import cross_field_rule


@cross_field_rule(reads_files=True)
def check_dataset_roots(settings: Mapping) -> None:
    """Each dataset trained on or probed on (probe.downstream) has a root, and (unless data.download) its files
    are there: the splits training reads, and a downstream dataset's labelled train and test splits (what its
    probe reads). Torch-free: a file check."""
    from sslmem.data import catalog

    for dataset in settings["experiment"]["datasets"]:
        _check_dataset_root(settings, dataset, [None])  # None: the splits training reads (catalog.training_splits)
    for dataset in _downstream_datasets(settings):
        _check_dataset_root(settings, dataset, catalog.SPLITS, " (probed through probe.downstream)")


def _downstream_datasets(settings: Mapping) -> list[str]:
    """Every dataset of probe.downstream, once each, in params order."""
    lists = settings["probe"].get("downstream", {}).values()
    return list(dict.fromkeys(dataset for others in lists for dataset in others))


def _check_dataset_root(settings: Mapping, dataset: str, splits, why: str = "") -> None:
    from sslmem.data import catalog

    root = settings["data"]["roots"].get(dataset)
    if root is None:
        raise ConfigError(f"data.roots.{dataset}: no root configured for dataset {dataset!r}{why}")
    if settings["data"]["download"]:
        return
    for split in splits:
        try:
            catalog.check_root(dataset, root, split)
        except catalog.DatasetNotFoundError as error:
            raise ConfigError(f"data.roots.{dataset}{why}: {error}") from None
