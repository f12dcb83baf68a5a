"""Tables 1, 2 and 16 and the per-subset summary, built from the tidy score and probe files.

Inputs (formats fixed by the score and probe stages):

* per-point scores, one Parquet per (dataset, setup): ``results/scores/{dataset}/{setup}.parquet``
  with the columns of :data:`SCORE_COLUMNS`; ``estimate`` is "ensemble" (m averaged over all f and g
  encoders, seed −1) or "pair" (one (f_s, g_s) pair, seed s).
* linear-probe results, one CSV per encoder: ``results/probe/{dataset}/{setup}/{role}{seed}.csv``
  with the columns of :data:`PROBE_COLUMNS`, top1 a fraction in [0, 1].

Every table is written atomically (temporary file in the target folder, then ``os.replace``) so a killed
job never leaves a half-written CSV that looks finished. The paper's numbers (paper_values.yaml) are put
beside ours for comparison and never used as results.

Example::

    from sslmem.report.tables import table2
    table2(["results/scores/fashion_mnist/simclr-resnet18.parquet"], "results/table2.csv", alpha=0.01)
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import yaml

from sslmem.stats import (
    SUBSETS,
    kendall_tau,
    TABLE2_HYPOTHESES,
    TABLE16_HYPOTHESES,
    Hypothesis,
    bootstrap_ci,
    evaluate_hypothesis,
    mean_std,
)

PAPER_VALUES_PATH = Path(__file__).resolve().with_name("paper_values.yaml")

SCORE_COLUMNS = (
    "dataset", "setup", "method", "arch", "estimate", "seed", "point_id", "source", "subset", "label",
    "align_f", "align_g", "m_raw", "m",
)
PROBE_COLUMNS = ("dataset", "setup", "method", "arch", "seed", "role", "train_size", "test_size", "top1")
ESTIMATES = ("ensemble", "pair")
# A setup is named (experiment.setups[].name, default <method>-<arch>); method and arch ride along for reading.
SETUP_KEYS = ["dataset", "setup", "method", "arch"]

# Our dataset names that the paper calls differently (the paper's ImageNet is our image_folder dataset).
PAPER_DATASET_NAMES = {"image_folder": "imagenet"}

TABLE_CAPTIONS = {
    "table1": (
        "SSLMem (mean normalised score m over the candidates S_C; mean ± std over f/g pairs and the "
        "all-encoder ensemble) and linear-probe top-1 accuracy (%) of the f encoders per dataset, method and "
        "architecture, beside the paper's Table 1 where it has that setup."
    ),
    "table2": (
        "One-sided Welch t-tests between the subsets' ensemble scores (H0 as in the paper's Table 2), with "
        "Cohen's d and the mean score of S_S (the global offset); the paper's values for MAE ViT-tiny CIFAR10 "
        "stand beside each row, and its 'effect size' compares with our t statistic."
    ),
    "table16": (
        "t-tests of the subsets' ensemble scores against 0 and of S_C against S_E (H0 as in the paper's "
        "Table 16), with Cohen's d and the S_S offset; the paper's values for MAE ViT-tiny CIFAR10 stand "
        "beside each row."
    ),
    "table15": (
        "SSLMem and linear-probe accuracy of the ResNet-family backbones with each encoder's parameter count "
        "(heads excluded), beside the paper's Table 15 (SimCLR on CIFAR10) where it has that setup."
    ),
    "table11": (
        "SSLMem and linear-probe accuracy of encoders trained with labels (cross-entropy, classifier head removed) "
        "beside SSL encoders, per training length; SSLMem is the mean m over S_C (mean ± std over f/g pairs), "
        "accuracy the top-1 (%), with the paper's Table 11 (ResNet50, CIFAR10) where the setup matches."
    ),
    "table13": (
        "Kendall's tau-b (and its two-sided p-value) between the rankings of the candidates S_C by their "
        "ensemble score m under each pair of setups trained on the same dataset, beside the paper's Table 13 "
        "(CIFAR10) where both setups match its rows."
    ),
    "layermem": (
        "LayerMem: SSLMem measured on the output of each layer of the encoder (same f/g encoders, views and "
        "range normalisation per layer), mean m over the candidates S_C (ensemble; mean ± std over f/g pairs), "
        "and its increase over the previous layer (ΔLayerMem), per dataset and setup."
    ),
    "unitmem": (
        "UnitMem of the units of each layer of the f encoders (per-point mean activation over augmented views; "
        "how much the most activating point stands out from the others), summarised over units, with the mean "
        "SSLMem of the points that units single out beside the mean over all points of that subset."
    ),
    "subset_summary": (
        "Per dataset, setup, estimate and subset: number of points, mean and std of m with a bootstrap 95% "
        "interval of the mean, and mean alignment loss on f and g (what Fig. 2c summarises)."
    ),
}


# ----------------------------------------------------------------------------------------------------------
# Reading and writing
# ----------------------------------------------------------------------------------------------------------


def _as_path_list(paths: Iterable, what: str) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    path_list = [Path(p) for p in paths]
    if not path_list:
        raise ValueError(f"no {what} files given")
    return path_list


def _check_columns(frame: pd.DataFrame, path: Path, expected: Sequence[str], what: str) -> None:
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: {what} is missing column(s) {missing}; expected columns {list(expected)}, "
            f"found {list(frame.columns)}"
        )


def read_scores(score_paths: Iterable, require_estimate: str | None = None) -> pd.DataFrame:
    """Read and validate per-point score Parquet files into one frame.

    Adds a column ``source_file`` (the path each row came from) so later errors can name the file.

    Args:
        score_paths: one or more ``results/scores/{dataset}/{setup}.parquet`` paths.
        require_estimate: if given ("ensemble" or "pair"), every file must hold rows of that estimate.

    Raises:
        FileNotFoundError: a path does not exist (the message names it).
        ValueError: a file lacks a column, holds no rows, has unknown subset/estimate values, or a
            (dataset, setup) appears in more than one file.
    """
    frames = []
    setup_files: dict[tuple, Path] = {}
    for path in _as_path_list(score_paths, "score"):
        if not path.is_file():
            raise FileNotFoundError(
                f"score file {path} does not exist; expected a per-point score Parquet "
                f"(results/scores/{{dataset}}/{{setup}}.parquet) with columns {list(SCORE_COLUMNS)}"
            )
        frame = pd.read_parquet(path)
        _check_columns(frame, path, SCORE_COLUMNS, "score file")
        if frame.empty:
            raise ValueError(f"{path}: score file has no rows")
        bad_subsets = sorted(set(frame["subset"]) - set(SUBSETS))
        if bad_subsets:
            raise ValueError(f"{path}: unknown subset value(s) {bad_subsets}; expected {list(SUBSETS)}")
        bad_estimates = sorted(set(frame["estimate"]) - set(ESTIMATES))
        if bad_estimates:
            raise ValueError(f"{path}: unknown estimate value(s) {bad_estimates}; expected {list(ESTIMATES)}")
        if require_estimate is not None and not (frame["estimate"] == require_estimate).any():
            raise ValueError(
                f"{path}: no rows with estimate == {require_estimate!r} (found {sorted(set(frame['estimate']))})"
            )
        if frame[["m", "align_f", "align_g"]].isna().any().any():
            raise ValueError(f"{path}: NaN values in m/align_f/align_g; the score stage must not write them")
        for setup in frame[SETUP_KEYS].drop_duplicates().itertuples(index=False):
            setup = tuple(setup)
            if setup in setup_files:
                raise ValueError(
                    f"setup {setup} appears in both {setup_files[setup]} and {path}; pass each score file once"
                )
            setup_files[setup] = path
        frame = frame.assign(source_file=str(path))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def read_probes(probe_paths: Iterable) -> pd.DataFrame:
    """Read and validate linear-probe CSVs (one row per encoder) into one frame.

    Raises FileNotFoundError naming a missing file, ValueError for a missing column, a role other than
    f/g, a top1 outside [0, 1] (it must be a fraction, not percent) or the same encoder given twice.
    """
    frames = []
    for path in _as_path_list(probe_paths, "probe"):
        if not path.is_file():
            raise FileNotFoundError(
                f"probe file {path} does not exist; expected a linear-probe CSV "
                "(results/probe/{dataset}/{setup}/{role}{seed}.csv) "
                f"with columns {list(PROBE_COLUMNS)}"
            )
        frame = pd.read_csv(path)
        _check_columns(frame, path, PROBE_COLUMNS, "probe file")
        if frame.empty:
            raise ValueError(f"{path}: probe file has no rows")
        bad_roles = sorted(set(frame["role"].astype(str)) - {"f", "g"})
        if bad_roles:
            raise ValueError(f"{path}: unknown role value(s) {bad_roles}; expected 'f' or 'g'")
        top1 = frame["top1"].astype(float)
        if ((top1 < 0) | (top1 > 1)).any() or top1.isna().any():
            raise ValueError(f"{path}: top1 must be an accuracy in [0, 1], found {top1.tolist()}")
        frames.append(frame.assign(source_file=str(path)))
    probes = pd.concat(frames, ignore_index=True)
    encoder_keys = SETUP_KEYS + ["seed", "role"]
    duplicated = probes[probes.duplicated(encoder_keys, keep=False)]
    if not duplicated.empty:
        raise ValueError(
            "the same encoder has more than one probe result: "
            + "; ".join(sorted(set(duplicated["source_file"])))
        )
    return probes


def temporary_sibling(out_path: Path) -> Path:
    """A fresh temporary path in the folder of `out_path` (same filesystem, so os.replace is atomic).

    Opened with plain ``open`` by the caller, so the final file gets the usual umask permissions (a
    ``tempfile`` file would stay private, mode 0600, after the rename)."""
    return out_path.with_name(f".{out_path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def write_csv_atomic(frame: pd.DataFrame, out_csv) -> Path:
    """Write `frame` to `out_csv` (no index) through a temporary file in the same folder and os.replace,
    so readers never see a partial file. Missing folders are created. Returns the path."""
    out_path = Path(out_csv)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(out_path)
    try:
        with open(temporary, "w", newline="") as handle:
            frame.to_csv(handle, index=False)
        os.replace(temporary, out_path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return out_path


def load_paper_values(path=None) -> dict:
    """The paper's reference numbers (paper_values.yaml next to this module unless `path` is given)."""
    path = Path(path) if path is not None else PAPER_VALUES_PATH
    if not path.is_file():
        raise FileNotFoundError(f"paper values file {path} does not exist")
    return yaml.safe_load(path.read_text())


