"""Random halves of the pool, balanced (the paper's setup for removal and coreset, Sec. 4.4.4, generalised):
every pool point gets an SSLMem score from encoders that trained with it and encoders that did not.

For each (dataset, setup) that a study ranks, and each seed (a "round"), the pool is cut into two disjoint
random halves, drawn anew per seed, and the study trains ``half_a`` on half A and ``half_b`` on half B (coupled
slot by slot: same seed, same streams). With R seeds that is K = 2R encoders, and every pool point is in the
training set of exactly R of them and out of the other R (a balanced design, so each encoder's global offset
cancels in every point's score). Each encoder is aligned on every point of the split (``pool_align``: the pool
and S_E), and the in/out score of every pool point (:func:`sslmem.measures.scores.in_out_scores`: mean alignment
over the encoders without the point − mean over those with it) goes to
``results/studies/halves/inout/<dataset>/<setup>.parquet``. R = 1 is the paper's single f/g pair on disjoint
halves; the reliability result (:mod:`sslmem.report.reliability`) measures how far more rounds make a point's
score reproducible. The seeds: those of the removal and coreset studies using the pair, and studies.halves.seeds.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem.artifacts import CHECKPOINT, PROBE, SPLIT, TRAIN_LOG, TRAINING_SET
from sslmem.report import roles
from sslmem.report.registry import Result
from sslmem import studies
from sslmem.studies import Study, TrainingSetRecipe, in_study

NAME = "halves"
# The tables and figures this study adds to the one registry (sslmem.studies.plugins.load_results).
RESULTS: list[Result] = []
HALVES = {"half_a": 0, "half_b": 1}
# The ranked half: removal and coreset retrain on half A, as the paper retrains f.
RANKED = roles.HALF_A
POOL_ALIGN = in_study(studies.POOL_ALIGN, NAME)
INOUT_SCORES = in_study(studies.INOUT_SCORES, NAME)


def ranked_pairs(settings: Mapping) -> dict[tuple[str, str], list[int]]:
    """(dataset, setup) → seeds (rounds), for every pair the removal and coreset studies rank (in params order):
    their seeds, then studies.halves.seeds (more rounds for the scores, without more retrains)."""
    pairs: dict[tuple[str, str], list[int]] = {}
    for study in ("removal", "coreset"):
        config = settings["studies"][study]
        for entry in config["runs"]:
            for dataset in entry["datasets"]:
                seeds = pairs.setdefault((dataset, entry["setup"]), [])
                seeds += [seed for seed in config["seeds"] if seed not in seeds]
    for entry in settings["studies"][NAME]["runs"]:  # scored by the halves alone: the rounds of `seeds`
        for dataset in entry["datasets"]:
            pairs.setdefault((dataset, entry["setup"]), [])
    for seeds in pairs.values():
        seeds += [seed for seed in settings["studies"][NAME]["seeds"] if seed not in seeds]
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
    config = settings["studies"][NAME]
    repeats = config.get("repeats") or {}
    return TrainingSetRecipe(
        kind="half",
        inputs={"split": SPLIT.format(dataset=run.dataset)},
        # A new pair of halves per seed (round): [studies.halves.seed, seed] seeds the draw. The canaries enter the
        # options only when there are any, so a study without them keeps its training-set fingerprints.
        options={"half": HALVES[run.role], "seed": [config["seed"], run.seed],
                 **({"repeats": dict(repeats)} if repeats.get("count") else {})},
    )


def encoder_files(settings: Mapping, pattern: str, dataset: str, setup: str) -> list[str]:
    """`pattern` (a study path) for every half encoder of one (dataset, setup)."""
    return [pattern.format(dataset=dataset, setup=setup, role=role, seed=seed)
            for seed in ranked_pairs(settings)[(dataset, setup)] for role in HALVES]


def ranked_half_training_set(settings: Mapping, dataset: str, setup: str, seed: int) -> str:
    """The training-set file of half A of one round (seed)."""
    return in_study(TRAINING_SET, NAME).format(dataset=dataset, setup=setup, role=RANKED, seed=seed)


def inout_scores(settings: Mapping) -> list[str]:
    return [INOUT_SCORES.format(dataset=dataset, setup=setup) for dataset, setup in ranked_pairs(settings)]


def reference_probes(settings: Mapping, dataset: str, setup: str, seeds=None) -> list[str]:
    """The probes of the half-A encoders (of `seeds`, default every round): the 'nothing removed' / 'full half'
    reference of removal and coreset."""
    return [in_study(PROBE, NAME).format(dataset=dataset, setup=setup, role=RANKED, seed=seed)
            for seed in ranked_pairs(settings)[(dataset, setup)] if seeds is None or seed in seeds]


def pool_aligns(settings: Mapping) -> list[str]:
    return [file for dataset, setup in ranked_pairs(settings)
            for file in encoder_files(settings, POOL_ALIGN, dataset, setup)]


def training_sets(settings: Mapping) -> list[str]:
    return [file for dataset, setup in ranked_pairs(settings)
            for file in encoder_files(settings, in_study(TRAINING_SET, NAME), dataset, setup)]


def train_logs(settings: Mapping) -> list[str]:
    return [file for dataset, setup in ranked_pairs(settings)
            for file in encoder_files(settings, in_study(TRAIN_LOG, NAME), dataset, setup)]


def all_reference_probes(settings: Mapping) -> list[str]:
    return [file for dataset, setup in ranked_pairs(settings) for file in reference_probes(settings, dataset, setup)]


STUDY = Study(
    name=NAME,
    runs=runs,
    training_set=training_set,
    # The halves stage builds the in/out scores and half A's probes (the reference of removal and coreset).
    input_sets={"inout_scores": inout_scores, "half_a_probes": all_reference_probes,
                "halves_pool_aligns": pool_aligns, "halves_training_sets": training_sets,
                "halves_train_logs": train_logs},
    results=("reliability", "ranking_curve", "canaries", "reliability_fig"),
    in_out_roles=tuple(HALVES),
)

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


def _validators() -> tuple:

    def check_halves(settings: Mapping) -> None:
        """Every dataset a study ranks has a pool of at least two points to halve."""
        from sslmem.config import ConfigError

        check_study_runs(settings, NAME)
        for (dataset, setup), rounds in ranked_pairs(settings).items():
            if not rounds:
                raise ConfigError(f"studies.halves.runs: {setup!r} on {dataset!r} has no round of halves; list the "
                                  "rounds' seeds in studies.halves.seeds (K = 2 x rounds encoders)")
            size, points = half_size(settings, dataset), pool_points(settings, dataset)
            if size is not None and size < 1:
                raise ConfigError(f"studies: the pool of {dataset!r} is too small to halve ({points} points)")
            if points is not None and points % 2:
                raise ConfigError(f"studies.halves: the pool of {dataset!r} has {points} points, an odd number: one "
                                  "point would be in neither half of any round and get no in/out score; make it even "
                                  "(splits.pool_size or splits.counts)")
        repeats = settings["studies"][NAME].get("repeats") or {}
        if repeats.get("count"):
            if repeats["count"] % 2:
                raise ConfigError(f"studies.halves.repeats.count: {repeats['count']} is odd; the canaries are split "
                                  "evenly between the two halves of every round")
            for dataset, setup in ranked_pairs(settings):
                points = pool_points(settings, dataset)
                if points is not None and repeats["count"] > points:
                    raise ConfigError(f"studies.halves.repeats.count: {repeats['count']} canaries in a pool of "
                                      f"{points} points ({dataset})")
            retrained = [study for study in ("removal", "coreset") if settings["studies"][study]["runs"]]
            if retrained:
                raise ConfigError(f"studies.halves.repeats: canaries change the halves that {retrained} retrain; "
                                  "use them in a preset without removal or coreset runs (e.g. `ranking`)")

    return (check_halves,)


VALIDATORS = _validators()


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
    """A training set made from half A of the run's round (`kind` drop or keep), ranked by the in/out scores of
    its points over all rounds."""
    return TrainingSetRecipe(
        kind=kind,
        inputs={"base": ranked_half_training_set(settings, run.dataset, run.setup, run.seed),
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
        files += reference_probes(settings, dataset, setup, seeds=settings["studies"][study]["seeds"])
    return files


RESULTS.append(Result(
    name="reliability", kind="table", title="Reliability of the per-point scores (halves study)",
    category="Studies", default=False,
    caption=(
        "Split-half reliability of every pool point's in/out SSLMem: the Spearman correlation between the scores "
        "from two disjoint groups of rounds (pairs of halves), Spearman–Brown projected to all rounds, the mean "
        "correlation between two single rounds and the rounds that would reach 0.7; for the trained points as "
        "ranked (`trained`), ranked within their class (`within_class`), and the control (`placebo`: every aligned "
        "point under a random balanced pseudo-membership, which must show none). `null_sd`: the spread of the "
        "split-half value over `null_draws` placebo draws of the row's own points; `p_null`: the fraction at or "
        "above the row's value. Canaries (studies.halves.repeats) are left out."
    ),
    builder="sslmem.report.reliability:reliability_table",
    inputs={"align_paths": "halves_pool_aligns", "training_set_paths": "halves_training_sets"},
    options=lambda settings: {"placebo_seed": settings["studies"][NAME]["seed"],
                              "placebo_draws": settings["studies"][NAME]["placebo_draws"]},
))
# What the round-by-round results read: every half encoder's pool alignment, training set and train log.
ROUND_BY_ROUND_INPUTS = {"align_paths": "halves_pool_aligns", "training_set_paths": "halves_training_sets",
                         "train_log_paths": "halves_train_logs"}
RESULTS.append(Result(
    name="ranking_curve", kind="table", title="Reliability of the per-point ranking against its cost",
    category="Studies", default=False,
    caption=(
        "The reliability numbers of `reliability` for the trained points (as ranked and within class), measured on "
        "the first 2, 3, ... rounds (seed order), with the training minutes those rounds' encoders took (their "
        "train logs' seconds: the wall clock of one-thread jobs, their CPU time where each had a core to itself): "
        "what a ranking of a given reliability costs."
    ),
    builder="sslmem.report.reliability:ranking_curve",
    inputs=ROUND_BY_ROUND_INPUTS,
))
RESULTS.append(Result(
    name="canaries", kind="table", title="Known answer: repeated canaries against the other pool points",
    category="Studies", default=False,
    caption=(
        "Where studies.halves.repeats plants canaries (pool points repeated `copies` times in whichever half holds "
        "them), their AUC against the other pool points under the in/out score of the first 1, 2, ... rounds, the "
        "one-sided Mann–Whitney p and how many are in the top decile (chance: `chance_in_top`). Empty without "
        "canaries."
    ),
    builder="sslmem.report.reliability:canaries_table",
    inputs=ROUND_BY_ROUND_INPUTS,
))
RESULTS.append(Result(
    name="reliability_fig", kind="figure", title="Reliability of the per-point ranking against its cost",
    category="Studies", default=False,
    caption=(
        "Left: split-half reliability of the in/out per-point scores against the training minutes (dots: "
        "measured on the first rounds; lines: Spearman–Brown from all rounds' one-round correlation), for the "
        "trained points as ranked (red) and within their class (blue); grey band: ±2 SD of the placebo; dotted: "
        "0.7. Right, where there are canaries: their AUC against the number of encoders."
    ),
    builder="sslmem.report.reliability:reliability_figure",
    inputs={"reliability_csv": "reliability", "curve_csv": "ranking_curve", "canaries_csv": "canaries"},
))
