"""Do setups memorise the same points? Table 13 of the SSLMem paper (App. B.4)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from sslmem.io import atomic_to_csv
from sslmem.report.readers import load_paper_values, matches_paper_row, read_scores
from sslmem.stats import kendall_tau

TABLE13_COLUMNS = [
    "dataset", "setup_1", "setup_2", "representation_1", "representation_2", "same_representation",
    "n_candidates", "kendall_tau", "p_value", "paper_tau", "paper_p_value", "paper_rows",
]


def _paper_label(dataset: str, identity: dict | None, representation: str, paper: dict) -> str | None:
    """The paper's Table 13 row label of a setup (same dataset, method, arch and epochs, encoder output)."""
    for label, row in paper["rows"].items():
        if matches_paper_row({**row, "dataset": paper["dataset"]}, dataset, identity, representation):
            return label
    return None


def table13(score_paths, out, identities: Mapping[str, Mapping] | None = None, paper_values_path=None) -> pd.DataFrame:
    """Table 13: pairwise Kendall's tau-b between setups' rankings of the candidates, per dataset.

    For every dataset and every pair of setups scored on it (each unordered pair once, in the order the score
    files are given), tau and its two-sided p-value between the ensemble m of the S_C points, matched by
    point id (setups of one dataset share the split, so they score the same candidates; a mismatch is an
    error). ``representation_1/2`` say what each setup scored; a pair measured in different spaces (encoder
    output vs a projection head) has ``same_representation`` False: its tau compares two different measures.
    `identities` maps a setup to {method, arch, epochs, representation} (:func:`sslmem.config.paper_identities`);
    the paper's tau/p (CIFAR10) stand beside a pair whose two setups are both rows of the paper's Table 13 (same
    method, arch and epochs, encoder output).
    """
    scores = read_scores(score_paths, require_estimate="ensemble")
    candidates = scores[(scores["estimate"] == "ensemble") & (scores["subset"] == "S_C")]
    paper = load_paper_values(paper_values_path)["table13"]
    identities = identities or {}
    representations = scores.groupby("setup")["representation"].first().to_dict()
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
                label_1 = _paper_label(dataset, identities.get(first), representations[first], paper)
                label_2 = _paper_label(dataset, identities.get(second), representations[second], paper)
                reference = {}
                if label_1 and label_2 and label_1 != label_2:
                    reference = next(
                        (pair for pair in paper["pairs"] if {pair["row_1"], pair["row_2"]} == {label_1, label_2}), {}
                    )
                rows.append({
                    "dataset": dataset, "setup_1": first, "setup_2": second,
                    "representation_1": representations[first], "representation_2": representations[second],
                    "same_representation": representations[first] == representations[second],
                    "n_candidates": int(a.size),
                    "kendall_tau": result.tau, "p_value": result.p_value,
                    "paper_tau": reference.get("tau", np.nan), "paper_p_value": reference.get("p_value", np.nan),
                    "paper_rows": f"{label_1} / {label_2}" if reference else "",
                })
    table = pd.DataFrame(rows, columns=TABLE13_COLUMNS)
    atomic_to_csv(table, out)
    return table


