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
