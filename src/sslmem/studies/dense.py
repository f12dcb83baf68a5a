"""Dense fine-tuning after removal (SSLMem Sec. 4.4.4, App. B.2; Tables 3 and 10): does removing the most memorised
points from pre-training hurt segmentation and depth estimation more than removing random points?

The removal study (:mod:`sslmem.studies.removal`) retrains half A without its k most memorised or k random points;
this study trains no encoder of its own. For each run of studies.dense (a removal run's setup, datasets and some
of its k), each removal seed and each task (segmentation, depth), one ``dense`` job fine-tunes one encoder end to
end with an UPerNet decoder (:mod:`sslmem.pipeline.dense`): the half-A encoder (k = 0, no removal), and the top-k
and random-k removals. Each writes one row, ``results/studies/dense/metrics/<task>/<dataset>/<setup>/<role><seed>.csv``:
mIoU and pixel accuracy, or RMSE and δ < 1.25, and the fine-tuned encoder's linear-probe top-1 on its own dataset.
``results/table3.csv`` (segmentation) and ``results/table10.csv`` (depth) give mean ± std over seeds per k and
selection and a paired one-sided t-test over seeds of top vs random (:mod:`sslmem.report.dense`), with the paper's
values beside its own run only.

Settings (params.yaml ``studies.dense``): runs, seed, probe, roots (ADE20K, NYU-Depth v2), scenes (the offline
stand-in) and one recipe per task (``segmentation``, ``depth``).
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem.report import roles
from sslmem.report.registry import Result
from sslmem.report.results import identities
from sslmem.studies import Study, TrainingSetRecipe, in_study

NAME = "dense"
RESULTS: list[Result] = []
TASKS = ("segmentation", "depth")
TASK_DATASETS = {"segmentation": ("scenes", "ade20k"), "depth": ("scenes", "nyu_depth_v2")}
METRICS = in_study("results/metrics/{task}/{dataset}/{setup}/{role}{seed}.csv", NAME)
ROLE_CONSTRAINT = f"{roles.HALF_A}|drop_(?:top|random)_[0-9]+_of_a"

_RECIPE = {
    "type": "object", "additionalProperties": False,
    "required": ["dataset", "image_size", "train_size", "test_size", "epochs", "batch_size", "lr", "poly_power",
                 "momentum", "weight_decay", "decoder_channels"],
    "properties": {
        "dataset": {"enum": ["scenes", "ade20k", "nyu_depth_v2"],
                    "description": "scenes (the offline stand-in), ade20k (segmentation) or nyu_depth_v2 (depth)"},
        "image_size": {"type": "integer", "minimum": 8, "description": "square side images and targets are resized to"},
        "train_size": {"type": ["integer", "null"], "minimum": 2, "description": "training images (null: all)"},
        "test_size": {"type": ["integer", "null"], "minimum": 1, "description": "test images (null: all)"},
        "epochs": {"type": "integer", "minimum": 1},
        "batch_size": {"type": "integer", "minimum": 2, "description": "BatchNorm in the decoder needs two or more"},
        "lr": {"type": "number", "exclusiveMinimum": 0, "description": "initial lr of the poly schedule (SGD)"},
        "poly_power": {"type": "number", "minimum": 0, "description": "lr_t = lr (1 - t/T)^power"},
        "momentum": {"type": "number", "minimum": 0, "maximum": 1},
        "weight_decay": {"type": "number", "minimum": 0},
        "decoder_channels": {"type": "integer", "minimum": 1, "description": "UPerNet's channels"},
    },
}
# The JSON schema of studies.dense (declared here: sslmem.plan.load_settings adds it to params' schema).
SETTINGS_SCHEMA = {
    "description": "Tables 3 and 10: the removal study's encoders fine-tuned on dense tasks (target study_dense)",
    "type": "object", "additionalProperties": False,
    "required": ["runs", "seed", "probe", "roots", "scenes", *TASKS],
    "properties": {
        "runs": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["setup", "datasets", "k"],
            "properties": {
                "setup": {"type": "string", "minLength": 1, "description": "a setup of studies.removal.runs"},
                "datasets": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string"}},
                "k": {"type": "array", "minItems": 1, "uniqueItems": True,
                      "items": {"type": "integer", "minimum": 1}, "description": "k of that removal run"},
            }}},
        "seed": {"type": "integer", "minimum": 0, "description": "with each encoder's seed: decoder init, data order"},
        "probe": {"type": "boolean", "description": "linear-probe each fine-tuned encoder on its own dataset"},
        "roots": {"type": "object", "additionalProperties": False, "required": ["ade20k", "nyu_depth_v2"],
                  "properties": {"ade20k": {"type": "string"}, "nyu_depth_v2": {"type": "string"}}},
        "scenes": {"type": "object", "additionalProperties": False, "required": ["source", "seed", "items", "scale"],
                   "properties": {
                       "source": {"type": "string", "description": "dataset whose test split gives the items"},
                       "seed": {"type": "integer", "minimum": 0},
                       "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                 "items": {"type": "integer", "minimum": 1}, "description": "[min, max] per scene"},
                       "scale": {"type": "array", "minItems": 2, "maxItems": 2,
                                 "items": {"type": "number", "exclusiveMinimum": 0}, "description": "[min, max]"}}},
        **{task: _RECIPE for task in TASKS},
    },
}


def config_of(settings: Mapping) -> dict:
    return settings["studies"].get(NAME) or {"runs": []}


def encoders(settings: Mapping) -> list[dict]:
    """Every encoder fine-tuned: (dataset, setup, role, seed) over the runs, each removal seed, k = 0 (half A) and
    the top and random removals of each k."""
    seeds = settings["studies"]["removal"]["seeds"]
    found = []
    for run in config_of(settings)["runs"]:
        role_list = [roles.HALF_A] + [roles.removal_role(selection, k) for k in run["k"] for selection in ("top", "random")]
        found += [{"dataset": dataset, "setup": run["setup"], "role": role, "seed": seed}
                  for dataset in run["datasets"] for role in role_list for seed in seeds]
    return found


def metric_files(task: str):
    def files(settings: Mapping) -> list[str]:
        return [METRICS.format(task=task, **encoder) for encoder in encoders(settings)]
    return files


def checkpoint_of(w) -> str:
    """The half-A checkpoint (halves study) for k = 0, else the removal study's."""
    from sslmem.artifacts import CHECKPOINT

    study = "halves" if w.role == roles.HALF_A else "removal"
    return in_study(CHECKPOINT, study).format(dataset=w.dataset, setup=w.setup, role=w.role, seed=w.seed)


