"""UnitMem of the last layer under three conditions (localization paper, Figs. 4, 5 and 1c): over training, with vs
without training augmentations, and per privacy budget ε.

Trains nothing: it reads the encoders other studies already train.

- Over training (Fig. 4): the snapshots of the dynamics study (studies.dynamics; every `every` epochs of the
  core f encoders), each aligned with UnitMem (``unitmem_snapshot`` jobs: the core align verb with units, the views
  of the final encoder) under results/studies/unitmem_conditions/epoch<e>/unitmem/.
- Augmentations (Fig. 5): each run of studies.augmentations whose variants include `without_augmentation` (a
  variant whose `augment` is the family ``train_none``: identical views) gives f encoders trained without
  augmentation; they are measured with the base setup's training augmentation (``unitmem_augment`` jobs, the
  align-augment verb), the views its core encoders are measured with, so both conditions read UnitMem over the
  same kind of views; the base setup's core per-unit files are the "with augmentation" condition.
- Privacy (Fig. 1c): the private f encoders of studies.privacy (their per-unit files, measured with their training
  views) beside the base setup's core ones (ε = ∞).

`results/unitmem_conditions.csv`: one row per condition, encoder and level (epoch, with/without, ε) with the mean
UnitMem of the layer (`layer`: null = each encoder's last unit layer); `results/unitmem_condition_tests.csv`: the
paper's direction tested at encoder level (paired t over seeds, Spearman over epochs / ε);
:mod:`sslmem.report.unitmem_conditions`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sslmem import artifacts
from sslmem.report.registry import Result
from sslmem.studies import Study, TrainingSetRecipe, in_study

NAME = "unitmem_conditions"
RESULTS: list[Result] = []
ROOT = f"{artifacts.RESULTS}/studies/{NAME}"
_ENCODER = "{dataset}/{setup}/{role}{seed}"
SNAPSHOT_ALIGN = ROOT + "/epoch{epoch}/align/" + _ENCODER + ".parquet"
SNAPSHOT_UNITS = ROOT + "/epoch{epoch}/unitmem/" + _ENCODER + ".parquet"
NOAUG_ALIGN = ROOT + "/augmentations/align/" + _ENCODER + ".parquet"
NOAUG_UNITS = ROOT + "/augmentations/unitmem/" + _ENCODER + ".parquet"

SETTINGS_SCHEMA = {
    "description": "UnitMem over training, with vs without augmentations and per ε (target study_unitmem_conditions)",
    "type": "object", "additionalProperties": False, "required": ["without_augmentation", "layer"],
    "properties": {
        "without_augmentation": {"type": "string", "minLength": 1,
                                 "description": "the variant of studies.augmentations.variants trained without augmentation"},
        "layer": {"type": ["string", "null"], "description": "the unit layer averaged (null: each encoder's last)"},
    },
}


def study_settings(settings: Mapping) -> dict:
    return dict(settings["studies"].get(NAME) or {"without_augmentation": "no_aug", "layer": None})


def snapshot_runs(settings: Mapping) -> list[tuple]:
    """(run, epoch) for every f encoder the dynamics study follows and each of its snapshot epochs."""
    from sslmem.studies import dynamics

    return [(run, epoch) for run in dynamics.runs(settings) if run.role == "f"
            for epoch in dynamics.snapshot_epochs(settings, run.setup)]


def augmentation_pairs(settings: Mapping) -> list[dict]:
    """{dataset, setup, variant_setup, family, seeds}: every base setup trained without augmentation too."""
    from sslmem.config import setup_recipe, setup_seeds

    from sslmem.studies import augmentations

    variant = study_settings(settings)["without_augmentation"]
    pairs = []
    for entry in augmentations.variant_setups(settings):
        if entry["level"] != variant:
            continue
        for dataset in entry["datasets"]:
            pairs.append({"dataset": dataset, "setup": entry["variant_of"], "variant_setup": entry["name"],
                          "family": setup_recipe(settings, entry["variant_of"])["augment"],
                          "seeds": setup_seeds(settings, entry)})
    return pairs


def privacy_levels(settings: Mapping) -> list[dict]:
    """{dataset, setup, private_setup, epsilon, seeds} of every private setup of studies.privacy."""
    from sslmem.config import setup_seeds

    from sslmem.studies import privacy

    return [{"dataset": dataset, "setup": entry["variant_of"], "private_setup": entry["name"],
             "epsilon": float(entry["level"]), "seeds": setup_seeds(settings, entry)}
            for entry in privacy.private_setups(settings) for dataset in entry["datasets"]]


def snapshot_unit_files(settings: Mapping) -> list[str]:
    return [SNAPSHOT_UNITS.format(epoch=epoch, **vars(run)) for run, epoch in snapshot_runs(settings)]


def noaug_unit_files(settings: Mapping) -> list[str]:
    return [NOAUG_UNITS.format(dataset=p["dataset"], setup=p["variant_setup"], role="f", seed=seed)
            for p in augmentation_pairs(settings) for seed in p["seeds"]]


def private_unit_files(settings: Mapping) -> list[str]:
    return [in_study(artifacts.UNITS, "privacy").format(dataset=p["dataset"], setup=p["private_setup"], role="f",
                                                         seed=seed) for p in privacy_levels(settings) for seed in p["seeds"]]


def base_unit_files(settings: Mapping) -> list[str]:
    """The core per-unit files of the f encoders of every base setup compared (with augmentation; ε = ∞)."""
    from sslmem.config import experiment_runs

    bases = {(p["dataset"], p["setup"]) for p in [*augmentation_pairs(settings), *privacy_levels(settings)]}
    return [artifacts.UNITS.format(**vars(run)) for run in experiment_runs(settings)
            if run.role == "f" and (run.dataset, run.setup) in bases]


def _no_training_set(settings: Mapping, run) -> TrainingSetRecipe:
    raise ValueError(f"study {NAME!r} trains no encoders (it reads other studies' ones); got {run}")


def _alternatives(values) -> str:
    return "|".join(re.escape(str(value)) for value in dict.fromkeys(values)) or "^$"


def jobs(settings: Mapping, plan_runs) -> list:
    """UnitMem of every dynamics snapshot of an f encoder, and of every f encoder trained without augmentation
    measured with its base setup's augmentation family."""
    from sslmem.config import setup_representation
    from sslmem.jobs.encoders import align_settings
    from sslmem.jobs.kinds import JobKind
    from sslmem.studies import dynamics

    pairs = {p["variant_setup"]: p for p in augmentation_pairs(settings)}
    snapshot = lambda w: dynamics.SNAPSHOT.format(**{k: getattr(w, k) for k in ("dataset", "setup", "role", "seed", "epoch")})  # noqa: E731
    measure = {k: v for k, v in settings["measure"].items() if k not in ("representation", "view_families", "table8")}
    sections = ("data", "training", "experiment", "methods", "archs", "augmentations", "measure", "studies")
    return [
        JobKind(
            name="unitmem_snapshot", outputs={"align": SNAPSHOT_ALIGN, "units": SNAPSHOT_UNITS}, profile="model",
            constraints={"epoch": "[0-9]+", "role": "f"},
            inputs={"snapshots": dynamics.SNAPSHOTS, "split": artifacts.SPLIT}, params={"checkpoint": snapshot},
            settings=lambda w: align_settings(settings, plan_runs, w, dynamics.NAME), sections=sections,
            command=("align --checkpoint {params.checkpoint} --split {input.split} --out {output.align}"
                     " --units-out {output.units}"),
        ),
        JobKind(
            name="unitmem_augment", outputs={"align": NOAUG_ALIGN, "units": NOAUG_UNITS}, profile="model",
            constraints={"setup": _alternatives(pairs), "role": "f"},
            inputs={"checkpoint": in_study(artifacts.CHECKPOINT, "augmentations"), "split": artifacts.SPLIT},
            params={"family": lambda w: pairs[w.setup]["family"]},
            settings=lambda w: {"measure": measure, "family": settings["augmentations"][pairs[w.setup]["family"]],
                                "representation": setup_representation(settings, w.setup)},
            sections=sections,
            command=("align-augment --checkpoint {input.checkpoint} --split {input.split} --family {params.family}"
                     " --out {output.align} --units-out {output.units}"),
        ),
    ]


