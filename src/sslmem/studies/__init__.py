"""Studies: experiments that train encoders of their own, on training sets of their own.

A study module in this package declares one :class:`Study` with :func:`register_study` (and its tables and
figures with :func:`sslmem.report.registry.register`). From the declaration the workflow plans, with the same
generic rules for every study (workflow/rules/studies.smk): one training-set file per encoder (written by
``sslmem training-set`` from the study's :class:`TrainingSetRecipe`), the encoder, its probe, and whatever
files the study's input sets name. Its encoders live under ``results/studies/<study>/`` (so that each study is
one DVC stage with outputs of its own), with the same layout as the core encoders under ``results/``.

Importing this package is cheap (no torch, pandas or numpy): the Snakefile reads it at start-up.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

STUDIES_ROOT = "results/studies"


def in_study(pattern: str, study: str) -> str:
    """A core path pattern (``results/<kind>/...``) moved under the study's folder, ``results/studies/<study>/``."""
    if not pattern.startswith("results/"):
        raise ValueError(f"{pattern!r} is not a path under results/")
    return f"{STUDIES_ROOT}/{study}/" + pattern.removeprefix("results/")


@dataclass(frozen=True)
class TrainingSetRecipe:
    """How one encoder's training set is made: a kind of :mod:`sslmem.pipeline.training_set` (``protocol``,
    ``half``, ``drop``, ``keep``), the files it reads (argument → path) and its options (JSON-able; also the
    training-set rule's settings fingerprint)."""

    kind: str
    inputs: Mapping[str, str]
    options: Mapping


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
        jobs: (settings, runs) → the study's own kinds of job (:class:`sslmem.plan.kinds.JobKind`) beside the
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


STUDIES: dict[str, Study] = {}


def register_study(study: Study) -> Study:
    if study.name in STUDIES and STUDIES[study.name] != study:
        raise ValueError(f"study {study.name!r} is registered twice")
    STUDIES[study.name] = study
    return study


def load_studies() -> dict[str, Study]:
    """Every study of this package (importing each module registers it)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return STUDIES


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
