"""The jobs every study gets from its declaration (:class:`sslmem.studies.Study`), generic over the study
(wildcard ``{study}``): each encoder's training set, the encoder, its probe; for a scored study its f/g alignments
and scores; for an in/out study the alignment of every pool point and the in/out scores. All under
``results/studies/<study>/``, with the core layout."""

from __future__ import annotations

from collections.abc import Mapping

from sslmem import artifacts
from sslmem import studies as study_plugins
from sslmem.studies import plugins
from sslmem.config import ConfigError
from sslmem.jobs.encoders import MODEL_SECTIONS, align_settings, probe_settings, train_kind
from sslmem.jobs.kinds import JobKind
from sslmem.plan.runs import Runs

STUDY = "results/studies/{study}/"


def at(pattern: str) -> str:
    """A core pattern (results/...) under the study's folder, with the {study} wildcard."""
    return STUDY + pattern.removeprefix("results/")


def study_split(settings: Mapping, w) -> str:
    return plugins.split_for(settings, w.dataset, w.setup, w.study)


def inout_files(runs: Runs, pattern: str, w) -> list[str]:
    """`pattern` (a study pattern) for every encoder of the study's in/out roles on one (dataset, setup)."""
    roles = runs.studies[w.study].in_out_roles
    files = [pattern.format(study=w.study, **vars(run)) for run in runs.of_study(w.study)
             if (run.dataset, run.setup) == (w.dataset, w.setup) and run.role in roles]
    if not files:
        raise ConfigError(f"study {w.study!r} has no in/out encoders of setup {w.setup!r} on {w.dataset!r}")
    return files


def scored_files(runs: Runs, pattern: str, w) -> list[str]:
    """`pattern` (a study pattern) for every f/g encoder of one of the study's setups."""
    files = [pattern.format(study=w.study, **vars(run)) for run in runs.of_study(w.study)
             if (run.dataset, run.setup) == (w.dataset, w.setup) and run.role in study_plugins.SCORED_ROLES]
    if not files:
        raise ConfigError(f"study {w.study!r} plans no encoder of setup {w.setup!r} on {w.dataset!r}")
    return files


def kinds(settings: Mapping, runs: Runs) -> list[JobKind]:
    align_sections = (*MODEL_SECTIONS, "measure", "augmentations", "studies")
    return [
        JobKind(
            name="study_training_set", local=True,
            outputs={"csv": at(artifacts.TRAINING_SET), "meta": at(artifacts.TRAINING_SET_SIDECAR)},
            inputs=lambda w: dict(runs.training_set_recipe(w).inputs),
            settings=lambda w: runs.training_set_slice(w), sections=("experiment", "studies"),
            command=("training-set --study {wildcards.study} --dataset {wildcards.dataset} --setup {wildcards.setup}"
                     " --seed {wildcards.seed} --role {wildcards.role} --out {output.csv}"),
        ),
        train_kind(settings, runs, "study_train", STUDY, None),
        JobKind(
            name="study_probe", outputs={"probe": at(artifacts.PROBE)}, inputs={"checkpoint": at(artifacts.CHECKPOINT)},
            settings=lambda w: probe_settings(settings, runs, w), sections=(*MODEL_SECTIONS, "probe", "measure"),
            profile="model", command="probe --checkpoint {input.checkpoint} --out {output.probe}",
        ),
        JobKind(
            name="pool_align", outputs={"align": at(study_plugins.POOL_ALIGN)}, profile="model",
            inputs=lambda w: {"checkpoint": at(artifacts.CHECKPOINT).format(**vars(w)),
                              "split": study_split(settings, w)},
            settings=lambda w: align_settings(settings, runs, w), sections=align_sections,
            command="align --points pool --checkpoint {input.checkpoint} --split {input.split} --out {output.align}",
        ),
        JobKind(
            name="inout_score", outputs={"scores": at(study_plugins.INOUT_SCORES)}, profile="table_long",
            inputs=lambda w: {"align": inout_files(runs, at(study_plugins.POOL_ALIGN), w),
                              "training_sets": inout_files(runs, at(artifacts.TRAINING_SET), w)},
            settings=lambda w: settings["stats"]["bootstrap"], sections=("stats",),
            command=("score --in-out --align {input.align} --training-sets {input.training_sets}"
                     " --out {output.scores}"),
        ),
        JobKind(
            name="study_align", profile="model",
            outputs={"align": at(artifacts.ALIGN), "layers": at(artifacts.LAYER_ALIGN), "units": at(artifacts.UNITS)},
            inputs=lambda w: {"checkpoint": at(artifacts.CHECKPOINT).format(**vars(w)),
                              "split": study_split(settings, w)},
            settings=lambda w: align_settings(settings, runs, w), sections=align_sections,
            command=("align --checkpoint {input.checkpoint} --split {input.split} --out {output.align}"
                     " --layers-out {output.layers} --units-out {output.units}"),
        ),
        JobKind(
            name="study_score", outputs={"scores": at(artifacts.SCORES)},
            inputs=lambda w: {"align": scored_files(runs, at(artifacts.ALIGN), w)},
            command="score --align {input.align} --out {output.scores}",
        ),
        JobKind(
            name="study_layer_score", outputs={"scores": at(artifacts.LAYER_SCORES)},
            inputs=lambda w: {"align": scored_files(runs, at(artifacts.LAYER_ALIGN), w)},
            command="score --layers --align {input.align} --out {output.scores}",
        ),
    ]
