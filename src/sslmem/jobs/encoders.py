"""The jobs every encoder goes through, as the core and the studies declare them: training (from a training-set
file; a study's own variant adds outputs, e.g. snapshots), and the settings slices of the jobs that read an
encoder (its alignments, its probe). `runs` is the plan's :class:`sslmem.plan.runs.Runs` (what a job's wildcards
name); nothing here imports a study."""

from __future__ import annotations

from collections.abc import Mapping

from sslmem import artifacts
from sslmem import config as cfg
from sslmem.jobs.kinds import JobKind

ENCODER_CONSTRAINT = {"role": "|".join(artifacts.ROLES)}
# The sections every job that builds a model reads (dataset roots and sizes, the device and threads).
MODEL_SECTIONS = ("data", "training", "experiment", "methods", "archs")
SETTINGS_SECTIONS = ("data", "experiment", "splits", "training", "methods", "archs", "augmentations", "measure",
                     "probe", "stats", "report")


def split_settings(settings: Mapping, dataset: str) -> dict:
    """This dataset's sizes only: editing another dataset's pool or counts must not redraw this split."""
    splits = settings["splits"]
    counts = cfg.split_counts_for(settings, dataset)
    sizes = {"pool_size": cfg.pool_size_for(settings, dataset), "fractions": splits["fractions"],
             "extra_size": splits["extra_size"], **({"counts": counts} if counts else {})}
    return {"splits": sizes, "split_seed": settings["experiment"]["split_seed"], "dataset": dataset}


def align_settings(settings: Mapping, runs, wildcards, study: str | None = None) -> dict:
    """What an encoder's alignments depend on besides its checkpoint and split: the measurement settings, the
    representation scored and the training augmentation (the views). Not the other view families nor Table 8's
    runs (they make alignments of their own), nor other methods' representations."""
    augment = runs.spec(wildcards, study).training_settings(settings)["augment"]
    measure = {key: value for key, value in settings["measure"].items()
               if key not in ("representation", "view_families", "table8")}
    representation = cfg.setup_representation(settings, wildcards.setup)
    return {"measure": measure, "representation": representation, "augment": augment, **cfg.cpu_kernels_entry(settings)}


def probe_settings(settings: Mapping, runs, wildcards, study: str | None = None) -> dict:
    """The recipe this encoder's method is probed with and this dataset's downstream list. Not probe.roles:
    it picks which encoders are probed, not how."""
    recipe = cfg.probe_recipe(settings, runs.spec(wildcards, study).method)
    probe = {key: value for key, value in recipe.items() if key != "roles"}
    downstream = cfg.probe_downstream(settings, wildcards.dataset)
    return {"probe": probe, "downstream": downstream, "batch": settings["measure"]["batch_size"],
            **cfg.cpu_kernels_entry(settings)}


def train_kind(tree: Mapping, runs, name: str, root: str, study: str | None, **extra) -> JobKind:
    """Training one encoder from its training-set file (the core's, a study's: the same job)."""
    protect = ("checkpoint",) if tree["training"]["protect_checkpoints"] else ()
    study_arg = f"--study {study} " if study else ("--study {wildcards.study} " if "{study}" in root else "")
    outputs = {"checkpoint": root + artifacts.CHECKPOINT.removeprefix("results/"),
               "log": root + artifacts.TRAIN_LOG.removeprefix("results/"), **extra.pop("outputs", {})}
    return JobKind(
        name=name, outputs=outputs, protected=protect, profile="train",
        inputs={"training_set": root + artifacts.TRAINING_SET.removeprefix("results/")},
        settings=extra.pop("settings", lambda w: runs.spec(w, study).training_settings(tree)),
        sections=("data", "training", "experiment", "methods", "archs", "augmentations", "studies"),
        params={"resume": lambda w, r=root: _fill_encoder(r + artifacts.RESUME.removeprefix("results/"), w),
                **extra.pop("params", {})},
        command=(f"train {study_arg}--dataset {{wildcards.dataset}} --setup {{wildcards.setup}} --seed {{wildcards.seed}}"
                 " --role {wildcards.role} --training-set {input.training_set} --out {output.checkpoint}"
                 " --log {output.log} --resume {params.resume}" + extra.pop("command_tail", "")),
        **extra,
    )


def _fill_encoder(pattern: str, w) -> str:
    keys = {key: getattr(w, key) for key in ("dataset", "setup", "role", "seed", "study") if hasattr(w, key)}
    return pattern.format(**keys)


