"""Uses of localised memorisation (localization paper, Sec. 6: Table 4's fine-tuning, and pruning by UnitMem).

For each run of studies.localization_uses (a setup of experiment.setups on its datasets), every f encoder of the
setup (its core checkpoint: nothing is trained again) is

- fine-tuned three ways on a labelled task (studies.localization_uses.task; null: the encoder's own dataset):
  a linear head alone, the head with the `finetune.layers` most memorising layers unfrozen, and with the least
  memorising ones, the layers ranked by the setup's core LayerMem (`rank_by`: delta_layermem or layermem, from
  the setup's per-layer score file); test top-1 of each (`finetune_layers` jobs);
- pruned: in every unit layer (``Encoder.named_units()``) the fraction `prune.fractions` of its units with the
  highest, the lowest or random UnitMem (the encoder's own core per-unit file) zeroed, then linear-probed with
  the core probe recipe (`prune_units` jobs).

The per-encoder files are compared over seeds with paired tests (:mod:`sslmem.report.localization_uses`):
`results/finetune_by_layermem.csv`, `results/pruning_by_unitmem.csv` and their figures.
The paper (ResNet9 SimCLR on CIFAR10, fine-tuned on STL10): fine-tuning the most memorising layer(s) gives a
higher downstream accuracy than the least memorising (or the last) ones; pruning the most memorising units
costs more accuracy than pruning the least memorising or random ones.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem import artifacts
from sslmem.report.registry import Result
from sslmem.studies import Study, TrainingSetRecipe

NAME = "localization_uses"
RESULTS: list[Result] = []
ROOT = f"{artifacts.RESULTS}/studies/{NAME}"
_ENCODER = "{dataset}/{setup}/{role}{seed}"
FINETUNE = f"{ROOT}/finetune/{_ENCODER}.csv"
PRUNE = f"{ROOT}/prune/{_ENCODER}.csv"
RANK_BY = ("delta_layermem", "layermem")

SETTINGS_SCHEMA = {
    "description": "fine-tuning by LayerMem and pruning by UnitMem of the core f encoders (target study_localization_uses)",
    "type": "object", "additionalProperties": False, "required": ["runs", "task", "finetune", "prune"],
    "properties": {
        "runs": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["setup", "datasets"],
            "properties": {"setup": {"type": "string", "minLength": 1},
                           "datasets": {"type": "array", "minItems": 1, "uniqueItems": True,
                                        "items": {"type": "string"}}}}},
        "task": {"type": ["string", "null"],
                 "description": "labelled dataset of the downstream task (null: each encoder's own dataset)"},
        "finetune": {
            "type": "object", "additionalProperties": False,
            "required": ["layers", "rank_by", "epochs", "batch_size", "lr", "weight_decay", "train_size",
                         "test_size", "seed"],
            "properties": {
                "layers": {"type": "integer", "minimum": 1}, "rank_by": {"enum": list(RANK_BY)},
                "epochs": {"type": "integer", "minimum": 1}, "batch_size": {"type": "integer", "minimum": 1},
                "lr": {"type": "number", "exclusiveMinimum": 0}, "weight_decay": {"type": "number", "minimum": 0},
                "train_size": {"type": ["integer", "null"], "minimum": 1},
                "test_size": {"type": ["integer", "null"], "minimum": 1},
                "seed": {"type": "integer", "minimum": 0}}},
        "prune": {
            "type": "object", "additionalProperties": False, "required": ["fractions", "seed"],
            "properties": {"fractions": {"type": "array", "minItems": 1, "uniqueItems": True,
                                         "items": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}},
                           "seed": {"type": "integer", "minimum": 0}}},
    },
}


def study_settings(settings: Mapping) -> dict:
    return dict(settings["studies"].get(NAME) or {"runs": []})


def encoders(settings: Mapping) -> list:
    """The core f encoders of every run (RunSpec), in params order."""
    from sslmem.config import experiment_runs

    wanted = {(dataset, run["setup"]) for run in study_settings(settings)["runs"] for dataset in run["datasets"]}
    return [run for run in experiment_runs(settings) if run.role == "f" and (run.dataset, run.setup) in wanted]


def finetune_files(settings: Mapping) -> list[str]:
    return [FINETUNE.format(**vars(run)) for run in encoders(settings)]


def prune_files(settings: Mapping) -> list[str]:
    return [PRUNE.format(**vars(run)) for run in encoders(settings)]


def _no_training_set(settings: Mapping, run) -> TrainingSetRecipe:
    raise ValueError(f"study {NAME!r} trains no encoders (it reads the core ones); got {run}")


def _alternatives(values) -> str:
    import re

    return "|".join(re.escape(str(value)) for value in dict.fromkeys(values)) or "^$"


def jobs(settings: Mapping, plan_runs) -> list:
    """Per core f encoder of the runs: one fine-tuning job (reads the setup's layer scores) and one pruning job
    (reads the encoder's units)."""
    from sslmem.config import probe_recipe
    from sslmem.jobs.kinds import JobKind

    chosen = encoders(settings)
    constraints = {"dataset": _alternatives(r.dataset for r in chosen), "setup": _alternatives(r.setup for r in chosen),
                   "role": "f", "seed": "[0-9]+"}
    study = study_settings(settings)
    sections = ("data", "training", "experiment", "methods", "archs", "probe", "measure", "studies")
    return [
        JobKind(
            name="finetune_layers", outputs={"csv": FINETUNE}, profile="model", constraints=constraints,
            inputs={"checkpoint": artifacts.CHECKPOINT, "layer_scores": artifacts.LAYER_SCORES},
            settings=lambda w: {"finetune": study.get("finetune"), "task": study.get("task")}, sections=sections,
            command="finetune-layers --checkpoint {input.checkpoint} --layer-scores {input.layer_scores} --out {output.csv}",
        ),
        JobKind(
            name="prune_units", outputs={"csv": PRUNE}, profile="model", constraints=constraints,
            inputs={"checkpoint": artifacts.CHECKPOINT, "units": artifacts.UNITS},
            settings=lambda w: {"prune": study.get("prune"), "task": study.get("task"),
                                "probe": probe_recipe(settings, plan_runs.spec(w).method),
                                "batch": settings["measure"]["batch_size"]},
            sections=sections,
            command="prune-units --checkpoint {input.checkpoint} --units {input.units} --out {output.csv}",
        ),
    ]


STUDY = Study(
    name=NAME, runs=lambda settings: [], training_set=_no_training_set, jobs=jobs, probed=False,
    input_sets={"localization_finetune": finetune_files, "localization_prune": prune_files},
    results=("finetune_by_layermem", "finetune_by_layermem_fig", "pruning_by_unitmem", "pruning_by_unitmem_fig"),
)


def _options(settings: Mapping) -> dict:
    return {"alpha": float(settings["stats"]["alpha"])}


RESULTS.append(Result(
    name="finetune_by_layermem", kind="table", category="Studies", default=False,
    title="Fine-tuning the most vs the least memorising layers (localization paper, Table 4)",
    caption=("Per dataset, setup and task: downstream top-1 (%) of each f encoder fine-tuned with a linear head "
             "alone, with its most memorising layer(s) unfrozen and with its least memorising ones (ranked by the "
             "setup's LayerMem, studies.localization_uses.finetune), mean over seeds; one row per comparison "
             "(most vs least, most vs head only) with the paired one-sided t-test over seeds (the paper: most > "
             "least), n_seeds and whether the paper's direction holds."),
    builder="sslmem.report.localization_uses:finetune_table",
    inputs={"finetune_paths": "localization_finetune"}, options=_options,
))
RESULTS.append(Result(
    name="finetune_by_layermem_fig", kind="figure", category="Studies", default=False,
    title="Fine-tuning by LayerMem — accuracy per condition",
    caption="Downstream top-1 per fine-tuning condition (head only, least, most memorising layers), one line per seed.",
    builder="sslmem.report.localization_uses:finetune_figure", inputs={"finetune_paths": "localization_finetune"},
))
RESULTS.append(Result(
    name="pruning_by_unitmem", kind="table", category="Studies", default=False,
    title="Pruning units by UnitMem (localization paper, Sec. 6)",
    caption=("Per dataset, setup and pruned fraction: linear-probe top-1 (%) of each f encoder with that fraction of "
             "every unit layer's units zeroed — those of highest UnitMem (top), lowest (bottom) or random — mean over "
             "seeds, beside the unpruned encoder; one row per comparison (top vs bottom, top vs random) with the "
             "paired one-sided t-test over seeds (the paper: pruning the most memorising units costs more), "
             "n_seeds and whether the paper's direction holds."),
    builder="sslmem.report.localization_uses:pruning_table",
    inputs={"prune_paths": "localization_prune"}, options=_options,
))
RESULTS.append(Result(
    name="pruning_by_unitmem_fig", kind="figure", category="Studies", default=False,
    title="Pruning by UnitMem — accuracy against the pruned fraction",
    caption="Linear-probe top-1 against the fraction of units zeroed per strategy (top, bottom, random UnitMem), "
            "mean ± std over seeds, the unpruned encoder at 0; one panel per dataset and setup.",
    builder="sslmem.report.localization_uses:pruning_figure", inputs={"prune_paths": "localization_prune"},
))


def _finetune_arguments(sub) -> None:
    sub.add_argument("--checkpoint", required=True, help="the final checkpoint of an f encoder")
    sub.add_argument("--layer-scores", required=True, help="the setup's per-layer score file (LayerMem)")
    sub.add_argument("--out", required=True, help="one row per condition (CSV)")


def _run_finetune(settings: Mapping, args) -> None:
    from pathlib import Path

    from sslmem.pipeline.localization_uses import run_finetune

    run_finetune(settings, Path(args.checkpoint), Path(args.layer_scores), Path(args.out))


def _prune_arguments(sub) -> None:
    sub.add_argument("--checkpoint", required=True, help="the final checkpoint of an f encoder")
    sub.add_argument("--units", required=True, help="the encoder's per-unit UnitMem file")
    sub.add_argument("--out", required=True, help="one row per strategy and fraction (CSV)")


def _run_prune(settings: Mapping, args) -> None:
    from pathlib import Path

    from sslmem.pipeline.localization_uses import run_prune

    run_prune(settings, Path(args.checkpoint), Path(args.units), Path(args.out))


# The verbs this plugin adds to the CLI (sslmem.studies.plugins.add_verbs): name, help, arguments, body.
VERBS = (
    ("finetune-layers", "fine-tune one f encoder's most / least memorising layers (by its setup's LayerMem) with a "
     "linear head on a labelled task (studies.localization_uses)", _finetune_arguments, _run_finetune),
    ("prune-units", "linear-probe top-1 of one f encoder with its highest / lowest / random UnitMem units zeroed "
     "(studies.localization_uses)", _prune_arguments, _run_prune),
)


def _validators() -> tuple:
    from sslmem.config import ConfigError

    def check_localization_uses(settings: Mapping) -> None:
        """Runs name setups of experiment.setups on their datasets; the task is a known dataset (named before
        any compute)."""
        from sslmem.config import setup_datasets, setup_name

        from sslmem.studies.variants import core_entry

        study = study_settings(settings)
        for index, run in enumerate(study["runs"]):
            where = f"studies.{NAME}.runs[{index}]"
            entry = core_entry(settings, run["setup"])
            if entry is None:
                known = [setup_name(setup) for setup in settings["experiment"]["setups"]]
                raise ConfigError(f"{where}.setup: no setup {run['setup']!r} in experiment.setups ({known})")
            missing = [d for d in run["datasets"] if d not in setup_datasets(settings, entry)]
            if missing:
                raise ConfigError(f"{where}.datasets: setup {run['setup']!r} does not run on {missing}")
        task = study.get("task")
        if task is not None and task not in settings["data"]["roots"]:
            raise ConfigError(f"studies.{NAME}.task: {task!r} is not a dataset of data.roots "
                              f"({sorted(settings['data']['roots'])})")

    return (check_localization_uses,)


VALIDATORS = _validators()
