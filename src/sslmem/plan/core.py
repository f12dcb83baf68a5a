"""The core jobs: split → training sets → train → align → score, probes, and the per-setup measurements that
the paper's tables read (Feldman, Déjà Vu, ClassMem, ranked points).

Each function returns :class:`JobKind` declarations for the validated settings; :mod:`sslmem.plan` adds the
studies' own and the registered results'. Every settings slice below is what the job's output is a function of,
so editing a knob reruns exactly the jobs that read it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem import artifacts
from sslmem.jobs.encoders import (ENCODER_CONSTRAINT, MODEL_SECTIONS, SETTINGS_SECTIONS, align_settings,
                                  probe_settings, split_settings, train_kind)
from sslmem.jobs.kinds import JobKind
from sslmem.plan.runs import Runs

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
