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

import re
from collections.abc import Mapping

from sslmem.report.registry import Result, register
from sslmem.report.results import identities
from sslmem.studies import Study, TrainingSetRecipe, register_study
from sslmem.studies import halves

NAME = "removal"
SELECTIONS = ("top", "random")
ROLE = re.compile(r"^drop_(top|random)_(\d+)_of_a$")


def role_name(selection: str, k: int) -> str:
    return f"drop_{selection}_{k}_of_a"


def parse_role(role: str) -> tuple[str, int]:
    """(selection, k) of a removal encoder's role; ("none", 0) for the half-A reference."""
    if role == halves.RANKED:
        return "none", 0
    match = ROLE.match(role)
    if not match:
        raise ValueError(f"{role!r} is not a removal encoder (drop_<top|random>_<k>_of_a) nor {halves.RANKED!r}")
    return match.group(1), int(match.group(2))


def runs(settings: Mapping) -> list:
    return halves.retrain_runs(settings, NAME, lambda entry: [role_name(selection, k) for k in entry["k"]
                                                             for selection in SELECTIONS])


def training_set(settings: Mapping, run) -> TrainingSetRecipe:
    selection, k = parse_role(run.role)
    return halves.half_a_recipe(settings, run, "drop", {
        "selection": selection, "count": k, "draw_seed": halves.draw_seed(settings, NAME, run, k, selection)})


def probe_files(settings: Mapping) -> list[str]:
    return halves.retrain_probe_files(settings, NAME, runs)


register_study(Study(
    name=NAME,
    runs=runs,
    training_set=training_set,
    input_sets={"removal_probes": probe_files},
    results=("removal", "removal_fig"),
))


register(Result(
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
register(Result(
    name="removal_fig", kind="figure", title="Removal — accuracy against the number of removed points",
    category="Studies", default=False,
    caption=(
        "Linear-probe top-1 (%) against the number k of removed points, most memorised (red) vs random (grey), "
        "mean ± std over seeds, one panel per training dataset, setup and probe dataset (the paper's Figs. 3, 6, 7)."
    ),
    builder="sslmem.report.studies:removal_figure",
    inputs={"removal_csv": "removal"},
))


def _register_rule() -> None:
    from sslmem.config import ConfigError, cross_field_rule

    @cross_field_rule
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


_register_rule()
