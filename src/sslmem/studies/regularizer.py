"""The alignment regulariser (SSLMem Sec. 4.4.3, Eq. 3, Fig. 4): does limiting alignment lower memorisation, and
downstream accuracy with it?

A variants study (:mod:`sslmem.studies.variants`): for each run of studies.regularizer (a setup, its datasets and
a list of λ), one setup per λ, ``<setup>-reg<λ>``, whose recipe has ``align_regularizer: λ``
(:class:`sslmem.training.regularizer.AlignmentRegularizer`, added by the train stage), trained as f/g pairs on the
setup's split with its seeds, aligned, scored and probed like the core encoders. λ = 0 is the setup's own
encoders (or, when a run lists 0, a λ = 0 setup trained with the run's recipe).

`results/fig4_values.csv` (per dataset, setup and λ: SSLMem mean ± std over f/g pairs, probe top-1 of f) and
`results/fig4.png` (both against λ, the paper's Fig. 4).
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem.report.registry import Result
from sslmem.studies import variants

NAME = "regularizer"
# The tables and figures this study adds to the one registry (sslmem.studies.plugins.load_results).
RESULTS: list[Result] = []


def regularised_setup_name(setup: str, weight: float) -> str:
    return f"{setup}-reg{variants.level_label(weight)}"


def regularised_setups(settings: Mapping) -> list[dict]:
    return variants.derived_setups(settings, NAME, "lambdas", regularised_setup_name,
                                   lambda settings, weight: {"align_regularizer": float(weight)})


def fig4_options(settings: Mapping) -> dict:
    levels = {entry["name"]: {"setup": entry["variant_of"], "level": entry["level"]}
              for entry in regularised_setups(settings)}
    return {"levels": levels, "level_name": "lambda"}


STUDY = variants.variant_study(NAME, regularised_setups, results=("fig4_values", "fig4"))

RESULTS.append(Result(
    name="fig4_values", kind="table", title="Fig. 4 in numbers — the alignment regulariser's λ against SSLMem and accuracy",
    category="Studies", default=False,
    caption=("Per dataset, setup and regularisation strength λ of Eq. 3 (0: the setup's own encoders): SSLMem (mean "
             "m over S_C per f/g pair, mean ± std over pairs) and linear-probe top-1 (%) of the f encoders."),
    builder="sslmem.report.variants:variant_table",
    inputs={"score_paths": "regularizer_base_scores", "probe_paths": "regularizer_base_probes", "variant_score_paths": "regularizer_scores",
            "variant_probe_paths": "regularizer_probes"},
    options=fig4_options,
))
RESULTS.append(Result(
    name="fig4", kind="figure", title="Fig. 4 — SSLMem and accuracy against the regulariser's λ",
    category="Studies", default=False,
    caption=("SSLMem (left) and linear-probe top-1 (right) against λ, mean ± std over seeds, one line per dataset "
             "and setup (the paper: both fall as λ grows; MAE ViT-tiny on CIFAR10 and SVHN)."),
    builder="sslmem.report.variants:variant_figure",
    inputs={"table_csv": "fig4_values"},
    options=lambda settings: {"level_name": "lambda"},
))


def _validators() -> tuple:

    def check_regularizer(settings: Mapping) -> None:
        """A regularised run names a setup of experiment.setups on its datasets and seeds (λ's range: schema)."""
        variants.check_runs(settings, NAME, "lambdas")

    return (check_regularizer,)


VALIDATORS = _validators()
