"""The experiment's headline numbers as one metrics file, for `dvc metrics show` and `dvc exp show`.

DVC compares experiments by the files a stage declares under ``metrics:``; a table with one row per setup is not
one of them. :func:`metrics` folds the numbers a reader compares between runs into one JSON object, nested as
dataset → setup → metric, which DVC shows as columns such as ``fashion_mnist.simclr-resnet18.sslmem``:

* ``sslmem``: the ensemble SSLMem of the setup (mean m over S_C, all f and g encoders), from table1;
* ``sslmem_pair_mean``: the mean over seeds of the per-pair SSLMem, from table1;
* ``m_candidates_minus_shared``: mean m(S_C) − mean m(S_S) of the ensemble rows (the score above the global
  offset that every point shares), from the subset summary;
* ``p_<hypothesis>``: the p-value of each Table 2 test (e.g. ``p_SC_le_SS``), from table2;
* ``probe_top1`` and ``knn_top1``: linear-probe and weighted-kNN top-1 (%) of the f encoders on their own dataset,
  mean over seeds;
* ``probe_top1_<downstream>``: the f encoders' linear-probe top-1 (%) on each dataset of probe.downstream, mean over
  seeds.

Numbers are rounded to 6 significant digits so that the file does not change with the last bits of a float;
a missing value (no probe for that setup) is left out rather than written as NaN, which JSON lacks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import pandas as pd

from sslmem.io import atomic_write_text
from sslmem.report.readers import own_dataset_probes, read_probes, read_table

DOWNSTREAM_PREFIX = "probe_top1_"

SIGNIFICANT_DIGITS = 6


def _rounded(value) -> float | None:
    value = float(value)
    if math.isnan(value):
        return None
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _put(tree: dict, dataset: str, setup: str, name: str, value) -> None:
    value = _rounded(value)
    if value is not None:
        tree.setdefault(dataset, {}).setdefault(setup, {})[name] = value


def _subset_gap(subsets: pd.DataFrame) -> pd.Series:
    """mean m(S_C) − mean m(S_S) per (dataset, setup), from the ensemble rows of the subset summary."""
    ensemble = subsets[subsets["estimate"] == "ensemble"]
    means = ensemble.pivot_table(index=["dataset", "setup"], columns="subset", values="mean_m", aggfunc="first")
    return means["S_C"] - means["S_S"]


def _probe_means(probe_paths) -> pd.DataFrame:
    """Mean linear-probe and kNN top-1 (%) of the f encoders per (dataset, setup) on their own dataset, and their
    linear-probe top-1 on each downstream dataset as a column probe_top1_<downstream> (NaN where not probed)."""
    probes = read_probes(probe_paths)
    probes = probes[probes["role"] == "f"]
    own = own_dataset_probes(probes)
    columns = [column for column in ("top1", "knn_top1") if column in probes.columns]
    means = 100.0 * own.groupby(["dataset", "setup"])[columns].mean()
    downstream = probes[probes["probe_dataset"] != probes["dataset"]]
    if downstream.empty:
        return means
    per_dataset = 100.0 * downstream.pivot_table(index=["dataset", "setup"], columns="probe_dataset", values="top1",
                                                  aggfunc="mean")
    return means.join(per_dataset.add_prefix(DOWNSTREAM_PREFIX), how="outer")


def collect_metrics(table1: pd.DataFrame, table2: pd.DataFrame, subsets: pd.DataFrame,
                    probes: pd.DataFrame | None) -> dict:
    """dataset → setup → metric name → value, from the tables' frames (see the module docstring)."""
    tree: dict = {}
    for row in table1.itertuples(index=False):
        _put(tree, row.dataset, row.setup, "sslmem", row.sslmem_ensemble)
        _put(tree, row.dataset, row.setup, "sslmem_pair_mean", row.sslmem_mean)
    for (dataset, setup), gap in _subset_gap(subsets).items():
        _put(tree, dataset, setup, "m_candidates_minus_shared", gap)
    ensemble_tests = table2[table2["estimate"] == "ensemble"]
    for row in ensemble_tests.itertuples(index=False):
        _put(tree, row.dataset, row.setup, f"p_{row.hypothesis_key}", row.p_value)
    if probes is not None:
        for (dataset, setup), row in probes.iterrows():
            _put(tree, dataset, setup, "probe_top1", row["top1"])
            if "knn_top1" in row:
                _put(tree, dataset, setup, "knn_top1", row["knn_top1"])
            for name in row.index[row.index.str.startswith(DOWNSTREAM_PREFIX)]:
                _put(tree, dataset, setup, name, row[name])
    return tree


def metrics(score_paths, probe_paths, out, n_boot: int, seed: int, level: float, alpha: float,
            identities: Mapping | None = None) -> Mapping:
    """Write the metrics JSON (sorted keys, stable bytes) from the score and probe files, through Table 1, Table 2
    and the subset summary built here, in a scratch folder (with the options those results are built with).

    Not from the committed tables: in a fresh clone git writes results/ in name order, so metrics.json would be
    older than table1.csv, and Snakemake would rebuild it (and all it reads) at random. Returns the nested
    dictionary."""
    import tempfile
    from pathlib import Path

    from sslmem.report.significance import table2
    from sslmem.report.summaries import subset_summary, table1

    bootstrap = {"n_boot": n_boot, "seed": seed, "level": level, "identities": identities}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        table1(score_paths, probe_paths, scratch / "table1.csv", **bootstrap)
        table2(score_paths, scratch / "table2.csv", alpha=alpha, identities=identities)
        subset_summary(score_paths, scratch / "subsets.csv", **bootstrap)
        return metrics_from_tables(scratch / "table1.csv", scratch / "table2.csv", scratch / "subsets.csv",
                                   probe_paths, out)


def metrics_from_tables(table1_csv, table2_csv, subsets_csv, probe_paths, out) -> Mapping:
    """The metrics JSON from table1, table2, the subset summary and the probe files (sorted keys, stable bytes)."""
    probes = _probe_means(probe_paths) if probe_paths else None
    tree = collect_metrics(read_table(table1_csv, "table1"), read_table(table2_csv, "table2"),
                           read_table(subsets_csv, "subsets"), probes)
    atomic_write_text(out, json.dumps(tree, indent=2, sort_keys=True) + "\n")
    return tree
