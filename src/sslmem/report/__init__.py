"""Tables and figures from the tidy result files (never typed numbers).

* :mod:`sslmem.report.registry` — the one registry of results (:class:`~sslmem.report.registry.Result`);
  :mod:`sslmem.report.results` declares the core ones.
* Builders by subject: :mod:`~sslmem.report.summaries` (Tables 1, 11, 15, per-subset summary),
  :mod:`~sslmem.report.significance` (Tables 2, 16), :mod:`~sslmem.report.ranking` (Table 13),
  :mod:`~sslmem.report.localization` (LayerMem, UnitMem), :mod:`~sslmem.report.figures` (Figs. 2a, 2c, LayerMem).
* :mod:`~sslmem.report.readers` — readers of the tidy files; ``paper_values.yaml`` — the paper's reference
  numbers, printed beside ours, never used as results.

This package's import is cheap on purpose (the Snakefile imports the registry); import builders from their modules.
"""
