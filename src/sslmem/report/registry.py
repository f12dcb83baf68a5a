"""One registry of results: every table and figure is declared once, as a :class:`Result`.

From the registry come the CLI verb (``sslmem report NAME``), one Snakemake rule and target per result
(``workflow/rules/report.smk``), the result's caption in ``snakemake --report``, and — checked by tests — the
outputs of DVC's ``report`` stage and the README's list of results. Adding a table is one :func:`register` call
plus its builder function::

    register(Result(
        name="table2", kind="table", title="Table 2 — one-sided tests between subsets",
        caption="One-sided Welch t-tests between the subsets' ensemble scores ...",
        builder="sslmem.report.significance:table2",
        inputs={"score_paths": "scores"},
        options=lambda settings: {"alpha": settings["stats"]["alpha"]},
    ))

The builder is called as ``builder(**inputs, **options, out=path)``. `options` computes the builder's keyword
arguments from the validated settings; the same dictionary is the rule's settings fingerprint, so a result is
rebuilt exactly when what it reads changes. Importing this module is cheap (no pandas, torch or matplotlib):
the Snakefile reads it at start-up; builders are imported only when a result is built.

Where results are declared: the paper's core results in :mod:`sslmem.report.results` (``RESULTS``); a study
(removal, coreset, DP, ...) declares its own in its module under :mod:`sslmem.studies` (``RESULTS``), and
:func:`sslmem.studies.plugins.load_results` fills this registry with both, explicitly (this module imports no study).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Callable, Mapping

from sslmem.artifacts import result_path

# Sets of input files a result can read, by name (the workflow expands each over the planned runs; see
# workflow/rules/common.smk). A result may also read another result: give that result's name instead.
INPUT_SETS = {
    "scores": "per-point score file of every (dataset, setup): results/scores/{dataset}/{setup}.parquet",
    "layer_scores": "per-layer score file of every (dataset, setup): results/layer_scores/...",
    "probes": "probe file of every encoder whose role is in probe.roles: results/probe/...",
    "units": "per-unit UnitMem file of every encoder: results/unitmem/...",
    "train_logs": "per-epoch training log of every encoder: results/train_logs/...",
    "feldman": "Feldman score file of every setup of report.table12.setups: results/feldman/{dataset}/{setup}.parquet",
    "feldman_scores": "per-point score file of every setup of report.table12.setups (same encoders): results/scores/...",
    "allpoints": "ranked per-point file of every setup of report.galleries.setups: results/allpoints/{dataset}/{setup}.parquet",
    "dejavu": "Déjà Vu file of every setup of report.table4.setups (on report.table4.datasets): results/dejavu/{dataset}/{setup}.parquet",
    "dejavu_scores": "per-point score file of every setup of report.table4.setups (same encoders): results/scores/...",
    "dejavu_probes": "probe file of every f encoder of report.table4.setups: results/probe/...",
    "classmem": "per-unit UnitMem and ClassMem file of every f encoder of report.classmem.setups: results/classmem/{dataset}/{setup}/f{seed}.parquet",
}
# A result's kind and its file type: a tidy table, a figure, or a metrics file (JSON, what `dvc metrics` reads).
KINDS = {"table": "csv", "figure": "png", "metrics": "json"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _no_options(settings: Mapping) -> dict:
    return {}


@dataclass(frozen=True)
class Result:
    """A table (CSV), figure (PNG) or metrics file (JSON) of ``results/``, named after the paper where it has one.

    Attributes:
        name: file stem, ``results/<name>.csv``, ``.png`` or ``.json``; also the CLI argument and the Snakemake
            rule name.
        kind: "table", "figure" or "metrics".
        title: one line, e.g. "Table 2 — one-sided tests between subsets".
        caption: what the result shows, in full sentences (the report and the README say it).
        builder: "module:function" building the result; imported only when it runs.
        inputs: builder argument → an :data:`INPUT_SETS` name or another result's name.
        options: settings → the builder's other keyword arguments (JSON-able: it is also the rerun fingerprint).
        category: the report's section.
        default: built by the default target (``snakemake`` with no target, ``dvc repro``).
        plot: for a table DVC should draw (``dvc plots show``): its plot properties (x, y, template, title).
    """

    name: str
    kind: str
    title: str
    caption: str
    builder: str
    inputs: Mapping[str, str]
    options: Callable[[Mapping], dict] = _no_options
    category: str = "Tables"
    default: bool = True
    plot: Mapping | None = None

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError(f"result name {self.name!r}: use lower-case letters, digits and _ (a file stem)")
        if self.kind not in KINDS:
            raise ValueError(f"result {self.name!r}: kind {self.kind!r} is not one of {sorted(KINDS)}")
        if ":" not in self.builder:
            raise ValueError(f"result {self.name!r}: builder {self.builder!r} must be 'module:function'")
        if not self.caption.strip().endswith("."):
            raise ValueError(f"result {self.name!r}: the caption must be full sentences ending with '.'")

    @property
    def path(self) -> str:
        return result_path(self.name, KINDS[self.kind])

    def caption_rst(self) -> str:
        """The caption as the report shows it: title, file, then the text."""
        return f"**{self.title}** (``{self.path}``).\n\n{self.caption}\n"

    def builder_function(self) -> Callable:
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(module), function)

    def build(self, inputs: Mapping[str, list], settings: Mapping, out) -> None:
        """Build the result from its input files (builder argument → paths) and the validated settings."""
        unknown = sorted(set(inputs) - set(self.inputs))
        missing = sorted(set(self.inputs) - set(inputs))
        if unknown or missing:
            raise ValueError(
                f"result {self.name!r} takes the inputs {sorted(self.inputs)}; got unknown {unknown}, missing {missing}"
            )
        arguments = {name: _single(name, paths) if self.inputs[name] in RESULTS else paths
                     for name, paths in inputs.items()}
        self.builder_function()(**arguments, **self.options(settings), out=out)


def _single(name: str, paths: list):
    if len(paths) != 1:
        raise ValueError(f"input {name!r} is one result file; got {len(paths)}: {paths}")
    return paths[0]


RESULTS: dict[str, Result] = {}


def register(result: Result) -> Result:
    """Add a result to the registry (once per name)."""
    if result.name in RESULTS and RESULTS[result.name] != result:
        raise ValueError(f"result {result.name!r} is registered twice ({RESULTS[result.name].builder}, {result.builder})")
    RESULTS[result.name] = result
    return result


def check_inputs(names: set[str]) -> None:
    """Every input of every result is an input set (`names`) or a registered result (and not the result itself)."""
    for result in RESULTS.values():
        for argument, source in result.inputs.items():
            if source not in names and (source not in RESULTS or source == result.name):
                raise ValueError(
                    f"result {result.name!r}: input {argument!r} reads {source!r}, which is neither an input set "
                    f"({sorted(names)}) nor another registered result"
                )