def _setup_text(setup: dict) -> str:
    return f"{setup['method']}-{setup['arch']} {setup['dataset']}"


def _paper_dataset(dataset: str) -> str:
    return PAPER_DATASET_NAMES.get(dataset, dataset)


def _matches_paper_setup(dataset: str, method: str, arch: str, setup: dict) -> bool:
    return (_paper_dataset(dataset), method, arch) == (setup["dataset"], setup["method"], setup["arch"])


def _is_paper_run(setup: str, method: str, arch: str, paper_setups: Iterable[str] | None) -> bool:
    """Whether a setup trains with its method's own recipe, i.e. can stand beside the paper's run: it is named in
    `paper_setups` (the CLI passes the setups without a `recipe` of their own), or, when that is not given,
    it carries the plain name <method>-<arch>."""
    return setup in paper_setups if paper_setups is not None else setup == f"{method}-{arch}"


# ----------------------------------------------------------------------------------------------------------
# Tables 2 and 16
# ----------------------------------------------------------------------------------------------------------

HYPOTHESIS_TABLE_COLUMNS = [
    "dataset", "setup", "method", "arch", "hypothesis", "n_1", "n_2", "mean_1", "mean_2", "t_statistic", "p_value",
    "cohens_d", "reject_h0", "alpha", "paper_p_value", "paper_effect_size", "paper_setup",
    # Beyond the fixed columns: the test's identity and the S_S offset the SPEC asks to report.
    "hypothesis_key", "test", "df", "offset_m_S_S", "estimate", "seed",
]


