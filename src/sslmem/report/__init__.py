"""Tables and figures from the tidy result files (never typed numbers).

* :mod:`sslmem.report.tables` — Tables 1, 2, 11, 13, 15, 16, the per-subset summary, LayerMem and UnitMem (CSV).
* :mod:`sslmem.report.figures` — Fig. 2a, Fig. 2c and the LayerMem figure (PNG).
* ``paper_values.yaml`` — the paper's reference numbers, printed beside ours, never used as results.

:data:`CAPTIONS` maps each target name ("fig2a", "fig2c", "table1", "table2", "table11", "table13", "table15",
"table16", "subset_summary", "layermem", "layermem_fig", "unitmem") to a one-sentence caption for ``snakemake --report``.
"""

from sslmem.report.figures import FIGURE_CAPTIONS, fig2a, fig2c, fig_layermem
from sslmem.report.tables import (
    TABLE_CAPTIONS,
    layermem_table,
    subset_summary,
    table1,
    table2,
    table11,
    table13,
    table15,
    table16,
    unitmem_table,
)

CAPTIONS: dict[str, str] = {**TABLE_CAPTIONS, **FIGURE_CAPTIONS}

__all__ = [
    "CAPTIONS", "fig2a", "fig2c", "fig_layermem", "layermem_table", "subset_summary", "table1", "table2", "table11",
    "table13", "table15", "table16", "unitmem_table",
]
