"""Differential privacy (SSLMem Sec. 4.6, Table 5; the localization paper's Fig. 1c): does DP-SGD lower memorisation?

A variants study (:mod:`sslmem.studies.variants`): for each run of studies.privacy (a setup of experiment.setups,
its datasets and a list of ε), one private setup per ε, ``<setup>-dp-eps<ε>``: the same method, backbone, recipe,
seeds and split, with the recipe's `privacy` block (ε and the study's δ, clipping norm, accountant, noise seed;
:mod:`sslmem.training.privacy`). Its f/g encoders are trained with DP-SGD, then aligned, scored (SSLMem, LayerMem,
UnitMem) and probed like the core ones, under results/studies/privacy/. ε = ∞ is the setup's own (core) encoders:
the same recipe without privacy.

`results/table5.csv`: per dataset, setup and ε — ε requested and spent (opacus' accountant, mean over encoders),
δ, noise multiplier, clipping norm, sampling rate, steps, SSLMem (mean ± std over f/g pairs), linear-probe
accuracy, the mean UnitMem of the last layer, and the paper's Table 5 beside the rows of its run.
`results/table5_fig.png`: SSLMem and accuracy against ε.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from sslmem.report.registry import Result
from sslmem.report.results import identities
from sslmem.studies import variants

NAME = "privacy"
# The tables and figures this study adds to the one registry (sslmem.studies.plugins.load_results).
RESULTS: list[Result] = []
PRIVACY_KEYS = ("delta", "max_grad_norm", "accountant", "noise_seed", "max_physical_batch_size")


def private_setup_name(setup: str, epsilon: float) -> str:
    return f"{setup}-dp-eps{variants.level_label(epsilon)}"


def privacy_block(settings: Mapping, epsilon: float) -> dict:
    study = settings["studies"][NAME]
    block = {"epsilon": float(epsilon), **{key: study[key] for key in PRIVACY_KEYS}}
    if study.get("secure_mode"):  # only when on: the recipes (and hashes) of existing private encoders stay as they are
        block["secure_mode"] = True
    return {"privacy": block}


def private_setups(settings: Mapping) -> list[dict]:
    """One setup entry per (run, ε): the run's setup with `name`, `datasets` and the recipe's `privacy` block."""
    return variants.derived_setups(settings, NAME, "epsilons", private_setup_name, privacy_block)


def table5_options(settings: Mapping) -> dict:
    """Which derived setup is which (setup, ε), and the base setups' identities for the paper's rows."""
    levels = {entry["name"]: {"setup": entry["variant_of"], "epsilon": entry["level"]}
              for entry in private_setups(settings)}
    return {"privacy_levels": levels, **identities(settings)}


STUDY = variants.variant_study(NAME, private_setups, results=("table5", "table5_fig"))


RESULTS.append(Result(
    name="table5", kind="table", title="Table 5 — effect of differential privacy",
    category="Studies", default=False,
    caption=(
        "Per dataset, setup and ε (∞: the setup's own encoders, trained without privacy): ε requested and spent "
        "(opacus' accountant; mean over the encoders), δ, noise multiplier σ, clipping norm C, sampling rate q and "
        "steps of DP-SGD; SSLMem (mean m over S_C per f/g pair, mean ± std over pairs) and the same less the pair's "
        "mean over S_S (`minus_shared`: without the pair's global offset), linear-probe top-1 (%) of "
        "the f encoders and their mean UnitMem in the last layer; the paper's Table 5 beside the rows of its run "
        "(MAE ViT-tiny, CIFAR10, 1000 epochs)."
    ),
    builder="sslmem.report.privacy:table5",
    inputs={"score_paths": "privacy_base_scores", "probe_paths": "privacy_base_probes",
            "unit_paths": "privacy_base_units",
            "private_score_paths": "privacy_scores", "private_probe_paths": "privacy_probes",
            "private_unit_paths": "privacy_units", "checkpoint_paths": "privacy_checkpoints"},
    options=table5_options,
))
RESULTS.append(Result(
    name="table5_fig", kind="figure", title="Table 5 as a figure — SSLMem and accuracy against ε",
    category="Studies", default=False,
    caption=("SSLMem (left) and linear-probe top-1 (right) against the privacy budget ε (log scale; ∞ at the "
             "right), mean ± std over seeds, one line per dataset and setup; the paper's Table 5 as grey squares "
             "where its run is ours."),
    builder="sslmem.report.privacy:table5_figure",
    inputs={"table5_csv": "table5"},
))


def _validators() -> tuple:
    from sslmem.config import ConfigError

    def check_privacy(settings: Mapping) -> None:
        """A private run names a setup of experiment.setups on its datasets, finite ε, and a method whose loss is
        per sample; a core setup with a recipe `privacy` block too (named before any training)."""
        variants.check_runs(settings, NAME, "epsilons")
        for index, run in enumerate(settings["studies"][NAME]["runs"]):
            where = f"studies.privacy.runs[{index}]"
            if any(math.isinf(float(epsilon)) for epsilon in run["epsilons"]):
                raise ConfigError(f"{where}.epsilons: ε = ∞ is the setup itself; list finite ε only")
            base = variants.core_entry(settings, run["setup"])
            _check_method(base["method"], f"{where} ({run['setup']})")
            _check_no_loss_term({**(base.get("recipe") or {}), **(run.get("recipe") or {})}, where)
        for index, entry in enumerate(settings["experiment"]["setups"]):
            if (entry.get("recipe") or {}).get("privacy"):
                _check_method(entry["method"], f"experiment.setups[{index}].recipe.privacy")
                _check_no_loss_term(entry["recipe"], f"experiment.setups[{index}].recipe")

    def _check_no_loss_term(recipe: Mapping, where: str) -> None:
        # DP-SGD differentiates each sample's own loss (SSLMethod.forward); a training hook's extra loss term
        # (TrainingHook.loss) would not reach those gradients, so the two are not combined.
        if recipe.get("align_regularizer"):
            raise ConfigError(f"{where}: privacy and align_regularizer together are not supported (DP-SGD's "
                              "per-sample gradients do not include the regulariser's term)")

    def _check_method(method: str, where: str) -> None:
        from sslmem.methods import METHODS  # torch: only when a private setup exists
        from sslmem.training.privacy import PrivacyError, check_method_allows_privacy

        try:
            check_method_allows_privacy(METHODS[method])
        except PrivacyError as error:
            raise ConfigError(f"{where}: {error}") from None

    return (check_privacy,)


VALIDATORS = _validators()