def _hypothesis_table(
    score_paths, out_csv, alpha: float, hypotheses: Sequence[Hypothesis], paper_table: dict, estimate: str
) -> pd.DataFrame:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must lie strictly between 0 and 1 (the paper uses 0.01)")
    if estimate not in ESTIMATES:
        raise ValueError(f"estimate={estimate!r}; use one of {ESTIMATES}")
    scores = read_scores(score_paths, require_estimate=estimate)
    scores = scores[scores["estimate"] == estimate]
    paper_rows = paper_table["rows"]
    rows = []
    for (dataset, setup, method, arch, seed), group in scores.groupby(SETUP_KEYS + ["seed"], sort=True):
        by_subset = {subset: part["m"].to_numpy() for subset, part in group.groupby("subset")}
        for hypothesis in hypotheses:
            missing = [s for s in hypothesis.subsets if s not in by_subset]
            if missing:
                raise ValueError(
                    f"{group['source_file'].iat[0]}: {hypothesis.label} needs subset(s) {missing}, which have "
                    f"no rows with estimate {estimate!r}, seed {seed}"
                )
            result = evaluate_hypothesis(hypothesis, by_subset)
            paper = paper_rows.get(hypothesis.key, {})
            rows.append({
                "dataset": dataset, "setup": setup, "method": method, "arch": arch, "hypothesis": hypothesis.label,
                **result,
                "reject_h0": bool(result["p_value"] < alpha), "alpha": alpha,
                "paper_p_value": paper.get("p_value", np.nan),
                "paper_effect_size": paper.get("effect_size", np.nan),
                "paper_setup": _setup_text(paper_table["setup"]),
                "hypothesis_key": hypothesis.key,
                "test": "one-sample t" if hypothesis.subset_2 is None else "Welch t",
                "offset_m_S_S": float(np.mean(by_subset["S_S"])) if "S_S" in by_subset else np.nan,
                "estimate": estimate, "seed": int(seed),
            })
    table = pd.DataFrame(rows, columns=HYPOTHESIS_TABLE_COLUMNS)
    # Nullable integers: one-sample rows have no n_2, and counts should not print as 5000.0.
    table = table.astype({"n_1": "Int64", "n_2": "Int64"})
    write_csv_atomic(table, out_csv)
    return table


