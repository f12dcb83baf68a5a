"""Cross-field rules: what params.yaml's schema cannot say (fractions sum to 1, names refer to existing entries,
patch sizes divide image sizes, sizes fit the subsets they are drawn from, dataset roots exist).

Each rule is a function of the merged settings that raises :class:`ConfigError` naming the key, registered with
:func:`~sslmem.config.registry.cross_field_rule` (re-exported here, for a study module's own rules);
:func:`check_rules` runs them in registration order, the rules that look at files (the dataset roots) last.
One module per part of params.yaml, imported below in the order their rules run:

- :mod:`.splits`: splits.fractions, pool sizes, counts, and the coupling of S_C with S_I;
- :mod:`.setups`: experiment.setups (names, datasets, methods, backbones, recipes, images, studies_only);
- :mod:`.recipes`: augmentation families, optimizers, warm-ups;
- :mod:`.measure`: the representation scored, Table 8's view families, the probe and its downstream datasets;
- :mod:`.report`: the tables and figures (Table 11, 12, 4, ClassMem, galleries);
- :mod:`.sizes`: sizes a later stage draws from a subset of the split (the split's sizes: :mod:`.subsets`);
- :mod:`.roots`: the dataset roots (a file rule).

Importing this package imports no torch: the rules that need the method and arch registries import them when
they run (only on a full validation; a load of already validated settings runs only the file rules).
"""

from __future__ import annotations

from typing import Mapping

from sslmem.config.registry import CrossFieldRule, cross_field_rule, registered_rules

# Imported for their registrations, in the order the rules run: names and shapes before the sizes that use them.
from sslmem.config.rules import splits, setups, recipes, measure, report, sizes, roots  # noqa: E402,F401  isort: skip
from sslmem.config.rules.roots import check_dataset_roots

__all__ = ["all_rules", "check_dataset_roots", "check_file_rules", "check_rules", "cross_field_rule",
           "registered_rules"]


def check_rules(settings: Mapping, check_roots: bool = True, extra: tuple = ()) -> None:
    """Cross-field rules the schema cannot express, then `extra` (the study plugins' validators, passed in by the
    layer above: the config package imports no study). Raises ConfigError naming the key."""
    for rule in all_rules(extra):
        if check_roots or not rule.reads_files:
            rule.check(settings)


def check_file_rules(settings: Mapping, extra: tuple = ()) -> None:
    """Only the rules that look at files (dataset roots): what can change without params.yaml changing."""
    for rule in all_rules(extra):
        if rule.reads_files:
            rule.check(settings)


def all_rules(extra: tuple = ()) -> tuple[CrossFieldRule, ...]:
    """Every rule in the order it runs: the registered ones (:func:`registered_rules`) and `extra` validators
    (functions of the settings; ``reads_files`` set on those that read files), the settings rules first and the
    file rules last. A validator that is also registered runs once."""
    rules = list(registered_rules())
    registered = {rule.check for rule in rules}
    rules += [CrossFieldRule(check, bool(getattr(check, "reads_files", False)))
              for check in extra if check not in registered]
    return tuple(rule for rule in rules if not rule.reads_files) + tuple(rule for rule in rules if rule.reads_files)
