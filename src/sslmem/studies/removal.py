"""Removal (SSLMem Sec. 4.4.4, Figs. 3, 6, 7; Table 14): does memorisation help downstream generalisation?

From half A of the disjoint-halves study (:mod:`sslmem.studies.halves`), remove the k points with the highest
in/out score, or k random points (a fresh draw per seed), retrain from scratch with the setup's recipe, and
linear-probe on the training dataset and on probe.downstream. The paper's claim: removing the most memorised
points lowers accuracy more than removing random ones. `results/removal.csv` holds the accuracies (mean ± std
over seeds) and, per k and probe dataset, a paired one-sided t-test over seeds (memorised < random);
`results/removal_fig.png` the accuracy against k. Table 14's values (MAE ViT-base, ImageNet) stand beside
matching rows.

Encoders: role ``drop_<selection>_<k>_of_a`` (selection ``top`` or ``random``), seeds studies.removal.seeds; the
reference (k = 0) is the half-A encoder of the same seed.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem.report import roles
from sslmem.report.registry import Result
from sslmem.report.results import identities
from sslmem.studies import Study, TrainingSetRecipe
from sslmem.studies import halves

NAME = "removal"
# The tables and figures this study adds to the one registry (sslmem.studies.plugins.load_results).
RESULTS: list[Result] = []
SELECTIONS = ("top", "random")
ROLE = roles.REMOVAL_ROLE
role_name = roles.removal_role
parse_role = roles.parse_removal_role


def runs(settings: Mapping) -> list:
    return halves.retrain_runs(settings, NAME, lambda entry: [role_name(selection, k) for k in entry["k"]
                                                             for selection in SELECTIONS])


def training_set(settings: Mapping, run) -> TrainingSetRecipe:
    selection, k = parse_role(run.role)
    return halves.half_a_recipe(settings, run, "drop", {
        "selection": selection, "count": k, "draw_seed": halves.draw_seed(settings, NAME, run, k, selection)})


def probe_files(settings: Mapping) -> list[str]:
    return halves.retrain_probe_files(settings, NAME, runs)


STUDY = Study(
    name=NAME,
    runs=runs,
    training_set=training_set,
    input_sets={"removal_probes": probe_files},
    results=("removal", "removal_fig"),
)


RESULTS.append(Result(
    name="removal", kind="table", title="Removal — most memorised vs random points (Figs. 3, 6, 7; Table 14)",
    category="Studies", default=False,
    caption=(
        "Linear-probe top-1 (%, mean ± std over seeds) of encoders retrained after removing the k points of half A "
        "with the highest in/out SSLMem score, or k random points, per training dataset, setup and probe dataset "
        "(k = 0: the half-A encoder), with a paired one-sided t-test over seeds (H0: removing the memorised points "
        "costs no more accuracy than removing random ones); the paper's Table 14 beside its own run (MAE ViT-base, "
        "ImageNet)."
    ),
    builder="sslmem.report.studies:removal_table",
    inputs={"probe_paths": "removal_probes"},
    options=identities,
))
RESULTS.append(Result(
    name="removal_fig", kind="figure", title="Removal — accuracy against the number of removed points",
    category="Studies", default=False,
    caption=(
        "Linear-probe top-1 (%) against the number k of removed points, most memorised (red) vs random (grey), "
        "mean ± std over seeds, one panel per training dataset, setup and probe dataset (the paper's Figs. 3, 6, 7)."
    ),
    builder="sslmem.report.studies:removal_figure",
    inputs={"removal_csv": "removal"},
))


def _validators() -> tuple:
    from sslmem.config import ConfigError

    def check_removal(settings: Mapping) -> None:
        """Known setups and datasets; each k smaller than half A (something must remain to train on)."""
        halves.check_study_runs(settings, NAME)
        for index, entry in enumerate(settings["studies"][NAME]["runs"]):
            for dataset in entry["datasets"]:
                size = halves.half_size(settings, dataset)
                too_big = [k for k in entry["k"] if size is not None and k >= size]
                if too_big:
                    raise ConfigError(f"studies.removal.runs[{index}].k: {too_big} not smaller than half A of "
                                      f"{dataset!r} ({size} points: half of its pool)")

    return (check_removal,)


VALIDATORS = _validators()