def table2(score_paths, out_csv, alpha: float = 0.01, estimate: str = "ensemble",
           paper_values_path=None) -> pd.DataFrame:
    """Table 2: one-sided Welch t-tests between subsets, one row per (dataset, setup, hypothesis).

    Hypotheses are :data:`sslmem.stats.TABLE2_HYPOTHESES`; m of the `estimate` rows (default the ensemble
    over all f and g encoders). Columns: see :data:`HYPOTHESIS_TABLE_COLUMNS`; ``reject_h0`` is
    ``p_value < alpha``; ``offset_m_S_S`` is the mean m over S_S, the global offset of this estimate. The
    paper's p-value and effect size of the same hypothesis (MAE ViT-tiny CIFAR10) stand beside every row.
    Writes `out_csv` atomically and returns the table.
    """
    paper = load_paper_values(paper_values_path)["table2"]
    return _hypothesis_table(score_paths, out_csv, alpha, TABLE2_HYPOTHESES, paper, estimate)


def table16(score_paths, out_csv, alpha: float = 0.01, estimate: str = "ensemble",
            paper_values_path=None) -> pd.DataFrame:
    """Table 16: t-tests of subsets against 0 (and S_C against S_E), same shape as :func:`table2`.

    Hypotheses are :data:`sslmem.stats.TABLE16_HYPOTHESES`: one-sample tests (n_2 empty, mean_2 = 0) except
    the last row, a one-sided Welch test. "H0: 0 = m(S_S)" is two-sided; rejecting it means the estimate
    carries a global offset (see ``offset_m_S_S``).
    """
    paper = load_paper_values(paper_values_path)["table16"]
    return _hypothesis_table(score_paths, out_csv, alpha, TABLE16_HYPOTHESES, paper, estimate)


# ----------------------------------------------------------------------------------------------------------
# Table 1
# ----------------------------------------------------------------------------------------------------------

TABLE1_COLUMNS = [
    "dataset", "setup", "method", "arch", "n_seeds", "sslmem_mean", "sslmem_std", "sslmem_ensemble",
    "probe_top1_mean", "probe_top1_std", "paper_sslmem", "paper_sslmem_std", "paper_top1", "paper_top1_std",
    # Beyond the fixed columns: sizes, a bootstrap interval of the ensemble mean and the S_S offset.
    "seeds", "n_candidates", "sslmem_ensemble_ci_low", "sslmem_ensemble_ci_high", "offset_m_S_S",
    "n_probe_encoders",
]


def _sslmem_summary(group: pd.DataFrame, n_boot: int, seed: int, level: float) -> dict:
    """SSLMem numbers of one (dataset, setup) from its score rows."""
    candidates = group[group["subset"] == "S_C"]
    pairs = candidates[candidates["estimate"] == "pair"]
    per_seed = pairs.groupby("seed")["m"].mean().sort_index()
    sslmem_mean, sslmem_std = mean_std(per_seed.to_numpy())
    ensemble = candidates.loc[candidates["estimate"] == "ensemble", "m"].to_numpy()
    ci_low, ci_high = bootstrap_ci(ensemble, n_boot=n_boot, seed=seed, level=level)
    shared = group.loc[(group["estimate"] == "ensemble") & (group["subset"] == "S_S"), "m"]
    return {
        "n_seeds": int(per_seed.size),
        "sslmem_mean": sslmem_mean,
        "sslmem_std": sslmem_std,
        "sslmem_ensemble": float(ensemble.mean()) if ensemble.size else np.nan,
        "seeds": ";".join(str(int(s)) for s in per_seed.index),
        "n_candidates": int(candidates["point_id"].nunique()),
        "sslmem_ensemble_ci_low": ci_low,
        "sslmem_ensemble_ci_high": ci_high,
        "offset_m_S_S": float(shared.mean()) if len(shared) else np.nan,
    }


