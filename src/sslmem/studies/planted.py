"""Planted atypical images: does the per-point score find images we know are atypical?

The paper's Fig. 1 says the most memorised images are atypical ones. Here that claim is tested where the answer
is known: a study copies the dataset's split and replaces `count` of its candidates S_C by images of another
dataset (``studies.planted.source``, default scikit-learn's handwritten digits, loaded at the dataset's size and
normalised like it), then ranks them with both per-point estimators the project has:

* ``f_g_ensemble``, the paper's: f/g pairs (``seeds``) on the planted split, f with S_S ∪ S_C (planted ones
  included), g with S_S ∪ S_I; every candidate scored by the ensemble estimate; the planted rank among the
  |S_C| candidates;
* ``in_out``, every pool point's: ``rounds`` pairs of disjoint random halves of the planted pool (K = 2 rounds
  encoders, every point in half of them; :mod:`sslmem.studies.halves`' design); the planted rank among the whole
  pool.

``results/planted.csv`` gives per estimator the AUC of the planted points against the others (the probability
that a planted point scores above a typical one; 0.5: not found), the fraction of them in the top decile and
its chance value, and a one-sided Mann–Whitney p. Nothing in the workflow is tuned to this result: the source,
count and seeds are settings, and the default's values were set before it was run.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem import studies
from sslmem.artifacts import SCORES, SPLIT
from sslmem.report.registry import Result
from sslmem.studies import reads_files, Study, TrainingSetRecipe, in_study

NAME = "planted"
# The tables and figures this study adds to the one registry (sslmem.studies.plugins.load_results).
RESULTS: list[Result] = []
PAIR_ROLES = ("f", "g")
HALF_ROLES = {"half_a": 0, "half_b": 1}
PLANTED_SPLIT = in_study(SPLIT, NAME)
INOUT_SCORES = in_study(studies.INOUT_SCORES, NAME)
PAIR_SCORES = in_study(SCORES, NAME)


def config(settings: Mapping) -> Mapping:
    return settings["studies"][NAME]


def planted_pairs(settings: Mapping) -> list[tuple[str, str]]:
    """(dataset, setup) of every entry of studies.planted.runs, in params order."""
    return list(dict.fromkeys((dataset, entry["setup"]) for entry in config(settings)["runs"]
                              for dataset in entry["datasets"]))


def runs(settings: Mapping) -> list:
    from sslmem.config import RunSpec, find_setup

    planned = []
    for dataset, setup in planted_pairs(settings):
        entry = find_setup(settings, setup)
        spec = lambda seed, role: RunSpec(dataset, entry["method"], entry["arch"], seed, role, setup)  # noqa: E731
        planned += [spec(seed, role) for seed in config(settings)["seeds"] for role in PAIR_ROLES]
        planned += [spec(seed, role) for seed in config(settings)["rounds"] for role in HALF_ROLES]
    return planned


def split_of(settings: Mapping, dataset: str, setup: str | None = None) -> str:
    """One planted split per dataset, shared by its setups."""
    return PLANTED_SPLIT.format(dataset=dataset)


def training_set(settings: Mapping, run) -> TrainingSetRecipe:
    split = {"split": split_of(settings, run.dataset)}
    if run.role in PAIR_ROLES:
        return TrainingSetRecipe(kind="protocol", inputs=split, options={"role": run.role})
    # A new pair of halves per round, drawn as the halves study draws (its kind), from the planted pool.
    return TrainingSetRecipe(kind="half", inputs=split,
                             options={"half": HALF_ROLES[run.role], "seed": [config(settings)["seed"], run.seed]})


def pair_scores(settings: Mapping) -> list[str]:
    return [PAIR_SCORES.format(dataset=dataset, setup=setup) for dataset, setup in planted_pairs(settings)]


def inout_scores(settings: Mapping) -> list[str]:
    return [INOUT_SCORES.format(dataset=dataset, setup=setup) for dataset, setup in planted_pairs(settings)]


def planted_splits(settings: Mapping) -> list[str]:
    return [split_of(settings, dataset) for dataset in dict.fromkeys(d for d, _ in planted_pairs(settings))]


def plant_options(settings: Mapping) -> dict:
    """What the planted split depends on besides the core split (the rule's settings fingerprint)."""
    planted = config(settings)
    return {"source": dict(planted["source"]), "count": planted["count"], "seed": planted["seed"]}


def jobs(settings: Mapping, plan_runs) -> list:
    """The planted split of each dataset: the core split with studies.planted.count candidates replaced."""
    from sslmem.jobs.kinds import JobKind

    return [JobKind(
        name="planted_split", local=True,
        outputs={"csv": PLANTED_SPLIT, "meta": PLANTED_SPLIT.removesuffix(".csv") + ".json"},
        inputs={"split": SPLIT}, settings=lambda w: plant_options(settings), sections=("studies",),
        command="plant --dataset {wildcards.dataset} --split {input.split} --out {output.csv}",
    )]


STUDY = Study(
    name=NAME,
    runs=runs,
    training_set=training_set,
    jobs=jobs,
    input_sets={"planted_pair_scores": pair_scores, "planted_inout_scores": inout_scores,
                "planted_splits": planted_splits},
    results=("planted", "planted_fig"),
    probed=False,
    scored=True,
    split=split_of,
    in_out_roles=tuple(HALF_ROLES),
)


def _validators() -> tuple:
    from sslmem.config import ConfigError

    def check_planted(settings: Mapping) -> None:
        """Setups and datasets exist, the planted count fits in S_C, the seeds and rounds make a design."""
        from sslmem.studies.halves import check_study_runs, pool_points

        planted = config(settings)
        if not planted["runs"]:
            return
        check_study_runs(settings, NAME)
        source = planted["source"]["dataset"]
        if source in {dataset for dataset, _ in planted_pairs(settings)}:
            raise ConfigError(f"studies.planted.source.dataset: {source!r} is a dataset the study plants into; "
                              "planted images must come from another distribution")
        if len(planted["rounds"]) < 1 or len(planted["seeds"]) < 1:
            raise ConfigError("studies.planted: `seeds` (f/g pairs) and `rounds` (pairs of halves) need one entry each")
        for dataset, _ in planted_pairs(settings):
            candidates = _candidates(settings, dataset)
            if candidates is not None and not 1 <= planted["count"] < candidates:
                raise ConfigError(f"studies.planted.count: {planted['count']} planted images among the {candidates} "
                                  f"candidates of {dataset!r}; it must be at least 1 and leave typical candidates "
                                  f"(pool of {pool_points(settings, dataset)})")

    @reads_files
    def check_planted_source(settings: Mapping) -> None:
        """The source's images exist (a planted source without its files is named before any job)."""
        from sslmem.data import catalog

        planted = config(settings)
        if not planted["runs"]:
            return
        source, split = planted["source"]["dataset"], planted["source"]["split"]
        root = settings["data"]["roots"].get(source)
        if root is None:
            raise ConfigError(f"studies.planted.source.dataset: {source!r} has no data.roots entry")
        if settings["data"]["download"]:
            return
        try:
            catalog.check_root(source, root, split)
        except (catalog.DatasetNotFoundError, ValueError) as error:
            raise ConfigError(f"studies.planted.source ({source} {split!r}): {error}") from None

    return (check_planted, check_planted_source)


def _candidates(settings: Mapping, dataset: str) -> int | None:
    """|S_C| of the dataset's split, from the settings (None when only the files tell: image_folder)."""
    from sslmem.config import pool_size_for, split_counts_for
    from sslmem.data.catalog import dataset_info
    from sslmem.data.splits import split_sizes

    counts = split_counts_for(settings, dataset)
    if counts:
        return counts["candidate"]
    pool = pool_size_for(settings, dataset) or dataset_info(dataset).pool_split_size
    if pool is None:
        return None
    return split_sizes(pool, settings["splits"]["fractions"], settings["splits"]["extra_size"]).candidate


VALIDATORS = _validators()


RESULTS.append(Result(
    name="planted", kind="table", title="Planted atypical images: where the per-point score ranks them",
    category="Studies", default=False,
    caption=(
        "Images of another dataset planted among the candidates S_C, ranked by the f/g ensemble score (among S_C) "
        "and by the in/out score of every pool point (among the pool), and as the control the same source's images "
        "that no encoder trained on, placed in S_E and ranked by the f/g score: AUC of these images against the others "
        "(0.5: not found), the fraction of them in the top decile beside its chance value, a one-sided "
        "Mann-Whitney p, and their mean score beside the others'."
    ),
    builder="sslmem.report.planted:planted_table",
    inputs={"pair_score_paths": "planted_pair_scores", "inout_paths": "planted_inout_scores"},
    options=lambda settings: {"top_fraction": settings["studies"][NAME]["top_fraction"]},
))
RESULTS.append(Result(
    name="planted_fig", kind="figure", title="Planted atypical images: the top of each ranking",
    category="Studies", default=False,
    caption=(
        "Per setup and estimator, the highest-ranked images (planted ones titled in red) and the planted images "
        "with their ranks: whether the score puts the known atypical images at its top."
    ),
    builder="sslmem.report.planted:planted_figure",
    inputs={"pair_score_paths": "planted_pair_scores", "inout_paths": "planted_inout_scores"},
    options=lambda settings: {"data": settings["data"], "gallery_size": settings["report"]["galleries"]["size"]},
))
