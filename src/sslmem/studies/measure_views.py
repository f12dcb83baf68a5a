"""Measurement views (SSLMem Table 8, App. B.1): is the score stable when measured with other augmentations?

The trained core encoders of the runs in measure.table8 (no training of its own) are aligned again with the
views of each family of measure.view_families (:class:`sslmem.augment.MeasurementViews`: Gaussian noise,
random rotation, colour drop) instead of their training augmentation, and scored with the core score code:
``results/studies/measure_views/<family>/align/...`` and ``.../<family>/scores/<dataset>/<setup>.parquet``.
`results/table8.csv` puts each family's mean SSLMem over S_C beside the training augmentation's (the core
scores), with the paired difference and the rank agreement over the same candidates. The paper's claim: the
training augmentation gives the highest score, the others are not significantly different (SimCLR ResNet50,
CIFAR10).

A study in the workflow's sense (its own target, ``snakemake study_measure_views``, DVC stage and folder), whose
encoders are the core ones: `runs` is empty, its jobs (:func:`jobs`) read the core checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem.artifacts import SCORES, VIEW_ALIGN, VIEW_SCORES
from sslmem.report import roles
from sslmem.report.registry import Result
from sslmem.report.results import identities
from sslmem.studies import Study, TrainingSetRecipe

NAME = "measure_views"
# The tables and figures this study adds to the one registry (sslmem.studies.plugins.load_results).
RESULTS: list[Result] = []
# The row of the training augmentation itself (read from the core scores), first in the table.
TRAINING_FAMILY = roles.TRAINING_FAMILY
# The measure keys the view alignments read (besides the family and the setup's representation): what their
# settings fingerprint holds. (measure.view_families and measure.table8 are read by these jobs only; the core
# align jobs' fingerprint leaves them out, workflow/rules/common.smk.)
ALIGN_KEYS = ("num_views", "pairing", "shared_sample", "batch_size", "seed")


def planned(settings: Mapping) -> list[tuple[str, str]]:
    """(dataset, setup) of every run of measure.table8, in params order."""
    pairs = [(dataset, run["setup"]) for run in settings["measure"]["table8"]["runs"] for dataset in run["datasets"]]
    return list(dict.fromkeys(pairs))


def families(settings: Mapping) -> list[str]:
    return list(settings["measure"]["table8"]["families"])


def training_score_files(settings: Mapping) -> list[str]:
    """The core score files of the re-measured setups: the training augmentation's row of Table 8."""
    return [SCORES.format(dataset=dataset, setup=setup) for dataset, setup in planned(settings)]


def view_score_files(settings: Mapping) -> list[str]:
    return [VIEW_SCORES.format(family=family, dataset=dataset, setup=setup)
            for family in families(settings) for dataset, setup in planned(settings)]


def view_align_files(settings: Mapping, family: str, dataset: str, setup: str) -> list[str]:
    """The view alignment of every core encoder (seeds, f and g) of one setup on one dataset."""
    from sslmem.config import experiment_runs

    return [VIEW_ALIGN.format(family=family, dataset=run.dataset, setup=run.setup, role=run.role, seed=run.seed)
            for run in experiment_runs(settings) if (run.dataset, run.setup) == (dataset, setup)]


def align_settings(settings: Mapping, family: str, setup: str) -> dict:
    """What a view alignment depends on besides its checkpoint: its settings fingerprint (the training
    augmentation is not among it: the family replaces it)."""
    from sslmem.config import setup_representation

    measure = settings["measure"]
    return {"measure": {key: measure[key] for key in ALIGN_KEYS}, "family": measure["view_families"][family],
            "representation": setup_representation(settings, setup)}


