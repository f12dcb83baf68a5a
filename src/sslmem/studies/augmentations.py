"""Training augmentations (SSLMem App. B, Table 9): how the type and strength of the training augmentation change
memorisation and downstream accuracy.

A variants study (:mod:`sslmem.studies.variants`) with named levels: studies.augmentations.variants maps a
variant's name to the recipe change it makes (e.g. ``crop_only: {augment: train_crop_only}`` — a family of
params.yaml `augmentations` — or ``mask50: {mask_ratio: 0.5}`` for MAE), and each run lists the variants its setup
is retrained with, as ``<setup>-<variant>`` f/g pairs on the setup's split, aligned, scored and probed like the
core encoders. The paper's Table 9: SimCLR ResNet50 trained with crop only, crop + resize, random Gaussian noise
or random masking (75 %); MAE ViT-tiny with mask ratios 50/75/80/90 % (75 % is the setup itself), CIFAR10.

`results/table9.csv`: per dataset, setup and variant (the first row: the setup's own recipe), SSLMem mean ± std
over f/g pairs and linear-probe top-1 of f, with the paper's values beside the rows of its runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem.report.registry import Result
from sslmem.report.results import identities
from sslmem.studies import variants

NAME = "augmentations"
# The tables and figures this study adds to the one registry (sslmem.studies.plugins.load_results).
RESULTS: list[Result] = []


def variant_setup_name(setup: str, variant: str) -> str:
    return f"{setup}-{variant}"


def variant_setups(settings: Mapping) -> list[dict]:
    changes = settings["studies"][NAME]["variants"]
    return variants.derived_setups(settings, NAME, "variants", variant_setup_name,
                                   lambda settings, variant: dict(changes[variant]))


def table9_options(settings: Mapping) -> dict:
    levels = {entry["name"]: {"setup": entry["variant_of"], "variant": entry["level"]}
              for entry in variant_setups(settings)}
    return {"levels": levels, "variant_changes": settings["studies"][NAME]["variants"], **identities(settings)}


STUDY = variants.variant_study(NAME, variant_setups, results=("table9",))

RESULTS.append(Result(
    name="table9", kind="table", title="Table 9 — training augmentations: type (SimCLR) and strength (MAE mask ratio)",
    category="Studies", default=False,
    caption=("Per dataset, setup and training-augmentation variant (first row of a setup: its own recipe): SSLMem "
             "(mean m over S_C per f/g pair, mean ± std over pairs) and linear-probe top-1 (%) of the f encoders; "
             "the paper's Table 9 beside the rows of its runs (SimCLR ResNet50 and MAE ViT-tiny, CIFAR10)."),
    builder="sslmem.report.variants:table9",
    inputs={"score_paths": "augmentations_base_scores", "probe_paths": "augmentations_base_probes", "variant_score_paths": "augmentations_scores",
            "variant_probe_paths": "augmentations_probes"},
    options=table9_options,
))


def _validators() -> tuple:
    from sslmem.config import ConfigError

    def check_augmentations(settings: Mapping) -> None:
        """Runs name known setups, datasets, seeds and variants; a variant changes keys of its method's recipe,
        names a known augmentation family, and a mask ratio lies in (0, 1) (named before any training)."""
        study = settings["studies"][NAME]
        variants.check_runs(settings, NAME, "variants")
        for index, run in enumerate(study["runs"]):
            method = variants.core_entry(settings, run["setup"])["method"]
            for name in run["variants"]:
                where = f"studies.augmentations.runs[{index}].variants: {name!r}"
                if name not in study["variants"]:
                    raise ConfigError(f"{where} is not in studies.augmentations.variants ({sorted(study['variants'])})")
                change = study["variants"][name]
                unknown = sorted(set(change) - set(settings["methods"][method]))
                if unknown:
                    raise ConfigError(f"{where} changes {unknown}, which are not keys of methods.{method}")
                if "augment" in change and change["augment"] not in settings["augmentations"]:
                    raise ConfigError(f"{where}: augment {change['augment']!r} is not a family of `augmentations` "
                                      f"({sorted(settings['augmentations'])})")
                if "mask_ratio" in change and not 0 < float(change["mask_ratio"]) < 1:
                    raise ConfigError(f"{where}: mask_ratio must lie in (0, 1), got {change['mask_ratio']}")

    return (check_augmentations,)


VALIDATORS = _validators()
