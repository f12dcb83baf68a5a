"""Studies: declared experiments beyond the core SSLMem protocol (removal, coreset, DP, regulariser, ...).

A study is one module here. At import it registers what it yields — its tables and figures
(:func:`sslmem.report.registry.register`) and its settings validator
(:func:`sslmem.config.cross_field_rule`) — and its Snakemake rules live in ``workflow/rules/<study>.smk``.
:func:`sslmem.report.registry.load_results` imports every module of this package, so adding a study edits no
list elsewhere.
"""