STUDY = Study(
    name=NAME, runs=lambda settings: [], training_set=_no_training_set, jobs=jobs, probed=False,
    input_sets={"unitmem_snapshot_units": snapshot_unit_files, "unitmem_noaug_units": noaug_unit_files,
                "unitmem_base_units": base_unit_files, "unitmem_private_units": private_unit_files},
    results=("unitmem_conditions", "unitmem_condition_tests", "unitmem_training_fig", "unitmem_augmentations_fig",
             "unitmem_privacy_fig"),
)


def conditions_options(settings: Mapping) -> dict:
    """Which files are which: the augmentation pairs and the private setups with their ε; the layer averaged."""
    strip = lambda rows: [{k: v for k, v in row.items() if k != "seeds"} for row in rows]  # noqa: E731
    return {"augmentation_pairs": strip(augmentation_pairs(settings)), "privacy_levels": strip(privacy_levels(settings)),
            "layer": study_settings(settings)["layer"]}


RESULTS.append(Result(
    name="unitmem_conditions", kind="table", category="Studies", default=False,
    title="UnitMem over training, with vs without augmentations, per ε (localization paper, Figs. 4, 5, 1c)",
    caption=("One row per condition (training: a dynamics snapshot's epoch; augmentations: the setup's f encoders "
             "trained with vs without augmentation, both measured with the setup's augmentation; privacy: ε, ∞ = "
             "the setup's own), dataset, setup and f encoder (seed): mean and median UnitMem over the units of the "
             "layer (studies.unitmem_conditions.layer; null: the last unit layer) with a defined UnitMem."),
    builder="sslmem.report.unitmem_conditions:conditions_table",
    inputs={"snapshot_unit_paths": "unitmem_snapshot_units", "noaug_unit_paths": "unitmem_noaug_units",
            "base_unit_paths": "unitmem_base_units", "private_unit_paths": "unitmem_private_units"},
    options=conditions_options,
))
RESULTS.append(Result(
    name="unitmem_condition_tests", kind="table", category="Studies", default=False,
    title="UnitMem conditions — the paper's directions tested over seeds",
    caption=("Per condition, dataset and setup: the paper's direction (UnitMem rises over training; is higher with "
             "augmentations; is lower under DP) tested at encoder level — paired one-sided t over seeds (last vs "
             "first epoch, with vs without, ∞ vs each ε) and Spearman's rho of the mean over seeds against epoch / ε "
             "— statistic, p, n_seeds, whether the direction holds and is significant at stats.alpha."),
    builder="sslmem.report.unitmem_conditions:condition_tests_table",
    inputs={"table_csv": "unitmem_conditions"}, options=lambda settings: {"alpha": float(settings["stats"]["alpha"])},
))
for _condition, _what in (("training", "against the snapshot epoch (Fig. 4)"),
                          ("augmentations", "with vs without training augmentation (Fig. 5)"),
                          ("privacy", "against the privacy budget ε, ∞ at the right (Fig. 1c)")):
    RESULTS.append(Result(
        name=f"unitmem_{_condition}_fig", kind="figure", category="Studies", default=False,
        title=f"UnitMem of the last layer {_what}",
        caption=f"Mean UnitMem of the layer {_what}: one line (or bar) per seed, one panel per dataset and setup.",
        builder="sslmem.report.unitmem_conditions:condition_figure",
        inputs={"table_csv": "unitmem_conditions"}, options=lambda settings, c=_condition: {"condition": c},
    ))