def table1(score_paths, probe_paths, out_csv, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
           paper_values_path=None, paper_setups: Iterable[str] | None = None) -> pd.DataFrame:
    """Table 1: SSLMem and linear-probe accuracy per (dataset, setup).

    * ``sslmem_mean``/``sslmem_std``: over seeds (ddof=1) of the per-seed SSLMem = mean m over S_C of that
      seed's "pair" rows; ``n_seeds`` counts them.
    * ``sslmem_ensemble``: mean m over S_C of the "ensemble" rows, with a percentile-bootstrap 95% interval
      over candidates (`n_boot` resamples, `seed`).
    * ``probe_top1_mean``/``probe_top1_std``: over the f encoders' probe top-1, in percent.
    * ``paper_*``: the paper's Table 1 where it has that (method, arch, dataset) — our image_folder is the
      paper's ImageNet — otherwise empty. Only setups named in `paper_setups` get them (default: those named
      <method>-<arch>); a setup with its own recipe (say 100 epochs) is not the paper's Table 1 run.

    Setups present only in the scores or only in the probes get empty cells for the other side.
    Writes `out_csv` atomically and returns the table.
    """
    scores = read_scores(score_paths)
    probes = read_probes(probe_paths) if probe_paths else None  # None or [] : no probe results yet
    paper_rows = load_paper_values(paper_values_path)["table1"]
    paper_index = {(r["dataset"], r["method"], r["arch"]): r for r in paper_rows}

    setups = set(map(tuple, scores[SETUP_KEYS].drop_duplicates().to_numpy()))
    if probes is not None:
        setups |= set(map(tuple, probes[SETUP_KEYS].drop_duplicates().to_numpy()))

    rows = []
    for dataset, setup, method, arch in sorted(setups):
        row = {"dataset": dataset, "setup": setup, "method": method, "arch": arch}
        group = scores[(scores["dataset"] == dataset) & (scores["setup"] == setup)]
        if len(group):
            row.update(_sslmem_summary(group, n_boot, seed, level))
        else:
            row.update(n_seeds=0)
        f_probes = pd.DataFrame()
        if probes is not None:
            f_probes = probes[(probes["dataset"] == dataset) & (probes["setup"] == setup) & (probes["role"] == "f")]
        # mean_std gives (NaN, NaN) when the setup has no probe results.
        top1_percent = 100.0 * f_probes["top1"].to_numpy(dtype=float) if len(f_probes) else []
        top1_mean, top1_std = mean_std(top1_percent)
        row.update(probe_top1_mean=top1_mean, probe_top1_std=top1_std, n_probe_encoders=int(len(f_probes)))
        is_paper_run = _is_paper_run(setup, method, arch, paper_setups)
        paper = paper_index.get((_paper_dataset(dataset), method, arch), {}) if is_paper_run else {}
        row.update(
            paper_sslmem=paper.get("sslmem", np.nan), paper_sslmem_std=paper.get("sslmem_std", np.nan),
            paper_top1=paper.get("top1", np.nan), paper_top1_std=paper.get("top1_std", np.nan),
        )
        rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE1_COLUMNS)
    write_csv_atomic(table, out_csv)
    return table


# ----------------------------------------------------------------------------------------------------------
# Per-subset summary (Fig. 2c in numbers)
# ----------------------------------------------------------------------------------------------------------

SUBSET_SUMMARY_COLUMNS = [
    "dataset", "setup", "method", "arch", "estimate", "seed", "subset", "n", "mean_m", "std_m", "mean_m_ci_low",
    "mean_m_ci_high", "mean_align_f", "mean_align_g", "mean_m_raw", "paper_mean_m", "paper_setup",
]


