"""Table 7 of the overlap study (:mod:`sslmem.studies.overlap`): SSLMem and accuracy per overlap level of f's and g's
training sets, the core split's row first."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sslmem.artifacts import TABLE7_COLUMNS, ordered
from sslmem.data.splits import read_split, sidecar_path
from sslmem.io import atomic_to_csv
from sslmem.report.variants import measured, read_with_variants


def split_sizes_by_key(split_paths) -> dict[tuple[str, str | None], dict[str, int]]:
    """(dataset, level setup; None for the core split) → the subset sizes of that split, counted in the file (its
    hash checked), so that the table states the sizes the encoders were trained on, not what the settings say."""
    sizes = {}
    for path in split_paths:
        table, _ = read_split(Path(path))
        meta = json.loads(sidecar_path(Path(path)).read_text())
        counts = table["subset"].value_counts()
        sizes[(meta["dataset"], meta.get("setup"))] = {subset: int(counts.get(subset, 0))
                                                       for subset in ("S_S", "S_C", "S_I", "S_E")}
    return sizes


def paper_match(paper: Mapping, dataset: str, identity: Mapping | None, representation: str,
                sizes: Mapping[str, int]) -> dict:
    """The paper's Table 7 row that this row is: the paper's run (method, backbone, epochs, recipe, encoder output on
    CIFAR10: :func:`sslmem.report.readers.matches_paper_row`) with the row's |S_S|, |S_C| and |S_I|; else {}."""
    from sslmem.report.readers import matches_paper_row

    if not matches_paper_row(paper["setup"], dataset, identity, representation):
        return {}
    ours = (sizes["S_S"], sizes["S_C"], sizes["S_I"])
    return next((row for row in paper["rows"] if (row["shared"], row["candidate"], row["independent"]) == ours), {})


def table7(score_paths, probe_paths, level_score_paths, level_probe_paths, split_paths, out,
           levels: Mapping[str, Mapping], identities: Mapping | None = None, paper_values_path=None) -> pd.DataFrame:
    """Rows per (dataset, setup): the core split's (the setup's own encoders), then its levels by overlap.
    `levels` maps a level's setup name to {setup, overlap}. SSLMem and m(S_C) − m(S_S) are per-pair means over
    S_C (and S_S), mean ± std over pairs (:func:`sslmem.report.variants.measured`, as Tables 5 and 9)."""
    from sslmem.report.readers import load_paper_values

    scores, probes = read_with_variants(score_paths, probe_paths, level_score_paths, level_probe_paths)
    sizes = split_sizes_by_key(split_paths)
    paper = load_paper_values(paper_values_path)["table7"]
    identities = identities or {}
    present = set(map(tuple, scores[["dataset", "setup"]].drop_duplicates().to_numpy()))
    rows = []
    for dataset in sorted({dataset for dataset, _ in present}):
        core = sizes.get((dataset, None))
        bases = list(dict.fromkeys(level["setup"] for name, level in levels.items() if (dataset, name) in present))
        for base in bases:
            if core is None:
                raise ValueError(f"table7: no core split of {dataset!r} among the split files {list(split_paths)}")
            pool = core["S_S"] + core["S_C"] + core["S_I"]
            ordered_levels = [(base, None)] + sorted(((name, level["overlap"]) for name, level in levels.items()
                                                      if level["setup"] == base and (dataset, name) in present),
                                                     key=lambda item: item[1])
            for source, overlap in ordered_levels:
                own = core if overlap is None else sizes.get((dataset, source))
                if own is None:
                    raise ValueError(f"table7: no split of level {source!r} on {dataset!r} among the split files")
                group = scores[(scores["dataset"] == dataset) & (scores["setup"] == source)]
                representation = str(group["representation"].iat[0])
                match = paper_match(paper, dataset, identities.get(base), representation, own)
                rows.append({
                    "dataset": dataset, "setup": base, "method": group["method"].iat[0], "arch": group["arch"].iat[0],
                    "representation": representation, "level_setup": source, "core": overlap is None,
                    "overlap": own["S_S"] / pool, "overlap_percent": 100.0 * own["S_S"] / pool,
                    "n_shared": own["S_S"], "n_candidate": own["S_C"], "n_independent": own["S_I"],
                    "n_extra": own["S_E"], "n_f": own["S_S"] + own["S_C"],
                    **measured(dataset, source, scores, probes),
                    "paper_sslmem": match.get("sslmem", np.nan), "paper_sslmem_std": match.get("sslmem_std", np.nan),
                    "paper_top1": match.get("top1", np.nan), "paper_top1_std": match.get("top1_std", np.nan),
                })
    table = ordered(pd.DataFrame(rows, columns=list(TABLE7_COLUMNS)), TABLE7_COLUMNS, "table7")
    atomic_to_csv(table, out)
    return table
