"""Supervised label memorisation beside SSLMem: Table 12 and Fig. 8 of the SSLMem paper (App. B.3).

The same supervised f/g encoders are scored twice: by Feldman & Zhang's label memorisation (the true label's
softmax probability under f minus under g, with the classifier head; ``results/feldman/<dataset>/<setup>.parquet``,
written by ``sslmem feldman``) and by SSLMem (the encoder without its head; ``results/scores/...``). Table 12 asks
whether the two rank the candidates S_C alike: the overlap of their top-k sets and Kendall's tau; Fig. 8 shows the
ten most memorised candidates by each. Both scores come from the same f/g pair(s), so they share whatever
differs between f and g for reasons other than the training points; the control S_E (points neither encoder
trained on) shows how much the two agree without any memorisation.

Kendall's p-values over the candidates treat them as independent, yet all of them are scored by the same few
pairs. Table 12 therefore also measures the agreement pair by pair (Kendall's tau between the two scores of one
pair, from the "pair" rows of both files) and tests it over the pairs: the unit of the test is the training run.
No mixed model here: the claim is a rank correlation per pair, not a difference of means.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sslmem.artifacts import ESTIMATES, FELDMAN_COLUMNS, ordered
from sslmem.io import atomic_to_csv
from sslmem.report.figures import save_figure
from sslmem.report.images import class_name, gallery_images
from sslmem.report.readers import load_paper_values, matches_paper_row, read_scores, setup_text
from sslmem.stats import kendall_tau
from sslmem.pair_stats import claim_over_pairs, pair_level_test

CANDIDATES = "S_C"
CONTROL = "S_E"  # trained on by neither f nor g: agreement there is not memorisation
POINT = ["source", "point_id"]  # a point of the split: its id within its source split

TABLE12_COLUMNS = [
    "dataset", "setup", "method", "arch", "epochs", "representation", "n_pairs", "n_candidates", "k",
    "overlap", "overlap_percent", "chance_overlap_percent", "kendall_tau_top_k", "p_value_top_k",
    "kendall_tau_all", "p_value_all", "mean_feldman", "n_control", "kendall_tau_S_E", "p_value_S_E",
    "mean_feldman_S_E", "paper_overlap_percent", "paper_tau", "paper_p_value", "paper_setup",
    # The agreement with the f/g pair as the unit (pair_agreement): per-pair Kendall's tau over S_C and S_E, t-tests
    # over the pairs, and the claim (the scores agree on the candidates) resting on them.
    "alpha", "n_pairs_tested", "pair_tau", "pair_t", "pair_p", "pairs_holding", "pair_tau_S_E", "pair_p_vs_S_E",
    "pairs_holding_vs_S_E", "pair_note", "claim_test", "claim_holds",
]


def read_feldman(feldman_paths) -> pd.DataFrame:
    """The Feldman files (FELDMAN_COLUMNS, checked by name), one setup per file, in the order given."""
    paths = [Path(feldman_paths)] if isinstance(feldman_paths, (str, Path)) else [Path(p) for p in feldman_paths]
    if not paths:
        raise ValueError("no Feldman score files given (results/feldman/<dataset>/<setup>.parquet): list the "
                         "supervised setups to compare in params.yaml report.table12.setups")
    frames = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"Feldman score file {path} does not exist (written by `sslmem feldman`)")
        frame = ordered(pd.read_parquet(path), FELDMAN_COLUMNS, f"Feldman score file {path}")
        bad = sorted(set(frame["estimate"]) - set(ESTIMATES))
        if bad or frame["feldman"].isna().any() or frame[["dataset", "setup"]].drop_duplicates().shape[0] != 1:
            raise ValueError(f"{path}: expected one setup's rows with estimate in {list(ESTIMATES)} and no NaN "
                             f"score (unknown estimates: {bad})")
        frames.append(frame.assign(source_file=str(path)))
    return pd.concat(frames, ignore_index=True)


def candidate_scores(feldman: pd.DataFrame, scores: pd.DataFrame, subset: str = CANDIDATES) -> pd.DataFrame:
    """One setup's points of `subset` with both ensemble scores, `feldman` and SSLMem's `m`, matched by point."""
    dataset, setup = feldman["dataset"].iat[0], feldman["setup"].iat[0]
    ours = feldman[(feldman["estimate"] == "ensemble") & (feldman["subset"] == subset)]
    sslmem = scores[(scores["dataset"] == dataset) & (scores["setup"] == setup) & (scores["estimate"] == "ensemble")
                    & (scores["subset"] == subset)]
    if sslmem.empty or ours.empty:
        raise ValueError(f"{setup!r} on {dataset!r}: no {subset} points in its SSLMem scores "
                         f"(results/scores/{dataset}/{setup}.parquet: {len(sslmem)}) or in its Feldman file "
                         f"({feldman['source_file'].iat[0]}: {len(ours)}); give both files of the same encoders")
    both = ours[[*POINT, "label", "feldman"]].merge(sslmem[[*POINT, "m", "representation"]], on=POINT, how="outer",
                                                    indicator=True)
    if (both["_merge"] != "both").any():
        raise ValueError(f"{setup!r} on {dataset!r}: Feldman's file ({feldman['source_file'].iat[0]}) and the SSLMem "
                         f"file ({sslmem['source_file'].iat[0]}) score different {subset} points; rebuild both from "
                         "one split")
    return both.drop(columns="_merge").sort_values(POINT, kind="stable").reset_index(drop=True)


def top_points(candidates: pd.DataFrame, column: str, k: int) -> pd.DataFrame:
    """The k candidates with the highest `column`, highest first; ties go to the lower (source, point_id)."""
    return candidates.sort_values([column, *POINT], ascending=[False, True, True], kind="stable").head(k)


def _point_keys(frame: pd.DataFrame) -> set:
    return set(zip(frame["source"], frame["point_id"]))


def overlap_row(candidates: pd.DataFrame, k: int) -> dict:
    """The top-k comparison: shared points of the two top-k sets (and what two random sets share on average,
    k/n of them), and Kendall's tau-b between the two scores over SSLMem's top k (our reading of the paper's
    "within the first k samples", which it does not define further). Not over the union of the two top-k sets:
    a point is in the union because one score is high, which makes the two scores anti-correlated there
    (Berkson's bias) even when they agree over all candidates."""
    n = len(candidates)
    by_feldman, by_sslmem = top_points(candidates, "feldman", k), top_points(candidates, "m", k)
    shared = _point_keys(by_feldman) & _point_keys(by_sslmem)
    within = kendall_tau(by_sslmem["feldman"].to_numpy(), by_sslmem["m"].to_numpy())
    return {"k": k, "overlap": len(shared), "overlap_percent": 100.0 * len(shared) / k,
            "chance_overlap_percent": 100.0 * k / n, "kendall_tau_top_k": within.tau, "p_value_top_k": within.p_value}


def _paper_columns(paper: Mapping, k: int, matches: bool) -> dict:
    row = next((row for row in paper["rows"] if row["k"] == k), {}) if matches else {}
    return {"paper_overlap_percent": row.get("overlap_percent", np.nan), "paper_tau": row.get("tau", np.nan),
            "paper_p_value": row.get("p_value", np.nan), "paper_setup": setup_text(paper["setup"]) if row else ""}


def pair_scores(feldman: pd.DataFrame, scores: pd.DataFrame, subset: str) -> pd.DataFrame:
    """One setup's points of `subset` with both scores of each f/g pair (the "pair" rows, seed s): columns seed,
    source, point_id, feldman, m; only the seeds both files have."""
    dataset, setup = feldman["dataset"].iat[0], feldman["setup"].iat[0]
    ours = feldman[(feldman["estimate"] == "pair") & (feldman["subset"] == subset)]
    sslmem = scores[(scores["dataset"] == dataset) & (scores["setup"] == setup) & (scores["estimate"] == "pair")
                    & (scores["subset"] == subset)]
    seeds = set(ours["seed"]) & set(sslmem["seed"])
    keys = ["seed", *POINT]
    both = ours.loc[ours["seed"].isin(seeds), [*keys, "feldman"]].merge(
        sslmem.loc[sslmem["seed"].isin(seeds), [*keys, "m"]], on=keys, how="outer", indicator=True)
    if (both["_merge"] != "both").any():
        raise ValueError(f"{setup!r} on {dataset!r}: the pair rows of Feldman's file ({feldman['source_file'].iat[0]}) "
                         f"and of the SSLMem file score different {subset} points; rebuild both from one split")
    return both.drop(columns="_merge")


def _tau_by_pair(rows: pd.DataFrame) -> dict:
    """Seed → Kendall's tau-b between the two scores over that pair's points (pairs with fewer than 2 points or
    a constant score, where tau is undefined, left out)."""
    taus = {}
    for seed, group in rows.groupby("seed", sort=True):
        if len(group) >= 2:
            tau = kendall_tau(group["feldman"].to_numpy(), group["m"].to_numpy()).tau
            if np.isfinite(tau):
                taus[int(seed)] = tau
    return taus


def pair_agreement(feldman: pd.DataFrame, scores: pd.DataFrame, alpha: float) -> dict:
    """The agreement of the two scores with the f/g pair as the unit: per pair s, tau_s(S_C) and tau_s(S_E) (Kendall's
    tau-b between Feldman's and SSLMem's scores of that pair over the subset).

    * ``n_pairs_tested``: pairs with a tau over S_C; ``pair_tau`` the mean of tau_s(S_C); ``pair_t``/``pair_p`` the
      one-sided t-test over pairs of H0: mean tau_s(S_C) <= 0; ``pairs_holding``: pairs with tau_s(S_C) > 0.
    * ``pair_tau_S_E``: the mean of tau_s(S_E), the control; ``pair_p_vs_S_E`` the one-sided paired t-test over
      pairs of H0: tau_s(S_C) <= tau_s(S_E) (agreement beyond what the encoders give without memorisation);
      ``pairs_holding_vs_S_E``: pairs with tau_s(S_C) > tau_s(S_E).
    * ``pair_note``: why pair_p is missing (fewer than 2 pairs, no spread); ``claim_holds``: pair_p < `alpha`
      (``claim_test`` "pair t", or "none" when there is no pair-level p: then False).
    """
    candidates = _tau_by_pair(pair_scores(feldman, scores, CANDIDATES))
    control = _tau_by_pair(pair_scores(feldman, scores, CONTROL))
    agreement = pair_level_test(candidates, alternative="larger")
    beyond = pair_level_test(candidates, control, alternative="larger")
    holds, test = claim_over_pairs(np.nan, agreement.p_value, alpha)
    return {"alpha": alpha, "n_pairs_tested": agreement.n_pairs, "pair_tau": agreement.effect, "pair_t": agreement.t,
            "pair_p": agreement.p_value, "pairs_holding": agreement.pairs_holding,
            "pair_tau_S_E": float(np.mean(list(control.values()))) if control else np.nan,
            "pair_p_vs_S_E": beyond.p_value, "pairs_holding_vs_S_E": beyond.pairs_holding,
            "pair_note": agreement.note, "claim_test": test, "claim_holds": holds}


def table12(feldman_paths, score_paths, out, top_k: Sequence[int], identities: Mapping[str, Mapping] | None = None,
            paper_values_path=None, alpha: float = 0.01) -> pd.DataFrame:
    """Table 12: per supervised setup (in the order of `feldman_paths`) and k of `top_k`, how far Feldman's
    score and SSLMem agree on the candidates S_C (ensemble scores of both; see :func:`overlap_row`), with
    Kendall's tau-b over all of S_C (``kendall_tau_all``) and, the control, over S_E (``kendall_tau_S_E``: points
    neither encoder trained on, so agreement there comes from the encoders, not from memorisation); these and
    the mean scores are the same on every row of a setup.

    Only k ≤ |S_C| make rows (a top-k of fewer points is no top-k); at k = |S_C| both sets are all of S_C, so
    the overlap is 100 % by construction (as ``chance_overlap_percent`` says). The paper's values stand beside the
    rows of its own run only (supervised ResNet50 on CIFAR10, 100 epochs, encoder output; `identities` as in
    :func:`sslmem.report.summaries.table1`); elsewhere the paper columns are empty.

    Those p-values treat the candidates as independent; the pair-level columns (:func:`pair_agreement`, the same on
    every row of a setup) test the agreement over the f/g pairs instead, and ``claim_holds`` rests on them.
    """
    feldman = read_feldman(feldman_paths)
    scores = read_scores(score_paths, require_estimate="ensemble")
    paper = load_paper_values(paper_values_path)["table12"]
    identities = identities or {}
    rows = []
    for _, setup_rows in feldman.groupby(["dataset", "setup"], sort=False):
        candidates = candidate_scores(setup_rows, scores)
        first = setup_rows.iloc[0]
        identity = identities.get(first["setup"])
        representation = candidates["representation"].iat[0]
        n = len(candidates)
        left_out = [k for k in top_k if k > n]
        if left_out:
            print(f"table12: {first['dataset']}/{first['setup']}: k = {left_out} left out, S_C has {n} points")
        overall = kendall_tau(candidates["feldman"].to_numpy(), candidates["m"].to_numpy())
        control = candidate_scores(setup_rows, scores, CONTROL)
        control_tau = kendall_tau(control["feldman"].to_numpy(), control["m"].to_numpy())
        matches = matches_paper_row(paper["setup"], first["dataset"], identity, representation)
        common = {
            "dataset": first["dataset"], "setup": first["setup"], "method": first["method"], "arch": first["arch"],
            "epochs": identity["epochs"] if identity else np.nan, "representation": representation,
            "n_pairs": int(setup_rows.loc[setup_rows["estimate"] == "pair", "seed"].nunique()), "n_candidates": n,
            "kendall_tau_all": overall.tau, "p_value_all": overall.p_value,
            "mean_feldman": float(candidates["feldman"].mean()), "n_control": len(control),
            "kendall_tau_S_E": control_tau.tau, "p_value_S_E": control_tau.p_value,
            "mean_feldman_S_E": float(control["feldman"].mean()),
            **pair_agreement(setup_rows, scores, alpha),
        }
        rows += [{**common, **overlap_row(candidates, k), **_paper_columns(paper, k, matches)}
                 for k in top_k if k <= n]
    table = pd.DataFrame(rows, columns=TABLE12_COLUMNS)
    table = table.astype({"n_pairs_tested": "Int64", "pairs_holding": "Int64", "pairs_holding_vs_S_E": "Int64"})
    atomic_to_csv(table, out)
    return table


# ----------------------------------------------------------------------------------------------------------
# Fig. 8: the most memorised candidates by each score
# ----------------------------------------------------------------------------------------------------------

GALLERY_COLUMNS = 5
THUMBNAIL = 1.15  # inches per image, its two caption lines included
SHARED_COLOUR = "tab:red"  # frame of a point in both galleries


def _draw_gallery(panel, dataset: str, ranked: pd.DataFrame, images, shared: set, title: str) -> None:
    columns = min(GALLERY_COLUMNS, len(ranked))
    axes = panel.subplots(math.ceil(len(ranked) / columns), columns, squeeze=False).ravel()
    for rank, (ax, point, image) in enumerate(zip(axes, ranked.itertuples(index=False), images), start=1):
        ax.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{rank}. {class_name(dataset, int(point.label))}\nF {point.feldman:+.3f}  m {point.m:+.3f}",
                     fontsize=6.5)
        if (point.source, point.point_id) in shared:
            for spine in ax.spines.values():
                spine.set_edgecolor(SHARED_COLOUR)
                spine.set_linewidth(2.5)
    for unused in axes[len(ranked):]:
        unused.set_visible(False)
    panel.suptitle(title, fontsize=8)