def subset_summary(score_paths, out_csv, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                   paper_values_path=None, paper_setups: Iterable[str] | None = None) -> pd.DataFrame:
    """Per (dataset, setup, estimate, seed, subset): n, mean and std (ddof=1) of m, a bootstrap 95%
    interval of the mean m, mean align_f, align_g and m_raw. ``paper_mean_m`` is the paper's Sec. 4.2
    subset mean where our setup is the paper's (MAE ViT-tiny CIFAR10), otherwise empty.
    Rows: ensemble first, then pair seeds ascending; subsets in the order S_C, S_S, S_I, S_E.
    """
    scores = read_scores(score_paths)
    paper = load_paper_values(paper_values_path)["subset_means"]
    subset_rank = {s: i for i, s in enumerate(SUBSETS)}
    estimate_rank = {e: i for i, e in enumerate(ESTIMATES)}
    rows = []
    for (dataset, setup, method, arch, estimate, seed_value, subset), group in scores.groupby(
        SETUP_KEYS + ["estimate", "seed", "subset"], sort=False
    ):
        m = group["m"].to_numpy(dtype=float)
        _, std_m = mean_std(m)
        ci_low, ci_high = bootstrap_ci(m, n_boot=n_boot, seed=seed, level=level)
        matches = _matches_paper_setup(dataset, method, arch, paper["setup"]) and _is_paper_run(
            setup, method, arch, paper_setups)
        rows.append({
            "dataset": dataset, "setup": setup, "method": method, "arch": arch, "estimate": estimate,
            "seed": int(seed_value),
            "subset": subset, "n": int(m.size), "mean_m": float(m.mean()), "std_m": std_m,
            "mean_m_ci_low": ci_low, "mean_m_ci_high": ci_high,
            "mean_align_f": float(group["align_f"].mean()), "mean_align_g": float(group["align_g"].mean()),
            "mean_m_raw": float(group["m_raw"].mean()),
            "paper_mean_m": paper["means"].get(subset, np.nan) if matches else np.nan,
            "paper_setup": _setup_text(paper["setup"]) if matches else "",
        })
    table = pd.DataFrame(rows, columns=SUBSET_SUMMARY_COLUMNS)
    table = table.sort_values(
        ["dataset", "setup", "estimate", "seed", "subset"],
        key=lambda col: col.map(estimate_rank) if col.name == "estimate"
        else col.map(subset_rank) if col.name == "subset" else col,
        kind="stable",
    ).reset_index(drop=True)
    write_csv_atomic(table, out_csv)
    return table


# ----------------------------------------------------------------------------------------------------------
# Table 15: memorisation across ResNet backbones, with parameter counts
# ----------------------------------------------------------------------------------------------------------

TABLE15_COLUMNS = [
    "dataset", "setup", "method", "arch", "n_params", "n_seeds", "sslmem_mean", "sslmem_std", "probe_top1_mean",
    "probe_top1_std", "paper_sslmem", "paper_sslmem_std", "paper_top1", "paper_top1_std", "paper_params_millions",
]


def table15(table1_csv, parameter_counts, out_csv, paper_values_path=None,
            paper_setups: Iterable[str] | None = None) -> pd.DataFrame:
    """Table 15: the Table 1 rows of ResNet-family backbones with each encoder's parameter count.

    `parameter_counts` maps (dataset, arch) to the number of encoder parameters (without heads);
    rows of other backbones (ViTs) are left out. The paper's values (SimCLR, CIFAR10) sit beside matching rows.
    """
    table1_csv = Path(table1_csv)
    if not table1_csv.is_file():
        raise FileNotFoundError(f"table1 not found: {table1_csv} (build results/table1.csv first)")
    rows = pd.read_csv(table1_csv)
    rows = rows[rows["arch"].str.contains("resnet")].copy()
    rows["n_params"] = [
        parameter_counts[(d, a)] for d, a in zip(rows["dataset"], rows["arch"])
    ]
    paper_index = {(r["dataset"], r["method"], r["arch"]): r for r in load_paper_values(paper_values_path)["table15"]}
    # Only the setup that runs the method's own recipe is the paper's run (as in table1).
    paper_matches = [
        paper_index.get((_paper_dataset(d), m, a), {}) if _is_paper_run(s, m, a, paper_setups) else {}
        for d, s, m, a in zip(rows["dataset"], rows["setup"], rows["method"], rows["arch"])
    ]
    for key, column in (("sslmem", "paper_sslmem"), ("sslmem_std", "paper_sslmem_std"), ("top1", "paper_top1"),
                        ("top1_std", "paper_top1_std"), ("params_millions", "paper_params_millions")):
        rows[column] = [paper.get(key, np.nan) for paper in paper_matches]
    table = rows.sort_values("n_params")[TABLE15_COLUMNS].reset_index(drop=True)
    write_csv_atomic(table, out_csv)
    return table


# ----------------------------------------------------------------------------------------------------------
# Table 11: supervised training vs SSL (App. B.3)
# ----------------------------------------------------------------------------------------------------------

TABLE11_COLUMNS = [
    "dataset", "setup", "method", "arch", "paradigm", "epochs", "n_seeds", "sslmem_mean", "sslmem_std",
    "probe_top1_mean", "probe_top1_std", "paper_row", "paper_sslmem", "paper_sslmem_std", "paper_top1",
    "paper_top1_std",
]


