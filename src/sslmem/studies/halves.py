"""Disjoint halves (the paper's setup for removal and coreset, Sec. 4.4.4): encoders on two disjoint random
halves of the training pool, so that every pool point gets an SSLMem score from encoders that trained with it
(its half) and encoders that did not (the other half).

For each (dataset, setup) that the removal or coreset study ranks, and each seed those studies use, the study
trains ``half_a`` on half A and ``half_b`` on half B (coupled slot by slot: same seed, same streams). Each of
these encoders is aligned on every pool point (``pool_align``), and the in/out score of every point
(:func:`sslmem.measures.scores.in_out_scores`: mean alignment over the encoders without the point − mean over
those with it, over all seeds) goes to ``results/studies/halves/inout/<dataset>/<setup>.parquet``. With one seed
this is the paper's one f/g pair; more seeds average out the training noise of a single pair.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem.artifacts import CHECKPOINT, PROBE, SPLIT, TRAINING_SET
from sslmem.studies import Study, TrainingSetRecipe, in_study, register_study

NAME = "halves"
HALVES = {"half_a": 0, "half_b": 1}
# The ranked half: removal and coreset retrain on half A, as the paper retrains f.
RANKED = "half_a"
POOL_ALIGN = in_study("results/pool_align/{dataset}/{setup}/{role}{seed}.parquet", NAME)
INOUT_SCORES = in_study("results/inout/{dataset}/{setup}.parquet", NAME)


def ranked_pairs(settings: Mapping) -> dict[tuple[str, str], list[int]]:
    """(dataset, setup) → seeds, for every pair the removal and coreset studies rank (in params order)."""
    pairs: dict[tuple[str, str], list[int]] = {}
    for study in ("removal", "coreset"):
        config = settings["studies"][study]
        for entry in config["runs"]:
            for dataset in entry["datasets"]:
                seeds = pairs.setdefault((dataset, entry["setup"]), [])
                seeds += [seed for seed in config["seeds"] if seed not in seeds]
    return pairs


def runs(settings: Mapping) -> list:
    from sslmem.config import RunSpec, find_setup

    planned = []
    for (dataset, setup), seeds in ranked_pairs(settings).items():
        entry = find_setup(settings, setup)
        planned += [RunSpec(dataset, entry["method"], entry["arch"], seed, role, setup)
                    for seed in seeds for role in HALVES]
    return planned


def training_set(settings: Mapping, run) -> TrainingSetRecipe:
    return TrainingSetRecipe(
        kind="half",
        inputs={"split": SPLIT.format(dataset=run.dataset)},
        options={"half": HALVES[run.role], "seed": settings["studies"]["halves"]["seed"]},
    )


def encoder_files(settings: Mapping, pattern: str, dataset: str, setup: str) -> list[str]:
    """`pattern` (a study path) for every half encoder of one (dataset, setup)."""
    return [pattern.format(dataset=dataset, setup=setup, role=role, seed=seed)
            for seed in ranked_pairs(settings)[(dataset, setup)] for role in HALVES]


def ranked_half_training_set(settings: Mapping, dataset: str, setup: str) -> str:
    """The training-set file of half A (the same points for every seed: the first seed's file)."""
    seed = ranked_pairs(settings)[(dataset, setup)][0]
    return in_study(TRAINING_SET, NAME).format(dataset=dataset, setup=setup, role=RANKED, seed=seed)


def inout_scores(settings: Mapping) -> list[str]:
    return [INOUT_SCORES.format(dataset=dataset, setup=setup) for dataset, setup in ranked_pairs(settings)]


def reference_probes(settings: Mapping, dataset: str, setup: str) -> list[str]:
    """The probes of the half-A encoders: the 'nothing removed' / 'full half' reference of removal and coreset."""
    return [in_study(PROBE, NAME).format(dataset=dataset, setup=setup, role=RANKED, seed=seed)
            for seed in ranked_pairs(settings)[(dataset, setup)]]


def all_reference_probes(settings: Mapping) -> list[str]:
    return [file for dataset, setup in ranked_pairs(settings) for file in reference_probes(settings, dataset, setup)]


register_study(Study(
    name=NAME,
    runs=runs,
    training_set=training_set,
    # The halves stage builds the in/out scores and half A's probes (the reference of removal and coreset).
    input_sets={"inout_scores": inout_scores, "half_a_probes": all_reference_probes},
))

# The checkpoint pattern of this study's encoders (what pool_align reads).
CHECKPOINTS = in_study(CHECKPOINT, NAME)


def pool_points(settings: Mapping, dataset: str) -> int | None:
    """Points in the dataset's training pool (S_S ∪ S_C ∪ S_I); None when only the files tell (image_folder)."""
    from sslmem.config import pool_size_for, split_counts_for
    from sslmem.data.catalog import dataset_info

    counts = split_counts_for(settings, dataset)
    if counts:
        return counts["shared"] + counts["candidate"] + counts["independent"]
    return pool_size_for(settings, dataset) or dataset_info(dataset).pool_split_size


def half_size(settings: Mapping, dataset: str) -> int | None:
    points = pool_points(settings, dataset)
    return None if points is None else points // 2


def check_study_runs(settings: Mapping, study: str) -> None:
    """studies.<study>.runs name setups of experiment.setups and datasets of experiment.datasets."""
    from sslmem.config import ConfigError, setup_name

    setups = [setup_name(entry) for entry in settings["experiment"]["setups"]]
    for index, entry in enumerate(settings["studies"][study]["runs"]):
        where = f"studies.{study}.runs[{index}]"
        if entry["setup"] not in setups:
            raise ConfigError(f"{where}.setup: {entry['setup']!r} is not a setup of experiment.setups {setups}")
        unknown = [d for d in entry["datasets"] if d not in settings["experiment"]["datasets"]]
        if unknown:
            raise ConfigError(f"{where}.datasets: {unknown} not in experiment.datasets "
                              f"{settings['experiment']['datasets']} (a study needs the dataset's split)")


def _register_rule() -> None:
    from sslmem.config import cross_field_rule

    @cross_field_rule
    def check_halves(settings: Mapping) -> None:
        """Every dataset a study ranks has a pool of at least two points to halve."""
        from sslmem.config import ConfigError

        for dataset, setup in ranked_pairs(settings):
            size = half_size(settings, dataset)
            if size is not None and size < 1:
                raise ConfigError(f"studies: the pool of {dataset!r} is too small to halve ({pool_points(settings, dataset)} points)")


_register_rule()


# --- what the retraining studies (removal, coreset) share: they retrain variants of half A ----------------


def retrain_runs(settings: Mapping, study: str, roles_of) -> list:
    """Every encoder of a retraining study: for each entry of studies.<study>.runs, each of its datasets, each
    role `roles_of(entry)` names and each of the study's seeds, the setup retrained on that training set."""
    from sslmem.config import RunSpec, find_setup

    config = settings["studies"][study]
    planned = []
    for entry in config["runs"]:
        setup = find_setup(settings, entry["setup"])
        planned += [RunSpec(dataset, setup["method"], setup["arch"], seed, role, entry["setup"])
                    for dataset in entry["datasets"] for role in roles_of(entry) for seed in config["seeds"]]
    return planned


def half_a_recipe(settings: Mapping, run, kind: str, options: Mapping) -> TrainingSetRecipe:
    """A training set made from half A (`kind` drop or keep) ranked by the in/out scores of its points."""
    return TrainingSetRecipe(
        kind=kind,
        inputs={"base": ranked_half_training_set(settings, run.dataset, run.setup),
                "scores": INOUT_SCORES.format(dataset=run.dataset, setup=run.setup)},
        options=dict(options),
    )


def draw_seed(settings: Mapping, study: str, run, size: int, selection: str):
    """The seed of a random selection: new per training seed and size; None for the (deterministic) top one."""
    return [settings["studies"][study]["draw_seed"], run.seed, size] if selection == "random" else None


def retrain_probe_files(settings: Mapping, study: str, runs_of) -> list[str]:
    """Probes of every encoder of a retraining study and of the half-A references it compares with."""
    runs = runs_of(settings)
    files = [in_study(PROBE, study).format(**vars(run)) for run in runs]
    for dataset, setup in sorted({(run.dataset, run.setup) for run in runs}):
        files += reference_probes(settings, dataset, setup)
    return files