def job_settings(settings: Mapping, task: str) -> dict:
    """What one fine-tune reads besides its checkpoint: the task's recipe and data, the seed and the probe."""
    config = config_of(settings)
    recipe = config[task]
    data = config["scenes"] if recipe["dataset"] == "scenes" else config["roots"][recipe["dataset"]]
    return {"recipe": recipe, "data": data, "seed": config["seed"],
            "probe": settings["probe"] if config["probe"] else None, "measure_batch": settings["measure"]["batch_size"]}


def jobs(settings: Mapping, plan_runs) -> list:
    from sslmem.jobs.kinds import JobKind

    return [JobKind(
        name="dense", profile="train", outputs={"metrics": METRICS},
        constraints={"task": "|".join(TASKS), "role": ROLE_CONSTRAINT},
        inputs=lambda w: {"checkpoint": checkpoint_of(w)},
        settings=lambda w: job_settings(settings, w.task),
        sections=("data", "training", "probe", "measure", "studies"),
        command="dense --task {wildcards.task} --checkpoint {input.checkpoint} --out {output.metrics}",
    )]


def _no_training_set(settings: Mapping, run) -> TrainingSetRecipe:
    raise ValueError(f"study {NAME!r} trains no encoders of its own (it fine-tunes the removal study's); got {run}")


