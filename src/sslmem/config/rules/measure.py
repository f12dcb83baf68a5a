"""Rules on what is measured and probed: the representation scored has a head to score, Table 8's view families
are well formed and name trained encoders, the probe measures f, and its downstream datasets exist."""

from __future__ import annotations

from typing import Mapping

from sslmem.config.base import ConfigError
from sslmem.config.plan import setup_datasets, setup_name, setup_representation
from sslmem.config.registry import cross_field_rule


@cross_field_rule
def check_representations(settings: Mapping) -> None:
    """A setup scores a projection head only if its method has one of its own (never the supervised classifier,
    App. B.3; MAE has none). Names the key the choice came from."""
    from sslmem.methods import METHODS

    per_method = settings["measure"]["representation"]
    for index, setup in enumerate(settings["experiment"]["setups"]):
        method = setup["method"]
        if setup_representation(settings, setup_name(setup)) != "projection" or METHODS[method].has_projection_head:
            continue
        where = (f"experiment.setups[{index}].representation" if setup.get("representation")
                 else f"measure.representation.{method}" if method in per_method else "measure.representation.default")
        raise ConfigError(
            f"{where}: 'projection' for setup {setup_name(setup)!r}, but {method} has no projection head of its own "
            f"(supervised: the classifier is removed before scoring; MAE: none); set measure.representation."
            f"{method}: encoder"
        )


@cross_field_rule
def check_probe(settings: Mapping) -> None:
    """The probe measures at least f, whose accuracy the tables report."""
    if "f" not in settings["probe"]["roles"]:
        raise ConfigError(
            f"probe.roles: {settings['probe']['roles']} leaves out f, whose accuracy table1 and table11 report; "
            "use [f] or [f, g]"
        )


@cross_field_rule
def check_probe_downstream(settings: Mapping) -> None:
    """probe.downstream maps a dataset of experiment.datasets to other known datasets, each with a root."""
    from sslmem.data.catalog import CATALOG

    trained = settings["experiment"]["datasets"]
    for dataset, others in settings["probe"].get("downstream", {}).items():
        where = f"probe.downstream.{dataset}"
        if dataset not in trained:
            raise ConfigError(f"{where}: {dataset!r} is not a dataset of experiment.datasets {trained}; "
                              "downstream lists belong to datasets encoders are trained on")
        for other in others:
            if other not in CATALOG:
                raise ConfigError(f"{where}: {other!r} is not a dataset; known: {sorted(CATALOG)}")
            if other == dataset:
                raise ConfigError(f"{where}: {other!r} is the encoders' own dataset, which is always probed; "
                                  "list only other datasets")
            if other not in settings["data"]["roots"]:
                raise ConfigError(f"{where}: {other!r} has no root in data.roots; add data.roots.{other}")


@cross_field_rule
def check_view_families(settings: Mapping) -> None:
    """measure.view_families: each family sets exactly its kind's parameters. measure.table8: its families are
    defined, its runs name setups and datasets that setup trains on, and no colour drop on grey images (every
    view would be the same image, every alignment 0 and the score undefined)."""
    from sslmem.augment import VIEW_KINDS

    families = settings["measure"]["view_families"]
    for name, family in families.items():
        _check_view_family(name, family, VIEW_KINDS)
    table8 = settings["measure"]["table8"]
    unknown = [name for name in table8["families"] if name not in families]
    if unknown:
        raise ConfigError(f"measure.table8.families: {unknown} not defined in measure.view_families "
                          f"({sorted(families)}); define them there or leave them out")
    setups = {setup_name(entry): entry for entry in settings["experiment"]["setups"]}
    for index, run in enumerate(table8["runs"]):
        where = f"measure.table8.runs[{index}]"
        if run["setup"] not in setups:
            raise ConfigError(f"{where}.setup: {run['setup']!r} is not a setup of experiment.setups {sorted(setups)}")
        trained_on = setup_datasets(settings, setups[run["setup"]])
        missing = [dataset for dataset in run["datasets"] if dataset not in trained_on]
        if missing:
            raise ConfigError(f"{where}.datasets: setup {run['setup']!r} trains no encoders on {missing} "
                              f"(it runs on {trained_on}); Table 8 re-measures trained encoders only")
        _check_no_color_drop_on_grey(where, run["datasets"], table8["families"], families)


def _check_view_family(name: str, family: Mapping, kinds: Mapping) -> None:
    where = f"measure.view_families.{name}"
    if family["kind"] not in kinds:
        raise ConfigError(f"{where}.kind: {family['kind']!r} is not a measurement view kind; known: {sorted(kinds)}")
    wanted = kinds[family["kind"]]
    missing = [parameter for parameter in wanted if parameter not in family]
    extra = [parameter for parameter in family if parameter != "kind" and parameter not in wanted]
    if missing or extra:
        raise ConfigError(f"{where}: kind {family['kind']!r} takes {list(wanted)}; missing {missing}, not its own {extra}")


def _check_no_color_drop_on_grey(where: str, datasets, names, families: Mapping) -> None:
    from sslmem.data.catalog import dataset_info

    drops = [name for name in names if families[name]["kind"] == "color_drop"]
    grey = [dataset for dataset in datasets if dataset_info(dataset).grayscale]
    if drops and grey:
        raise ConfigError(
            f"{where}: measure.table8.families {drops} (color_drop) on {grey}, whose images are grey: grayscale changes "
            "nothing, every view would be the same image and every alignment 0; leave color_drop out of "
            "measure.table8.families for these datasets"
        )