def fig8(feldman_paths, score_paths, out, data: Mapping, gallery_size: int = 10) -> None:
    """Fig. 8: per supervised setup, the `gallery_size` candidates with the highest Feldman score (left) and the
    highest SSLMem m (right), each image with its rank, class, Feldman score F and SSLMem m; a red frame marks a
    point in both galleries. `data`: params.yaml's `data` settings (where the images are)."""
    feldman = read_feldman(feldman_paths)
    scores = read_scores(score_paths, require_estimate="ensemble")
    setups = list(feldman.groupby(["dataset", "setup"], sort=False))
    rows = math.ceil(gallery_size / GALLERY_COLUMNS)
    figure = Figure(figsize=(2 * GALLERY_COLUMNS * THUMBNAIL + 0.4, len(setups) * (rows * THUMBNAIL + 0.6)),
                    dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    for row_figure, ((dataset, setup), setup_rows) in zip(np.atleast_1d(figure.subfigures(len(setups), 1)), setups):
        candidates = candidate_scores(setup_rows, scores)
        galleries = [top_points(candidates, column, gallery_size) for column in ("feldman", "m")]
        shared = _point_keys(galleries[0]) & _point_keys(galleries[1])
        row_figure.suptitle(f"{dataset} / {setup}: top {gallery_size} of {len(candidates)} candidates, "
                            f"{len(shared)} in both (red frame)", fontsize=9, fontweight="bold")
        titles = ("Feldman & Zhang: P_f(y|x) − P_g(y|x)", "SSLMem m (encoder without its head)")
        images = gallery_images(data, dataset, pd.concat(galleries))  # the split is read once for both
        for panel, ranked, part, title in zip(row_figure.subfigures(1, 2), galleries,
                                              (images[:len(galleries[0])], images[len(galleries[0]):]), titles):
            _draw_gallery(panel, dataset, ranked, part, shared, title)
    save_figure(figure, out)