STUDY = Study(
    name=NAME, runs=lambda settings: [], training_set=_no_training_set, probed=False, jobs=jobs,
    input_sets={"dense_segmentation": metric_files("segmentation"), "dense_depth": metric_files("depth")},
    results=("table3", "table3_fig", "table10", "table10_fig"),
)


def table_options(settings: Mapping) -> dict:
    return identities(settings)


for _task, _table, _paper, _what in (("segmentation", "table3", "ADE20K", "mIoU and pixel accuracy"),
                                     ("depth", "table10", "NYU-Depth v2", "RMSE (m) and δ < 1.25")):
    RESULTS.append(Result(
        name=_table, kind="table", category="Studies", default=False,
        title=f"Table {_table.removeprefix('table')} — {_task} after removing memorised vs random points",
        caption=(f"The removal study's encoders (k = 0: half A; the k most memorised or k random points removed) "
                 f"fine-tuned end to end with UPerNet on {_task} ({_what}; mean ± std over seeds) and their "
                 f"linear-probe top-1 (%) on their own dataset after fine-tuning, with a paired one-sided t-test over "
                 f"seeds of top vs random (H0: removing the memorised points hurts no more); the paper's Table "
                 f"{_table.removeprefix('table')} ({_paper}, MAE ViT-base on ImageNet) beside its own run only."),
        builder=f"sslmem.report.dense:{_table}", inputs={"metric_paths": f"dense_{_task}"}, options=table_options,
    ))
    RESULTS.append(Result(
        name=f"{_table}_fig", kind="figure", category="Studies", default=False,
        title=f"Table {_table.removeprefix('table')} — {_task} against the points removed",
        caption=(f"{_what.split(' and ')[0]} after fine-tuning against the number k of removed points, most "
                 "memorised (red) vs random (grey), mean ± std over seeds, per dataset and setup."),
        builder="sslmem.report.dense:dense_figure", inputs={"table_csv": _table},
    ))


def _validators() -> tuple:
    from sslmem.config import ConfigError

    def check_dense(settings: Mapping) -> None:
        """Each run is a removal run's setup and datasets with k among its k; each task's dataset fits the task."""
        from sslmem.studies import halves

        halves.check_study_runs(settings, "removal")  # the removal runs first: this study's are named from them
        removal = settings["studies"]["removal"]["runs"]
        for index, run in enumerate(config_of(settings)["runs"]):
            where = f"studies.dense.runs[{index}]"
            for dataset in run["datasets"]:
                ks = {k for entry in removal if entry["setup"] == run["setup"] and dataset in entry["datasets"]
                      for k in entry["k"]}
                if not ks:
                    raise ConfigError(f"{where}: {run['setup']!r} on {dataset!r} is not a run of studies.removal.runs; "
                                      "the dense study fine-tunes the removal study's encoders")
                missing = sorted(set(run["k"]) - ks)
                if missing:
                    raise ConfigError(f"{where}.k: {missing} not among the removal run's k {sorted(ks)}")
        config = config_of(settings)
        for task in TASKS if config["runs"] else ():
            if config[task]["dataset"] not in TASK_DATASETS[task]:
                raise ConfigError(f"studies.dense.{task}.dataset: {config[task]['dataset']!r} is not a {task} "
                                  f"dataset; one of {list(TASK_DATASETS[task])}")
        uses_scenes = config["runs"] and any(config[task]["dataset"] == "scenes" for task in TASKS)
        if uses_scenes and config["scenes"]["items"][0] > config["scenes"]["items"][1]:
            raise ConfigError(f"studies.dense.scenes.items: {config['scenes']['items']} is not [min, max]")
        if uses_scenes and config["scenes"]["source"] not in settings["data"]["roots"]:
            raise ConfigError(f"studies.dense.scenes.source: {config['scenes']['source']!r} has no root in data.roots "
                              f"({sorted(settings['data']['roots'])})")

    return (check_dense,)


VALIDATORS = _validators()
