"""Localization study, item 3 (:mod:`sslmem.studies.localization`): do atypical points cause higher layer and unit
memorisation (finding 3), and does unit memorisation rise with SSLMem (Fig. 1b)?

Every comparison is made per f/g pair (seed) and tested over seeds, since every point an encoder scores shares its
training noise:

* ``top_vs_bottom_sslmem``: the n candidates S_C with the highest vs the n with the lowest SSLMem. The ranking of
  pair s is the mean per-pair m of the *other* pairs (``ranking = other_pairs``), so that pair s's own noise does
  not select its groups; with one pair only it is that pair's own m (``same_pair``: the layers near the
  representation are then high for the top group by construction).
* ``planted_vs_typical``: the planted study's foreign images among S_C vs the other candidates (groups known
  before training: ``ranking = planted_split``).
* ``kendall_tau_sslmem_unitmem`` (Fig. 1b): Kendall's τ over S_C between a point's ranking score and its UnitMem.

A point's UnitMem in a layer (:func:`point_unitmem`) is the highest UnitMem among the f encoder's units of the
layer whose most activating point (argmax) it is, 0 when it is no unit's argmax. LayerMem of a group in a layer
is the pair's mean m of the layer's output over the group (the per-layer scores). ``sslmem`` rows (layer
``representation``) compare the encoder-level score of the groups: whether the other pairs' ranking replicates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sslmem.artifacts import SETUP_KEYS
from sslmem.data.splits import is_foreign
from sslmem.io import atomic_to_csv
from sslmem.pair_stats import pair_level_test
from sslmem.report.readers import read_layer_scores, read_scores, read_units

ATYPICAL_COLUMNS = [
    "dataset", "setup", "method", "arch", "comparison", "ranking", "measure", "layer_index", "layer", "n_high",
    "n_low", "n_seeds", "mean_high", "mean_low", "statistic", "effect", "t_stat", "p_value", "seeds_holding",
    "direction", "alpha", "holds", "note",
]
TOP_VS_BOTTOM, PLANTED, TAU = "top_vs_bottom_sslmem", "planted_vs_typical", "kendall_tau_sslmem_unitmem"


def point_unitmem(units: pd.DataFrame, point_ids) -> pd.Series:
    """Per point of `point_ids`: the highest UnitMem among the units (rows of one encoder's layer) whose argmax
    it is; 0 for a point that is no unit's argmax. Units without UnitMem (NaN) single out no point."""
    defined = units.dropna(subset=["unitmem"])
    best = defined.groupby("argmax_point_id")["unitmem"].max()
    return best.reindex(pd.Index(point_ids, name="point_id"), fill_value=0.0).astype(float)


def ranking_scores(pair_m: pd.DataFrame, seed) -> tuple[pd.Series, str]:
    """The score pair `seed`'s groups are drawn by (index point_id): the mean m of the other pairs (columns of
    `pair_m`, one per seed), or the pair's own m when it is the only one."""
    others = [column for column in pair_m.columns if column != seed]
    if others:
        return pair_m[others].mean(axis=1), "other_pairs"
    return pair_m[seed], "same_pair"


def extremes(score: pd.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The point ids of the n highest and the n lowest scores (ties by point id, so the draw is reproducible)."""
    ordered = score.sort_index().sort_values(ascending=False, kind="stable")
    if 2 * n > len(ordered):
        raise ValueError(f"atypical.n = {n}: the {n} highest and {n} lowest of {len(ordered)} points overlap")
    return ordered.index[:n].to_numpy(), ordered.index[-n:].to_numpy()


def _test_row(keys, comparison, ranking, measure, layer_index, layer, per_seed, alpha, n_high, n_low) -> dict:
    """One row from per-seed values {seed: (high, low)} (or {seed: (τ, NaN)} for the τ rows)."""
    seeds = sorted(per_seed)
    high = pd.Series({s: per_seed[s][0] for s in seeds}, dtype=float)
    low = pd.Series({s: per_seed[s][1] for s in seeds}, dtype=float)
    tau = comparison == TAU
    test = pair_level_test(high, alternative="larger") if tau else pair_level_test(high, low, alternative="larger")
    return {**dict(zip(SETUP_KEYS, keys)), "comparison": comparison, "ranking": ranking, "measure": measure,
            "layer_index": layer_index, "layer": layer, "n_high": n_high, "n_low": n_low, "n_seeds": test.n_pairs,
            "mean_high": float(high.mean()), "mean_low": np.nan if tau else float(low.mean()),
            "statistic": "mean kendall tau" if tau else "mean over seeds of (high - low)", "effect": test.effect,
            "t_stat": test.t, "p_value": test.p_value, "seeds_holding": test.pairs_holding,
            "direction": ("tau > 0" if test.effect > 0 else "tau <= 0") if tau else (
                "high > low" if test.effect > 0 else "high <= low"), "alpha": alpha,
            "holds": bool(test.p_value < alpha) if np.isfinite(test.p_value) else False, "note": test.note}


def _layers(frame: pd.DataFrame) -> list[tuple[int, str]]:
    """(layer_index, layer) of a per-layer score or unit frame, in order (a ViT's unit layers, its MLPs, are not
    its score layers, its blocks)."""
    names = frame[["layer_index", "layer"]].drop_duplicates().sort_values("layer_index")
    return [(int(i), str(name)) for i, name in names.itertuples(index=False)]


def _pair_means(frame: pd.DataFrame, seed, high, low) -> tuple[float, float]:
    own = frame[frame["seed"] == seed].set_index("point_id")["m"]
    return float(own.reindex(high).mean()), float(own.reindex(low).mean())


def compare_groups(keys, scores, layer_scores, units, n: int, alpha: float, planted: bool = False) -> list[dict]:
    """The rows of one (dataset, setup): per layer, LayerMem and UnitMem of the high vs the low group per seed,
    tested over seeds; for top/bottom also the encoder-level score and Kendall's τ per layer."""
    candidates = scores[(scores["estimate"] == "pair") & (scores["subset"] == "S_C")]
    # A foreign and a native candidate may share a point id; a unit's argmax (an id) cannot tell them apart.
    sources = candidates.groupby("point_id")["source"].nunique()
    candidates = candidates[candidates["point_id"].isin(sources.index[sources == 1])]
    pair_m = candidates.pivot_table(index="point_id", columns="seed", values="m")
    layer_pairs = layer_scores[(layer_scores["estimate"] == "pair") & (layer_scores["subset"] == "S_C")]
    seeds = [seed for seed in pair_m.columns if not units[units["seed"] == seed].empty]
    groups, ranking, scores_by_seed = {}, "planted_split", {}
    for seed in seeds:
        if planted:
            sources = candidates.drop_duplicates("point_id").set_index("point_id")["source"]
            foreign = sources.map(is_foreign)
            groups[seed] = (foreign.index[foreign].to_numpy(), foreign.index[~foreign].to_numpy())
        else:
            scores_by_seed[seed], ranking = ranking_scores(pair_m, seed)
            groups[seed] = extremes(scores_by_seed[seed], n)
    comparison = PLANTED if planted else TOP_VS_BOTTOM
    n_high, n_low = (len(groups[seeds[0]][0]), len(groups[seeds[0]][1])) if seeds else (0, 0)
    row = lambda *args: _test_row(keys, comparison, ranking, *args, alpha, n_high, n_low)  # noqa: E731
    rows = [row("sslmem", -1, "representation",
                {s: _pair_means(candidates, s, *groups[s]) for s in seeds})]
    for layer_index, layer in _layers(layer_pairs):
        in_layer = layer_pairs[layer_pairs["layer"] == layer]
        rows.append(row("layermem", layer_index, layer, {s: _pair_means(in_layer, s, *groups[s]) for s in seeds}))
    for layer_index, layer in _layers(units):
        per_point = {s: point_unitmem(units[(units["seed"] == s) & (units["layer"] == layer)], pair_m.index)
                     for s in seeds}
        rows.append(row("unitmem", layer_index, layer, {s: (float(per_point[s].reindex(groups[s][0]).mean()),
                                                            float(per_point[s].reindex(groups[s][1]).mean()))
                                                        for s in seeds}))
        if not planted:
            taus = {s: (_tau(scores_by_seed[s], per_point[s]), np.nan) for s in seeds}
            rows.append(_test_row(keys, TAU, ranking, "unitmem", layer_index, layer, taus, alpha,
                                  len(pair_m), 0))
    return rows


def _tau(score: pd.Series, unitmem: pd.Series) -> float:
    from sslmem.stats import kendall_tau

    joined = pd.concat([score, unitmem], axis=1, keys=["score", "unitmem"]).dropna()
    if joined["unitmem"].nunique() < 2:
        return np.nan  # every point the same UnitMem (e.g. 0): no ranking to correlate
    return kendall_tau(joined["score"], joined["unitmem"]).tau


def _f_units(unit_paths) -> pd.DataFrame:
    paths = [unit_paths] if isinstance(unit_paths, str) else list(unit_paths)
    if not paths:
        return pd.DataFrame(columns=["dataset", "setup", "seed", "role", "layer", "unitmem", "argmax_point_id"])
    units = read_units(paths)
    if (units["subset"] != "S_C").any():
        raise ValueError("UnitMem was measured over another subset than S_C (measure.unitmem.subset); the "
                         "atypical comparison ranks the candidates S_C")
    return units[units["role"] == "f"]


def _rows_of(score_paths, layer_score_paths, unit_paths, n, alpha, planted) -> list[dict]:
    paths = [score_paths] if isinstance(score_paths, str) else list(score_paths)
    if not paths:
        return []
    scores, layer_scores = read_scores(paths), read_layer_scores(layer_score_paths)
    units = _f_units(unit_paths)
    rows = []
    for keys, group in scores.groupby(list(SETUP_KEYS), sort=True):
        dataset, setup = keys[0], keys[1]
        own = lambda frame: frame[(frame["dataset"] == dataset) & (frame["setup"] == setup)]  # noqa: E731
        rows += compare_groups(keys, group, own(layer_scores), own(units), n, alpha, planted=planted)
    return rows


def atypical_table(score_paths, layer_score_paths, unit_paths, planted_score_paths, planted_layer_score_paths,
                   planted_unit_paths, out, n: int = 10, alpha: float = 0.01) -> pd.DataFrame:
    """Write the top-vs-bottom rows of every setup's score files and the planted-vs-typical rows of the planted
    study's (none when its inputs are empty) to `out`."""
    rows = _rows_of(score_paths, layer_score_paths, unit_paths, n, alpha, planted=False)
    rows += _rows_of(planted_score_paths, planted_layer_score_paths, planted_unit_paths, n, alpha, planted=True)
    table = pd.DataFrame(rows, columns=ATYPICAL_COLUMNS)
    atomic_to_csv(table, out)
    return table


def atypical_figure(score_paths, unit_paths, out) -> None:
    """Fig. 1b: per dataset and setup, every candidate's SSLMem (the ranking score of each pair: the other pairs'
    mean m, or its own with one pair) against its UnitMem in the last layer of that pair's f encoder, one colour per
    seed, with Kendall's τ per seed in the legend."""
    from matplotlib.figure import Figure

    from sslmem.report.figures import save_figure

    scores, units = read_scores(score_paths), _f_units(unit_paths)
    panels = list(scores.groupby(["dataset", "setup"], sort=True))
    figure = Figure(figsize=(4 * max(1, len(panels)), 3.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, max(1, len(panels))))
    for axis, ((dataset, setup), group) in zip(axes, panels):
        candidates = group[(group["estimate"] == "pair") & (group["subset"] == "S_C")]
        pair_m = candidates.pivot_table(index="point_id", columns="seed", values="m")
        own = units[(units["dataset"] == dataset) & (units["setup"] == setup)]
        if own.empty:
            continue
        last = own.loc[own["layer_index"] == own["layer_index"].max(), "layer"].iloc[0]
        for seed in [s for s in pair_m.columns if not own[own["seed"] == s].empty]:
            score, _ = ranking_scores(pair_m, seed)
            unitmem = point_unitmem(own[(own["seed"] == seed) & (own["layer"] == last)], pair_m.index)
            axis.scatter(score, unitmem, s=10, alpha=0.6, label=f"seed {seed}: τ = {_tau(score, unitmem):.2f}")
        axis.set(title=f"{dataset} {setup}", xlabel="SSLMem (ranking score)", ylabel=f"UnitMem of the point ({last})")
        axis.legend(fontsize=7)
    save_figure(figure, out)
