"""The study plugins, listed once, and what the layers above ask of them: their declarations, results,
validators, settings schemas and derived setups, and lookups from an encoder to its study's run and training set.

Adding a study: its module under :mod:`sslmem.studies` and its name in :func:`plugin_modules`. This module imports
the plugins (which import :mod:`sslmem.studies`, never this module): the plan, the CLI and the tests load them
here, explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem.studies import Study, TrainingSetRecipe


def plugin_modules() -> tuple:
    """The study plugins, in the order their stages and setups are listed. Adding a study: its module, and its
    name here. Each module declares ``STUDY`` (a :class:`Study`), ``RESULTS`` (its tables and figures) and,
    optionally, ``VALIDATORS`` (functions of the settings that raise ConfigError) and ``SETTINGS_SCHEMA`` (the JSON
    schema of its section, studies.<name>)."""
    from sslmem.studies import (augmentations, coreset, dense, dynamics, halves, localization, localization_uses,
                                measure_views, overlap, planted, privacy, regularizer, removal, replication,
                                unitmem_conditions)

    return (augmentations, coreset, dense, dynamics, halves, measure_views, overlap, planted, privacy, regularizer,
            removal, replication, unitmem_conditions, localization_uses, localization)


def settings_schemas() -> dict[str, dict]:
    """studies.<name> → its JSON schema, for the plugins that declare their settings section themselves
    (``SETTINGS_SCHEMA``; the older ones have theirs in params.schema.yaml)."""
    return {module.STUDY.name: module.SETTINGS_SCHEMA for module in plugin_modules()
            if getattr(module, "SETTINGS_SCHEMA", None) is not None}


def load_studies() -> dict[str, Study]:
    """Every study plugin's declaration, by name."""
    studies = {}
    for module in plugin_modules():
        if module.STUDY.name in studies:
            raise ValueError(f"study {module.STUDY.name!r} is declared twice ({module.__name__})")
        studies[module.STUDY.name] = module.STUDY
    return studies


def validators() -> tuple:
    """Every plugin's settings validators: those reading only the settings first, then those reading files."""
    found = [check for module in plugin_modules() for check in getattr(module, "VALIDATORS", ())]
    return tuple(c for c in found if not getattr(c, "reads_files", False)) + tuple(
        c for c in found if getattr(c, "reads_files", False))


def load_results() -> dict:
    """The one registry of results, filled: the core ones (:mod:`sslmem.report.results`) and each plugin's, in
    that order; each result's inputs checked against the input sets."""
    from sslmem.report import registry, results

    for result in [*results.RESULTS, *(r for module in plugin_modules() for r in module.RESULTS)]:
        registry.register(result)
    registry.check_inputs(input_set_names())
    return registry.RESULTS


def get_result(name: str):
    results = load_results()
    if name not in results:
        raise KeyError(f"no result named {name!r}; registered: {sorted(results)}")
    return results[name]


def input_set_names() -> set[str]:
    """The core input sets (:data:`sslmem.report.registry.INPUT_SETS`) and those the studies declare."""
    from sslmem.report.registry import INPUT_SETS

    return set(INPUT_SETS) | {name for study in load_studies().values() for name in study.input_sets}


def derived_setups(settings: Mapping) -> list[dict]:
    """Every setup a study derives (see :attr:`Study.setups`), in study order."""
    return [entry for study in load_studies().values() if study.setups for entry in study.setups(settings)]


def study_run(settings: Mapping, study: str, dataset: str, setup: str, seed: int, role: str):
    """The study's run with these keys, or a ConfigError naming what the study plans instead."""
    from sslmem.config import ConfigError

    runs = load_studies()[study].runs(settings)
    for run in runs:
        if (run.dataset, run.setup, run.seed, run.role) == (dataset, setup, seed, role):
            return run
    raise ConfigError(f"study {study!r} plans no encoder {role}{seed} of setup {setup!r} on {dataset!r} "
                      f"({len(runs)} encoders planned)")


def split_for(settings: Mapping, dataset: str, setup: str, study: str | None = None) -> str:
    """The split file of a study's encoders of `setup` on `dataset`: the study's own, else the core one."""
    from sslmem.artifacts import SPLIT

    own = load_studies()[study].split if study else None
    return own(settings, dataset, setup) if own else SPLIT.format(dataset=dataset)


def recipe_for(settings: Mapping, run, study: str | None = None) -> TrainingSetRecipe:
    """The training-set recipe of an encoder: the SSLMem protocol's f or g from the split, or the study's."""
    from sslmem.artifacts import SPLIT

    if study is None:
        return TrainingSetRecipe(kind="protocol", inputs={"split": SPLIT.format(dataset=run.dataset)},
                                 options={"role": run.role})
    return load_studies()[study].training_set(settings, run)