def table11(table1_csv, setup_epochs: Sequence[tuple[str, int]], out_csv, paper_values_path=None) -> pd.DataFrame:
    """Table 11: SSLMem and probe accuracy of supervised encoders (classifier head removed) beside SSL ones.

    `setup_epochs` lists (setup name, training epochs) in the order the rows should appear (params.yaml
    report.table11; empty: a table with the header only); the numbers are those of `table1_csv` for each dataset the setup ran on. ``paradigm`` is
    "supervised" for the supervised method, else "ssl". The paper's row (ResNet50 on CIFAR10; supervised 10/100
    epochs, DINO 100/300 epochs) stands beside the row with the same method, backbone, dataset and epochs.
    """
    table1_csv = Path(table1_csv)
    if not table1_csv.is_file():
        raise FileNotFoundError(f"table1 not found: {table1_csv} (build results/table1.csv first)")
    table1_rows = pd.read_csv(table1_csv)
    paper_rows = load_paper_values(paper_values_path)["table11"]
    paper_index = {(r["dataset"], r["method"], r["arch"], int(r["epochs"])): r for r in paper_rows}
    rows = []
    for setup, epochs in setup_epochs:
        matching = table1_rows[table1_rows["setup"] == setup]
        if matching.empty:
            raise ValueError(
                f"table11: setup {setup!r} has no row in {table1_csv} (its setups: "
                f"{sorted(table1_rows['setup'].unique())}); list only setups of experiment.setups in report.table11"
            )
        for record in matching.to_dict("records"):
            paper = paper_index.get((_paper_dataset(record["dataset"]), record["method"], record["arch"], int(epochs)), {})
            rows.append({
                **{key: record[key] for key in ("dataset", "setup", "method", "arch", "n_seeds", "sslmem_mean",
                                                "sslmem_std", "probe_top1_mean", "probe_top1_std")},
                "paradigm": "supervised" if record["method"] == "supervised" else "ssl",
                "epochs": int(epochs),
                "paper_row": paper.get("label", ""),
                "paper_sslmem": paper.get("sslmem", np.nan), "paper_sslmem_std": paper.get("sslmem_std", np.nan),
                "paper_top1": paper.get("top1", np.nan), "paper_top1_std": paper.get("top1_std", np.nan),
            })
    table = pd.DataFrame(rows, columns=TABLE11_COLUMNS)
    write_csv_atomic(table, out_csv)
    return table


# ----------------------------------------------------------------------------------------------------------
# Table 13: do setups memorise the same points? (App. B.4)
# ----------------------------------------------------------------------------------------------------------

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


def table13(score_paths, out_csv, identities: dict | None = None, paper_values_path=None) -> pd.DataFrame:
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
                if _paper_dataset(dataset) == paper["dataset"] and label_1 and label_2 and label_1 != label_2:
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
    write_csv_atomic(table, out_csv)
    return table


# ----------------------------------------------------------------------------------------------------------
# LayerMem (Localizing Memorization in SSL Vision Encoders)
# ----------------------------------------------------------------------------------------------------------

LAYERMEM_COLUMNS = [
    "dataset", "setup", "method", "arch", "layer_index", "layer", "layermem", "delta_layermem",
    "layermem_pair_mean", "layermem_pair_std", "n_pairs", "offset_m_S_S", "layermem_above_offset", "n_candidates",
]


def read_layer_scores(score_paths) -> pd.DataFrame:
    """Per-layer score files (``results/layer_scores/{dataset}/{setup}.parquet``): the score columns plus
    layer_index and layer."""
    scores = read_scores(score_paths, require_estimate="ensemble")
    for column in ("layer_index", "layer"):
        if column not in scores.columns:
            raise ValueError(
                f"{scores['source_file'].iat[0]}: no column {column!r}; expected a per-layer score file "
                "(sslmem score --layers)"
            )
    return scores


def layermem_table(score_paths, out_csv) -> pd.DataFrame:
    """Write :func:`layermem_frame` of the per-layer score files to `out_csv` (atomically) and return it."""
    table = layermem_frame(score_paths)
    write_csv_atomic(table, out_csv)
    return table


