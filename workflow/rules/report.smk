# Stage: report — `snakemake --report report.html` (after the run) writes one self-contained HTML file with
# every table and figure of the default targets, each with its caption (workflow/report/<target>.rst; the texts
# are sslmem.report.CAPTIONS, tests/test_reviewer.py checks they agree). The outputs are flagged with
# report(...) in stats.smk; this file holds the report's front page.
# The report needs only the result files, not Snakemake's .snakemake/ metadata: it works on results restored
# with `dvc pull` (runtimes and provenance are then left out).


report: "../report/workflow.rst"
