"""Studies of recipe variants: a setup of experiment.setups retrained with one recipe change per level.

DP at several ε (:mod:`sslmem.studies.privacy`), the alignment regulariser at several λ
(:mod:`sslmem.studies.regularizer`): each level is a setup derived from the run's setup — the same method,
backbone, split and seeds, the recipe with the level's change merged in, its own name — and its f/g encoders are
trained, aligned, scored and probed like the core ones under ``results/studies/<study>/`` (``Study.setups``,
``Study.scored``). The level "none" (ε = ∞, λ = 0) is the run's setup itself: its core encoders.

Settings of such a study (params.yaml ``studies.<study>``): ``runs: [{setup, datasets, <levels key>: [...],
seeds (optional, a subset of the setup's), recipe (optional, merged over the setup's for every level and not for
the level "none": e.g. the paper's batch of 256 for Fig. 4)}]`` plus whatever the recipe change needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sslmem import artifacts
from sslmem.studies import Study, TrainingSetRecipe, in_study


def level_label(value: float | str) -> str:
    """8 → "8", 0.5 → "0.5" (setup names may hold dots); a named level (e.g. "crop_only") as it is."""
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def core_entry(settings: Mapping, name: str) -> dict | None:
    # experiment.setups only: config.find_setup also searches the derived setups, which call this.
    from sslmem.config import setup_name

    return next((dict(entry) for entry in settings["experiment"]["setups"] if setup_name(entry) == name), None)


def derived_setups(settings: Mapping, study: str, levels_key: str, name_of: Callable[[str, float], str],
                   recipe_change: Callable[[Mapping, float], dict]) -> list[dict]:
    """One setup entry per (run, level): the run's setup with its own `name`, the run's `datasets` (and `seeds`),
    and `recipe_change(settings, level)` merged over its recipe; `variant_of` and `level` say what it is."""
    from sslmem.config import deep_merge

    entries = []
    for run in settings["studies"][study]["runs"]:
        base = core_entry(settings, run["setup"])
        if base is None:
            continue  # named by the study's cross-field rule
        for level in run[levels_key]:
            recipe = deep_merge(deep_merge(base.get("recipe") or {}, run.get("recipe") or {}),
                                recipe_change(settings, level))
            entries.append({**base, "name": name_of(run["setup"], level), "datasets": list(run["datasets"]),
                            "recipe": recipe, "variant_of": run["setup"],
                            "level": level if isinstance(level, str) else float(level),
                            **({"seeds": list(run["seeds"])} if run.get("seeds") else {})})
    return entries


def variant_study(name: str, setups: Callable[[Mapping], list[dict]], results: tuple[str, ...],
                  extra_input_sets: Mapping | None = None) -> Study:
    """The Study of a variants study: f/g encoders of every derived setup on the protocol's training sets, and
    the input sets its results read: ``<name>_base_scores``, ``_base_probes``, ``_base_units`` (the core files of
    the setups the levels derive from: the level "none"), ``<name>_scores``, ``_probes``, ``_checkpoints``, ``_units``,
    ``_layer_scores``."""
    from sslmem.config import RunSpec, setup_name, setup_seeds

    def runs(settings: Mapping) -> list:
        return [RunSpec(dataset, entry["method"], entry["arch"], seed, role, setup_name(entry))
                for entry in setups(settings) for dataset in entry["datasets"]
                for seed in setup_seeds(settings, entry) for role in ("f", "g")]

    def training_set(settings: Mapping, run) -> TrainingSetRecipe:
        # The SSLMem protocol's f or g from the setup's own split: only the training recipe differs.
        return TrainingSetRecipe(kind="protocol", inputs={"split": artifacts.SPLIT.format(dataset=run.dataset)},
                                 options={"role": run.role})

    def encoder_files(pattern: str, probed_only: bool = False):
        def files(settings: Mapping) -> list[str]:
            roles = settings["probe"]["roles"] if probed_only else ("f", "g")
            return [in_study(pattern, name).format(**vars(run)) for run in runs(settings) if run.role in roles]
        return files

    def setup_files(pattern: str):
        def files(settings: Mapping) -> list[str]:
            pairs = dict.fromkeys((run.dataset, run.setup) for run in runs(settings))
            return [in_study(pattern, name).format(dataset=dataset, setup=setup) for dataset, setup in pairs]
        return files

    def base_pairs(settings: Mapping) -> list[tuple[str, str]]:
        return list(dict.fromkeys((dataset, entry["variant_of"]) for entry in setups(settings)
                                  for dataset in entry["datasets"]))

    def base_scores(settings: Mapping) -> list[str]:
        return [artifacts.SCORES.format(dataset=dataset, setup=setup) for dataset, setup in base_pairs(settings)]

    def base_encoder_files(pattern: str, probed_only: bool):
        def files(settings: Mapping) -> list[str]:
            from sslmem.config import find_setup

            roles = settings["probe"]["roles"] if probed_only else ("f", "g")
            return [pattern.format(dataset=dataset, setup=setup, role=role, seed=seed)
                    for dataset, setup in base_pairs(settings)
                    for seed in setup_seeds(settings, find_setup(settings, setup)) for role in roles]
        return files

    input_sets = {
        # The level "none": the core files of the setups the levels derive from (not every core setup's).
        f"{name}_base_scores": base_scores,
        f"{name}_base_probes": base_encoder_files(artifacts.PROBE, probed_only=True),
        f"{name}_base_units": base_encoder_files(artifacts.UNITS, probed_only=False),
        f"{name}_scores": setup_files(artifacts.SCORES),
        f"{name}_probes": encoder_files(artifacts.PROBE, probed_only=True),
        f"{name}_checkpoints": encoder_files(artifacts.CHECKPOINT),
        f"{name}_units": encoder_files(artifacts.UNITS),
        f"{name}_layer_scores": setup_files(artifacts.LAYER_SCORES),
        **(extra_input_sets or {}),
    }
    return Study(name=name, runs=runs, training_set=training_set, input_sets=input_sets, results=results,
                 setups=setups, scored=True)


def check_runs(settings: Mapping, study: str, levels_key: str) -> None:
    """Each run names a setup of experiment.setups on its datasets, with seeds among the setup's (ConfigError)."""
    from sslmem.config import ConfigError, setup_datasets, setup_name, setup_seeds

    for index, run in enumerate(settings["studies"][study]["runs"]):
        where = f"studies.{study}.runs[{index}]"
        base = core_entry(settings, run["setup"])
        if base is None:
            known = [setup_name(entry) for entry in settings["experiment"]["setups"]]
            raise ConfigError(f"{where}.setup: no setup {run['setup']!r} in experiment.setups ({known})")
        missing = [dataset for dataset in run["datasets"] if dataset not in setup_datasets(settings, base)]
        if missing:
            raise ConfigError(f"{where}.datasets: setup {run['setup']!r} does not run on {missing}")
        extra = [seed for seed in run.get("seeds") or [] if seed not in setup_seeds(settings, base)]
        if extra:
            raise ConfigError(f"{where}.seeds: {extra} are not seeds of setup {run['setup']!r} (its own rows "
                              f"have {setup_seeds(settings, base)})")
        if len({level_label(level) for level in run[levels_key]}) != len(run[levels_key]):
            raise ConfigError(f"{where}.{levels_key}: {run[levels_key]} name the same setup twice")
