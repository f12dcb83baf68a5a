"""The core jobs: split → training sets → train → align → score, probes, and the per-setup measurements that
the paper's tables read (Feldman, Déjà Vu, ClassMem, ranked points).

Each function returns :class:`JobKind` declarations for the validated settings; :mod:`sslmem.plan` adds the
studies' own and the registered results'. Every settings slice below is what the job's output is a function of,
so editing a knob reruns exactly the jobs that read it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem import artifacts
from sslmem import config as cfg
from sslmem.plan.kinds import JobKind
from sslmem.plan.runs import Runs

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


def align_settings(settings: Mapping, runs: Runs, wildcards, study: str | None = None) -> dict:
    """What an encoder's alignments depend on besides its checkpoint and split: the measurement settings, the
    representation scored and the training augmentation (the views). Not the other view families nor Table 8's
    runs (they make alignments of their own), nor other methods' representations."""
    augment = runs.spec(wildcards, study).training_settings(settings)["augment"]
    measure = {key: value for key, value in settings["measure"].items()
               if key not in ("representation", "view_families", "table8")}
    representation = cfg.setup_representation(settings, wildcards.setup)
    return {"measure": measure, "representation": representation, "augment": augment}


def probe_settings(settings: Mapping, runs: Runs, wildcards, study: str | None = None) -> dict:
    """The recipe this encoder's method is probed with and this dataset's downstream list. Not probe.roles:
    it picks which encoders are probed, not how."""
    recipe = cfg.probe_recipe(settings, runs.spec(wildcards, study).method)
    probe = {key: value for key, value in recipe.items() if key != "roles"}
    downstream = cfg.probe_downstream(settings, wildcards.dataset)
    return {"probe": probe, "downstream": downstream, "batch": settings["measure"]["batch_size"]}


def train_kind(tree: Mapping, runs: Runs, name: str, root: str, study: str | None, **extra) -> JobKind:
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


def core_kinds(settings: Mapping, runs: Runs) -> list[JobKind]:
    """split, training_set, train, align, score, layer_score, probe, settings."""
    return [
        JobKind(
            name="split", outputs={"csv": artifacts.SPLIT, "meta": "results/splits/{dataset}.json"},
            settings=lambda w: split_settings(settings, w.dataset), sections=("data", "experiment", "splits"),
            profile="split", command="split --dataset {wildcards.dataset} --out {output.csv}",
        ),
        JobKind(
            name="training_set",
            outputs={"csv": artifacts.TRAINING_SET, "meta": artifacts.TRAINING_SET_SIDECAR},
            inputs={"split": artifacts.SPLIT}, constraints=ENCODER_CONSTRAINT, local=True,
            settings=lambda w: runs.training_set_slice(w), sections=("experiment",),
            command=("training-set --dataset {wildcards.dataset} --setup {wildcards.setup} --seed {wildcards.seed}"
                     " --role {wildcards.role} --out {output.csv}"),
        ),
        train_kind(settings, runs, "train", "results/", None, constraints=ENCODER_CONSTRAINT),
        JobKind(
            name="align",
            outputs={"align": artifacts.ALIGN, "layers": artifacts.LAYER_ALIGN, "units": artifacts.UNITS},
            inputs={"checkpoint": artifacts.CHECKPOINT, "split": artifacts.SPLIT}, profile="model",
            settings=lambda w: align_settings(settings, runs, w), sections=(*MODEL_SECTIONS, "measure", "augmentations"),
            constraints=ENCODER_CONSTRAINT,
            command=("align --checkpoint {input.checkpoint} --split {input.split} --out {output.align}"
                     " --layers-out {output.layers} --units-out {output.units}"),
        ),
        JobKind(
            name="score", outputs={"scores": artifacts.SCORES},
            inputs=lambda w: {"align": runs.encoder_files(artifacts.ALIGN, w.dataset, w.setup)},
            command="score --align {input.align} --out {output.scores}",
        ),
        JobKind(
            name="layer_score", outputs={"scores": artifacts.LAYER_SCORES},
            inputs=lambda w: {"align": runs.encoder_files(artifacts.LAYER_ALIGN, w.dataset, w.setup)},
            command="score --layers --align {input.align} --out {output.scores}",
        ),
        JobKind(
            name="probe", outputs={"probe": artifacts.PROBE}, inputs={"checkpoint": artifacts.CHECKPOINT},
            settings=lambda w: probe_settings(settings, runs, w), sections=(*MODEL_SECTIONS, "probe", "measure"),
            profile="model", constraints=ENCODER_CONSTRAINT,
            command="probe --checkpoint {input.checkpoint} --out {output.probe}",
        ),
        JobKind(
            name="settings", local=True,
            outputs={"section_" + section: f"{artifacts.SETTINGS_DIR}/{section}.json" for section in SETTINGS_SECTIONS},
            settings=lambda w: settings, sections=("preset", "common", "presets"),
            log="results/logs/settings.log",
            command=f"settings --out-dir {artifacts.SETTINGS_DIR}",
        ),
    ]


def measurement_kinds(settings: Mapping, runs: Runs) -> list[JobKind]:
    """Per-setup measurements that the paper's other tables read: Feldman (Table 12), Déjà Vu (Table 4),
    ClassMem (localization Fig. 3) and every point ranked (Figs. 1, 9)."""
    from sslmem.plan import measurements

    return measurements.kinds(settings, runs)
