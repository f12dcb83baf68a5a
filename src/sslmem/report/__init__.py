"""Tables and figures from the tidy result files (never typed numbers).

* :mod:`sslmem.report.tables` — Tables 1, 2, 11, 13, 15, 16 and the per-subset summary (CSV).
* :mod:`sslmem.report.figures` — Fig. 2a and Fig. 2c (PNG).
* ``paper_values.yaml`` — the paper's reference numbers, printed beside ours, never used as results.

:data:`CAPTIONS` maps each target name ("fig2a", "fig2c", "table1", "table2", "table11",
"table13", "table15", "table16", "subset_summary") to a one-sentence caption for ``snakemake --report``.
"""

from sslmem.report.figures import FIGURE_CAPTIONS, fig2a, fig2c
from sslmem.report.tables import TABLE_CAPTIONS, subset_summary, table1, table2, table11, table13, table15, table16

CAPTIONS: dict[str, str] = {**TABLE_CAPTIONS, **FIGURE_CAPTIONS}

__all__ = ["CAPTIONS", "fig2a", "fig2c", "subset_summary", "table1", "table2", "table11", "table13", "table15", "table16"]
