"""The sslmem verbs of the studies unitmem_conditions (``align-augment``) and localization_uses
(``finetune-layers``, ``prune-units``), added to the CLI by :func:`sslmem.cli.build_parser`. Cheap to import
(argparse only): each study module declares its verbs (``VERBS``: name, help, arguments, body), whose bodies import
the work (:mod:`sslmem.pipeline.localization_uses`, :mod:`sslmem.pipeline.align`) when a verb runs."""

from __future__ import annotations


def add_verbs(verb) -> None:
    """align-augment, finetune-layers, prune-units."""
    from sslmem.studies import localization_uses, unitmem_conditions

    for name, help_text, add_arguments, run in (*unitmem_conditions.VERBS, *localization_uses.VERBS):
        add_arguments(verb(name, lambda args, run=run: run(_settings(args), args), help_text))


def _settings(args):
    from sslmem.plan import load_settings  # as sslmem.cli's verbs (the CLI imports this module: no cycle)

    return load_settings(args.params, preset=args.preset)
