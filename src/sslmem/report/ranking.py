"""Do setups memorise the same points? Table 13 of the SSLMem paper (App. B.4)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from sslmem.io import atomic_to_csv
from sslmem.report.readers import load_paper_values, paper_dataset, read_scores
from sslmem.stats import kendall_tau

TABLE13_COLUMNS = [
    "dataset", "setup_1", "setup_2", "n_candidates", "kendall_tau", "p_value", "paper_tau", "paper_p_value",
    "paper_rows",
]


def _paper_identity(identity: tuple[str, str, int] | None, paper_rows: dict) -> str | None:
    """The paper's Table 13 row label of a (method, arch, epochs) identity, if it has one."""
    if identity is None:
        return None
    for label, row in paper_rows.items():
        if (row["method"], row["arch"], int(row["epochs"])) == tuple(identity):
            return label
    return None


def table13(score_paths, out, identities: dict | None = None, paper_values_path=None) -> pd.DataFrame:
    """Table 13: pairwise Kendall's tau-b between setups' rankings of the candidates, per dataset.

    For every dataset and every pair of setups scored on it (each unordered pair once, in the order the score
    files are given), tau and its two-sided p-value between the ensemble m of the S_C points, matched by
    point id (setups of one dataset share the split, so they score the same candidates; a mismatch is an
    error). `identities` maps a setup name to its (method, arch, training epochs) — given only for setups that
    can stand for the paper's runs — and the paper's tau/p (CIFAR10) stand beside a pair whose two identities
    both are rows of the paper's Table 13.
    """
    scores = read_scores(score_paths, require_estimate="ensemble")
    candidates = scores[(scores["estimate"] == "ensemble") & (scores["subset"] == "S_C")]
    paper = load_paper_values(paper_values_path)["table13"]
    paper_rows, paper_pairs = paper["rows"], paper["pairs"]
    identities = identities or {}
    setup_order = list(dict.fromkeys(scores["setup"]))
    rows = []
    for dataset, group in candidates.groupby("dataset", sort=True):
        by_setup = {setup: part.set_index("point_id")["m"].sort_index() for setup, part in group.groupby("setup")}
        names = [name for name in setup_order if name in by_setup]
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                a, b = by_setup[first], by_setup[second]
                if not a.index.equals(b.index):
                    raise ValueError(
                        f"{dataset}: setups {first!r} and {second!r} scored different candidates; score both "
                        "on the same split (results/splits/{dataset}.csv)"
                    )
                result = kendall_tau(a.to_numpy(), b.to_numpy())
                label_1 = _paper_identity(identities.get(first), paper_rows)
                label_2 = _paper_identity(identities.get(second), paper_rows)
                reference = {}
                if paper_dataset(dataset) == paper["dataset"] and label_1 and label_2 and label_1 != label_2:
                    reference = next(
                        (pair for pair in paper_pairs if {pair["row_1"], pair["row_2"]} == {label_1, label_2}), {}
                    )
                rows.append({
                    "dataset": dataset, "setup_1": first, "setup_2": second, "n_candidates": int(a.size),
                    "kendall_tau": result.tau, "p_value": result.p_value,
                    "paper_tau": reference.get("tau", np.nan), "paper_p_value": reference.get("p_value", np.nan),
                    "paper_rows": f"{label_1} / {label_2}" if reference else "",
                })
    table = pd.DataFrame(rows, columns=TABLE13_COLUMNS)
    atomic_to_csv(table, out)
    return table