def table8_options(settings: Mapping) -> dict:
    """The families (definitions, in row order), each setup's training augmentation (for its row's label), the
    bootstrap, the significance level of the pair-level comparison and the identities the paper's run is matched
    on."""
    from sslmem.config import setup_recipe

    bootstrap = settings["stats"]["bootstrap"]
    return {
        "families": {name: settings["measure"]["view_families"][name] for name in families(settings)},
        "training_views": {setup: setup_recipe(settings, setup)["augment"]
                           for setup in dict.fromkeys(setup for _, setup in planned(settings))},
        "n_boot": bootstrap["resamples"], "seed": bootstrap["seed"], "level": bootstrap["level"],
        "alpha": settings["stats"]["alpha"], **identities(settings),
    }


def _no_training_set(settings: Mapping, run) -> TrainingSetRecipe:
    raise ValueError(f"study {NAME!r} trains no encoders of its own (it re-measures the core ones); got {run}")


def jobs(settings: Mapping, plan_runs) -> list:
    """Each core encoder of measure.table8's runs aligned with one family's views (no LayerMem, no UnitMem), and
    the setup's alignments under that family scored with the core score verb."""
    from sslmem.artifacts import CHECKPOINT, ROLES, SPLIT
    from sslmem.jobs.kinds import JobKind

    family = {"family": "[a-z][a-z0-9_]*"}
    return [
        JobKind(
            name="view_align", outputs={"align": VIEW_ALIGN}, profile="model",
            constraints={**family, "role": "|".join(ROLES)}, inputs={"checkpoint": CHECKPOINT, "split": SPLIT},
            settings=lambda w: align_settings(settings, w.family, w.setup),
            sections=("data", "training", "experiment", "methods", "archs", "measure"),
            command=("align --view-family {wildcards.family} --checkpoint {input.checkpoint} --split {input.split}"
                     " --out {output.align}"),
        ),
        JobKind(
            name="view_score", outputs={"scores": VIEW_SCORES}, constraints=family,
            inputs=lambda w: {"align": view_align_files(settings, w.family, w.dataset, w.setup)},
            command="score --align {input.align} --out {output.scores}",
        ),
    ]


STUDY = Study(
    name=NAME,
    jobs=jobs,
    runs=lambda settings: [],
    training_set=_no_training_set,
    input_sets={"table8_scores": training_score_files, "view_scores": view_score_files},
    results=("table8",),
    probed=False,
)


RESULTS.append(Result(
    name="table8", kind="table", title="Table 8 — SSLMem measured with other augmentations",
    category="Studies", default=False,
    caption=(
        "Mean SSLMem over the candidates S_C (ensemble estimate with a bootstrap interval; mean ± std over f/g "
        "pairs) of the same trained encoders measured with their training augmentation and with each view family "
        "of measure.view_families instead (Gaussian noise, random rotation, colour drop), per dataset and setup, "
        "with m(S_C) − m(S_S), the paired difference to the training augmentation over the same candidates and "
        "Kendall's tau between the two rankings; the paper's Table 8 beside its own run (SimCLR ResNet50, "
        "CIFAR10, 600 epochs). "
        "The difference to the training augmentation is also tested with the f/g pair as the unit, since every "
        "candidate a pair scores shares its training run: n_pairs_vs_training pairs scored under both, "
        "pair_diff_vs_training the mean over pairs of the per-pair difference of mean m over S_C with its two-sided "
        "t-test over pairs (pair_t_vs_training, pair_p_vs_training), pairs_below_training the pairs in which the "
        "family scores below the training augmentation, and mixed_diff_vs_training, mixed_se_vs_training and "
        "mixed_p_vs_training from a linear mixed model m ~ family + (1 | pair) + (1 | pair:family) (REML, p against "
        "Student's t with n_pairs − 1 degrees of freedom). "
        "differs_from_training rests on the mixed model where it fits (3 pairs or more) and on the t-test over "
        "pairs otherwise (claim_test_vs_training says which; the note columns say why a test is missing)."
    ),
    builder="sslmem.report.views:table8",
    inputs={"training_score_paths": "table8_scores", "view_score_paths": "view_scores"},
    options=table8_options,
))