def _align_arguments(sub) -> None:
    sub.add_argument("--checkpoint", required=True, help="the final checkpoint of an encoder")
    sub.add_argument("--split", required=True, help="the split CSV the encoder was trained on")
    sub.add_argument("--family", required=True, help="a family of params.yaml `augmentations`")
    sub.add_argument("--out", required=True, help="per-point alignment (Parquet)")
    sub.add_argument("--units-out", required=True, help="UnitMem of every unit (Parquet)")


def _run_align(settings: Mapping, args) -> None:
    from pathlib import Path

    from sslmem.pipeline.align import run_align

    run_align(settings, Path(args.checkpoint), Path(args.split), Path(args.out), out_units=Path(args.units_out),
              augment_family=args.family)


# The verb this plugin adds to the CLI (sslmem.studies.plugins.add_verbs): name, help, arguments, body.
VERBS = (("align-augment", "align one encoder (with UnitMem) with the views of a named family of `augmentations` "
          "instead of its training augmentation (studies.unitmem_conditions)", _align_arguments, _run_align),)


def _validators() -> tuple:
    from sslmem.config import ConfigError

    def check_unitmem_conditions(settings: Mapping) -> None:
        """without_augmentation names a variant of studies.augmentations (named before any compute)."""
        variant = study_settings(settings)["without_augmentation"]
        known = settings["studies"]["augmentations"]["variants"]
        if variant not in known:
            raise ConfigError(f"studies.{NAME}.without_augmentation: {variant!r} is not a variant of "
                              f"studies.augmentations.variants ({sorted(known)})")

    return (check_unitmem_conditions,)


VALIDATORS = _validators()
