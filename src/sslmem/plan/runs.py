"""The encoders of a plan: the core's (every setup × dataset × seed × f/g) and each study's, and lookups from a
job's wildcards to the encoder they name."""

from __future__ import annotations

from collections.abc import Mapping

from sslmem import config as cfg
from sslmem.config import ConfigError


class Runs:
    """The encoders the settings plan, with the lookups jobs need (what a job's wildcards name)."""

    def __init__(self, settings: Mapping, studies: Mapping):
        self.settings = settings
        self.studies = studies
        self.core = cfg.experiment_runs(settings)
        # (dataset, setup) pairs, in params.yaml order.
        self.setup_pairs = list(dict.fromkeys((run.dataset, run.setup) for run in self.core))
        self._study_runs = {name: study.runs(settings) for name, study in studies.items()}

    def of_study(self, study: str) -> list:
        return self._study_runs[study]

    def encoder_files(self, pattern: str, dataset: str, setup: str) -> list[str]:
        """`pattern` filled in for every core encoder (seed, role) of one setup on one dataset."""
        files = [pattern.format(**vars(run)) for run in self.core if (run.dataset, run.setup) == (dataset, setup)]
        if not files:
            raise ConfigError(f"no setup {setup!r} on dataset {dataset!r} in preset {self.settings['preset']!r}; "
                              f"it has {sorted(set(self.setup_pairs))}")
        return files

    def all_encoder_files(self, pattern: str) -> list[str]:
        return [pattern.format(**vars(run)) for run in self.core]

    def spec(self, wildcards, study: str | None = None):
        """The encoder a job's wildcards name: a core one, or one a study plans (wildcard or argument `study`)."""
        study = study or getattr(wildcards, "study", None)
        seed = int(wildcards.seed)
        if study:
            for run in self._study_runs[study]:
                if (run.dataset, run.setup, run.seed, run.role) == (wildcards.dataset, wildcards.setup, seed,
                                                                    wildcards.role):
                    return run
            raise ConfigError(f"study {study!r} plans no encoder {wildcards.role}{seed} of setup "
                              f"{wildcards.setup!r} on {wildcards.dataset!r} ({len(self._study_runs[study])} planned)")
        return cfg.RunSpec.for_setup(self.settings, wildcards.dataset, wildcards.setup, seed, wildcards.role)

    def training_set_recipe(self, wildcards, study: str | None = None):
        from sslmem.studies.plugins import recipe_for

        study = study or getattr(wildcards, "study", None)
        return recipe_for(self.settings, self.spec(wildcards, study), study)

    def training_set_slice(self, wildcards) -> dict:
        recipe = self.training_set_recipe(wildcards)
        return {"kind": recipe.kind, "options": recipe.options, "inputs": recipe.inputs}
