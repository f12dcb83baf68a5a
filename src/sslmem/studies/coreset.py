"""Coreset (SSLMem App. B.7, Table 17): train on the most memorised points only.

From half A of the disjoint-halves study (:mod:`sslmem.studies.halves`), keep the n points with the highest
in/out score (n = each fraction of studies.coreset.keep × |half A|) and, as the control the paper lacks, n random
points; retrain from scratch with the setup's recipe and linear-probe on the training dataset and on
probe.downstream. `results/table17.csv` holds the accuracies (mean ± std over seeds; the full half A as the
reference) with a paired one-sided t-test over seeds per n (H0: the memorised coreset is no better than a random
one of the same size) and the paper's Table 17 (SimCLR ResNet50, CIFAR10) beside its own rows.

Encoders: role ``keep_<selection>_<percent>pct_of_a`` (selection ``top`` or ``random``), seeds studies.coreset.seeds.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem.report import roles
from sslmem.report.registry import Result
from sslmem.report.results import identities
from sslmem.studies import Study, TrainingSetRecipe
from sslmem.studies import halves

NAME = "coreset"
# The tables and figures this study adds to the one registry (sslmem.studies.plugins.load_results).
RESULTS: list[Result] = []
SELECTIONS = ("top", "random")
ROLE = roles.CORESET_ROLE
percent = roles.percent
role_name = roles.coreset_role
parse_role = roles.parse_coreset_role


def runs(settings: Mapping) -> list:
    return halves.retrain_runs(settings, NAME, lambda entry: [role_name(selection, fraction)
                                                             for fraction in entry["keep"] for selection in SELECTIONS])


def training_set(settings: Mapping, run) -> TrainingSetRecipe:
    selection, kept_percent = parse_role(run.role)
    return halves.half_a_recipe(settings, run, "keep", {
        "selection": selection, "fraction": kept_percent / 100,
        "draw_seed": halves.draw_seed(settings, NAME, run, kept_percent, selection)})


def probe_files(settings: Mapping) -> list[str]:
    return halves.retrain_probe_files(settings, NAME, runs)


STUDY = Study(
    name=NAME,
    runs=runs,
    training_set=training_set,
    input_sets={"coreset_probes": probe_files},
    results=("table17",),
)


RESULTS.append(Result(
    name="table17", kind="table", title="Table 17 — training on the most memorised points (coreset)",
    category="Studies", default=False,
    caption=(
        "Linear-probe top-1 (%, mean ± std over seeds) of encoders retrained on the fraction of half A with the "
        "highest in/out SSLMem score, and on a random subset of the same size (the control the paper lacks), per "
        "training dataset, setup and probe dataset (100 %: the half-A encoder), with a paired one-sided t-test over "
        "seeds (H0: the memorised coreset is no better than the random one); the paper's Table 17 beside its own "
        "run (SimCLR ResNet50, CIFAR10)."
    ),
    builder="sslmem.report.studies:coreset_table",
    inputs={"probe_paths": "coreset_probes"},
    options=identities,
))


def _validators() -> tuple:
    from sslmem.config import ConfigError

    def check_coreset(settings: Mapping) -> None:
        """Known setups and datasets; distinct kept sizes (two fractions rounding to one percent share a name)."""
        halves.check_study_runs(settings, NAME)
        for index, entry in enumerate(settings["studies"][NAME]["runs"]):
            percents = [percent(fraction) for fraction in entry["keep"]]
            if len(set(percents)) != len(percents) or 0 in percents or 100 in percents:
                raise ConfigError(f"studies.coreset.runs[{index}].keep: {entry['keep']} must be distinct whole "
                                  "percents strictly between 0 and 1 (each names its encoders by percent)")

    return (check_coreset,)


VALIDATORS = _validators()