def layermem_frame(score_paths) -> pd.DataFrame:
    """LayerMem_l = mean m over S_C of the scores measured on layer l's output (ensemble estimate), and
    ΔLayerMem_l = LayerMem_l − LayerMem_{l−1} (the first layer's Δ is its LayerMem). Per-pair values give
    ``layermem_pair_mean``/``_std``; ``offset_m_S_S`` is the layer's mean m over S_S (points both f and g
    trained on), and ``layermem_above_offset`` = LayerMem − that offset: with few f/g pairs a layer's global
    f-vs-g difference can be most of its LayerMem, and only the part above it is specific to S_C."""
    scores = read_layer_scores(score_paths)
    rows = []
    for (dataset, setup, method, arch), group in scores.groupby(SETUP_KEYS, sort=True):
        previous = 0.0
        for (layer_index, layer), part in group.groupby(["layer_index", "layer"], sort=True):
            candidates = part[part["subset"] == "S_C"]
            ensemble = candidates.loc[candidates["estimate"] == "ensemble", "m"]
            per_pair = candidates[candidates["estimate"] == "pair"].groupby("seed")["m"].mean()
            pair_mean, pair_std = mean_std(per_pair.to_numpy())
            shared = part.loc[(part["estimate"] == "ensemble") & (part["subset"] == "S_S"), "m"]
            layermem = float(ensemble.mean())
            offset = float(shared.mean()) if len(shared) else np.nan
            rows.append({
                "dataset": dataset, "setup": setup, "method": method, "arch": arch,
                "layer_index": int(layer_index), "layer": layer, "layermem": layermem,
                "delta_layermem": layermem - previous, "layermem_pair_mean": pair_mean,
                "layermem_pair_std": pair_std, "n_pairs": int(per_pair.size),
                "offset_m_S_S": offset, "layermem_above_offset": layermem - offset,
                "n_candidates": int(ensemble.size),
            })
            previous = layermem
    return pd.DataFrame(rows, columns=LAYERMEM_COLUMNS)


# ----------------------------------------------------------------------------------------------------------
# UnitMem (Localizing Memorization in SSL Vision Encoders)
# ----------------------------------------------------------------------------------------------------------

UNITMEM_COLUMNS = [
    "dataset", "setup", "method", "arch", "layer_index", "layer", "subset", "n_encoders", "n_units",
    "n_undefined_units", "unitmem_mean", "unitmem_median", "unitmem_std", "unitmem_p90", "n_argmax_points",
    "mean_m_argmax_points", "mean_m_subset",
]
UNIT_COLUMNS = ("dataset", "setup", "method", "arch", "seed", "role", "layer_index", "layer", "unit", "unitmem",
                "argmax_point_id", "subset", "n_points")


def unitmem_table(unit_paths, score_paths, out_csv) -> pd.DataFrame:
    """UnitMem per (dataset, setup, layer) from the per-unit files of the f encoders (`unit_paths`), pooled over
    encoders: mean, median, std and 90th percentile over units (``n_undefined_units``: NaN UnitMem, a dead unit
    or one whose activations are negative on average); and, from the ensemble scores, the mean m of the distinct points some unit of the layer
    singles out (its argmax) beside the mean m of every point of the subset UnitMem was measured on."""
    frames = []
    for path in _as_path_list(unit_paths, "unitmem"):
        if not path.is_file():
            raise FileNotFoundError(f"unitmem file {path} does not exist (written by `sslmem align --units-out`)")
        frame = pd.read_parquet(path)
        _check_columns(frame, path, UNIT_COLUMNS, "unitmem file")
        frames.append(frame)
    units = pd.concat(frames, ignore_index=True)
    units = units[units["role"] == "f"]
    if units.empty:
        raise ValueError("no unitmem rows of f encoders: UnitMem is measured on f (trained on S_C)")
    scores = read_scores(score_paths, require_estimate="ensemble")
    ensemble = scores[scores["estimate"] == "ensemble"]
    rows = []
    for (dataset, setup, method, arch, layer_index, layer, subset), group in units.groupby(
        SETUP_KEYS + ["layer_index", "layer", "subset"], sort=True
    ):
        values = group["unitmem"].to_numpy(dtype=float)
        alive = values[~np.isnan(values)]
        own = ensemble[(ensemble["dataset"] == dataset) & (ensemble["setup"] == setup)
                       & (ensemble["subset"] == subset)].set_index("point_id")["m"]
        argmax_points = sorted(set(group.loc[~group["unitmem"].isna(), "argmax_point_id"]))
        rows.append({
            "dataset": dataset, "setup": setup, "method": method, "arch": arch, "layer_index": int(layer_index),
            "layer": layer, "subset": subset, "n_encoders": int(group["seed"].nunique()),
            "n_units": int(len(group) // max(1, group["seed"].nunique())), "n_undefined_units": int(values.size - alive.size),
            "unitmem_mean": float(alive.mean()) if alive.size else np.nan,
            "unitmem_median": float(np.median(alive)) if alive.size else np.nan,
            "unitmem_std": float(alive.std(ddof=1)) if alive.size > 1 else np.nan,
            "unitmem_p90": float(np.quantile(alive, 0.9)) if alive.size else np.nan,
            "n_argmax_points": len(argmax_points),
            "mean_m_argmax_points": float(own.reindex(argmax_points).mean()) if len(own) else np.nan,
            "mean_m_subset": float(own.mean()) if len(own) else np.nan,
        })
    table = pd.DataFrame(rows, columns=UNITMEM_COLUMNS)
    write_csv_atomic(table, out_csv)
    return table
