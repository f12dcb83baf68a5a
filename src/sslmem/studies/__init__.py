"""Studies: experiments that train encoders of their own, on training sets of their own.

A study module in this package (a plugin, listed in :func:`plugin_modules`) declares ``STUDY``, one
:class:`Study`, with its tables and figures (``RESULTS``) and settings validators (``VALIDATORS``). From the
declaration the plan (:mod:`sslmem.plan`) makes the same generic jobs for every study
(:mod:`sslmem.plan.study_jobs`): one training-set file per encoder (written by ``sslmem training-set`` from the
study's :class:`TrainingSetRecipe`), the encoder, its probe, and whatever files the study's input sets name, plus
the kinds of job the study declares itself (``Study.jobs``). Its encoders live under ``results/studies/<study>/`` (so that each study is
one DVC stage with outputs of its own), with the same layout as the core encoders under ``results/``.

Importing this package is cheap (no torch, pandas or numpy): the Snakefile reads it at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sslmem.data.recipes import TrainingSetRecipe  # noqa: E402,F401 (declared where the sets are made)

STUDIES_ROOT = "results/studies"


def in_study(pattern: str, study: str) -> str:
    """A core path pattern (``results/<kind>/...``) moved under the study's folder, ``results/studies/<study>/``."""
    if not pattern.startswith("results/"):
        raise ValueError(f"{pattern!r} is not a path under results/")
    return f"{STUDIES_ROOT}/{study}/" + pattern.removeprefix("results/")


@dataclass(frozen=True)
class Study:
    """A study as the workflow sees it.

    Attributes:
        name: folder under results/studies/, DVC stage and Snakemake target of the study.
        runs: settings → the encoders it trains (:class:`sslmem.config.RunSpec`; `role` names the training set).
        training_set: (settings, run) → the :class:`TrainingSetRecipe` of that encoder's training set.
        input_sets: input-set name → (settings → files); the study's results read them like the core sets.
        results: names of the registered results that make up the study (its target).
        probed: whether its encoders are linearly probed (on their dataset and probe.downstream).
        setups: settings → the setups the study derives from experiment.setups entries (full entries with their
            own `name` and `recipe`; e.g. one private setup per ε); they are found by name like the preset's own,
            so the study's encoders are trained, aligned and scored with their recipe by the generic rules.
        scored: whether its f/g encoders are aligned and scored like the core ones (results/studies/<study>/align,
            scores, layer_scores, unitmem).
        split: (settings, dataset, setup) → the split file its encoders of that setup train on and are aligned on
            (default: the core split of the dataset); e.g. the planted study's, with foreign points among the
            candidates.
        in_out_roles: the roles whose encoders make the in/out scores of every pool point (each aligned on the
            whole split, results/studies/<study>/pool_align, scored into results/studies/<study>/inout).
        jobs: (settings, runs) → the study's own kinds of job (:class:`sslmem.jobs.kinds.JobKind`) beside the
            generic ones every study gets (training set, train, probe, align, score; :mod:`sslmem.plan.study_jobs`).
    """

    name: str
    runs: Callable[[Mapping], Sequence]
    training_set: Callable[[Mapping, object], TrainingSetRecipe]
    input_sets: Mapping[str, Callable[[Mapping], list[str]]] = field(default_factory=dict)
    results: Sequence[str] = ()
    probed: bool = True
    setups: Callable[[Mapping], list] | None = None
    scored: bool = False
    split: Callable[[Mapping, str, str], str] | None = None
    in_out_roles: tuple[str, ...] = ()
    jobs: Callable[[Mapping, object], list] | None = None


# The roles scored by the f/g estimator (a scored study may train other encoders beside them).
SCORED_ROLES = ("f", "g")
POOL_ALIGN = "results/pool_align/{dataset}/{setup}/{role}{seed}.parquet"
INOUT_SCORES = "results/inout/{dataset}/{setup}.parquet"


def reads_files(check):
    """Mark a validator that reads files (dataset roots): it runs after the others, on every load."""
    check.reads_files = True
    return check


def plugin_modules() -> tuple:
    """The study plugins, in the order their stages and setups are listed. Adding a study: its module, and its
    name here. Each module declares ``STUDY`` (a :class:`Study`), ``RESULTS`` (its tables and figures) and,
    optionally, ``VALIDATORS`` (functions of the settings that raise ConfigError) and ``SETTINGS_SCHEMA`` (the JSON
    schema of its section, studies.<name>)."""
    from sslmem.studies import (augmentations, coreset, dynamics, halves, measure_views, overlap, planted, privacy,
                                regularizer, removal, replication)

    return (augmentations, coreset, dynamics, halves, measure_views, overlap, planted, privacy, regularizer, removal,
            replication)


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
