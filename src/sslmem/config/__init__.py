"""Settings: params.yaml → one validated, merged settings tree.

params.yaml holds `preset`, `common` and `presets`; the settings in effect are `common` deep-merged with
`presets[preset]`. The package:

- :mod:`~sslmem.config.load`: reading params.yaml, the JSON schema (types, ranges, enums), :func:`resolve`
  (always a full validation) and :func:`load` (validates once, then reads the validation cache of
  :mod:`~sslmem.config.cache`, importing neither torch nor jsonschema);
- :mod:`~sslmem.config.rules`: the cross-field rules a schema cannot express, registered with
  ``@cross_field_rule`` (:mod:`~sslmem.config.registry`; a study module may register its own beside its code);
- :mod:`~sslmem.config.plan`: which runs exist (setups, their recipes, datasets and seeds; :class:`RunSpec`).

Every failure raises :class:`ConfigError` whose message names the key, the bad value and what is allowed.
"""

from sslmem.config.base import ConfigError, deep_merge
from sslmem.config.load import load, resolve
from sslmem.config.plan import (
    RunSpec,
    arch_options,
    cpu_kernels_entry,
    experiment_runs,
    fingerprint,
    paper_identities,
    find_setup,
    pool_size_for,
    probe_downstream,
    probe_recipe,
    setup_datasets,
    setup_name,
    setup_recipe,
    setup_representation,
    setup_seeds,
    split_counts_for,
)
from sslmem.config.registry import cross_field_rule
from sslmem.config.rules import check_rules

__all__ = [
    "ConfigError",
    "RunSpec",
    "arch_options",
    "check_rules",
    "cpu_kernels_entry",
    "cross_field_rule",
    "deep_merge",
    "experiment_runs",
    "fingerprint",
    "load",
    "paper_identities",
    "find_setup",
    "pool_size_for",
    "probe_downstream",
    "probe_recipe",
    "resolve",
    "setup_datasets",
    "setup_name",
    "setup_recipe",
    "setup_seeds",
    "setup_representation",
    "split_counts_for",
]
