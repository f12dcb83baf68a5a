"""Readers of the tidy files the tables and figures are built from, and the paper's reference values.

Inputs (columns fixed in :mod:`sslmem.artifacts`):

* per-point scores, one Parquet per (dataset, setup): ``results/scores/{dataset}/{setup}.parquet``
  (:data:`~sslmem.artifacts.SCORE_COLUMNS`); ``estimate`` is "ensemble" (m averaged over all f and g
  encoders, seed −1) or "pair" (one (f_s, g_s) pair, seed s); per layer: ``results/layer_scores/...``.
* linear-probe results, one CSV per encoder: ``results/probe/{dataset}/{setup}/{role}{seed}.csv``
  (:data:`~sslmem.artifacts.PROBE_REQUIRED_COLUMNS`), top1 a fraction in [0, 1]; one row per probed dataset
  (``probe_dataset``): the encoder's own (:func:`own_dataset_probes`) and those of probe.downstream.
* per-unit UnitMem files of the align stage (:data:`~sslmem.artifacts.UNIT_COLUMNS`).

The paper's numbers (``paper_values.yaml``) are put beside ours for comparison and never used as results; they
stand only beside a row that is the paper's run (same method, backbone, dataset and recipe).
"""

from __future__ import annotations

import copy
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd
import yaml

from sslmem.artifacts import (
    ESTIMATES,
    LAYER_SCORE_COLUMNS,
    PROBE_REQUIRED_COLUMNS,
    ROLE_PATTERN,
    SCORE_COLUMNS,
    SETUP_KEYS,
    SUBSETS,
    UNIT_COLUMNS,
)

PAPER_VALUES_PATH = Path(__file__).resolve().with_name("paper_values.yaml")

# Our dataset names that the paper calls differently (the paper's ImageNet is our image_folder dataset).
PAPER_DATASET_NAMES = {"image_folder": "imagenet"}

ROLE_REGEX = re.compile(ROLE_PATTERN)


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


def read_scores(score_paths: Iterable, require_estimate: str | None = None,
                columns: Sequence[str] = SCORE_COLUMNS) -> pd.DataFrame:
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
                f"(results/scores/{{dataset}}/{{setup}}.parquet) with columns {list(columns)}"
            )
        frame = pd.read_parquet(path)
        _check_columns(frame, path, columns, "score file")
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
        for setup in frame[list(SETUP_KEYS)].drop_duplicates().itertuples(index=False):
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
    """Read and validate linear-probe CSVs (one row per encoder and probed dataset) into one frame.

    Raises FileNotFoundError naming a missing file, ValueError for a missing column (a file without
    probe_dataset, of an older sslmem, gets a message of its own), a file without the row of the encoder's own
    dataset, a role other than f/g, a top1 outside [0, 1] (it must be a fraction, not percent) or the same
    encoder and probed dataset given twice.
    """
    frames = []
    for path in _as_path_list(probe_paths, "probe"):
        if not path.is_file():
            raise FileNotFoundError(
                f"probe file {path} does not exist; expected a linear-probe CSV "
                "(results/probe/{dataset}/{setup}/{role}{seed}.csv) "
                f"with columns {list(PROBE_REQUIRED_COLUMNS)}"
            )
        frame = pd.read_csv(path)
        if "probe_dataset" not in frame.columns:
            raise ValueError(
                f"{path}: probe file has no probe_dataset column (written before probes ran on downstream datasets "
                "too); run its probe job again (sslmem probe, or the workflow's probe stage)"
            )
        _check_columns(frame, path, PROBE_REQUIRED_COLUMNS, "probe file")
        if frame.empty:
            raise ValueError(f"{path}: probe file has no rows")
        if not (frame["probe_dataset"] == frame["dataset"]).any():
            raise ValueError(f"{path}: no row of the encoder's own dataset (probe_dataset == dataset)")
        bad_roles = sorted(role for role in set(frame["role"].astype(str)) if not ROLE_REGEX.fullmatch(role))
        if bad_roles:
            raise ValueError(f"{path}: role value(s) {bad_roles} do not name a training set (f, g or a study's, "
                             f"matching {ROLE_PATTERN})")
        top1 = frame["top1"].astype(float)
        if ((top1 < 0) | (top1 > 1)).any() or top1.isna().any():
            raise ValueError(f"{path}: top1 must be an accuracy in [0, 1], found {top1.tolist()}")
        frames.append(frame.assign(source_file=str(path)))
    probes = pd.concat(frames, ignore_index=True)
    encoder_keys = [*SETUP_KEYS, "seed", "role", "probe_dataset"]
    duplicated = probes[probes.duplicated(encoder_keys, keep=False)]
    if not duplicated.empty:
        raise ValueError(
            "the same encoder has more than one probe result on one dataset: "
            + "; ".join(sorted(set(duplicated["source_file"])))
        )
    return probes


def own_dataset_probes(probes: pd.DataFrame) -> pd.DataFrame:
    """The rows of encoders probed on their own dataset: the accuracy table1 and the metrics report (downstream
    rows are read by name, e.g. the metrics' probe_top1_<dataset>)."""
    return probes[probes["probe_dataset"] == probes["dataset"]]


@lru_cache(maxsize=4)
def _paper_values(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def load_paper_values(path=None) -> dict:
    """The paper's reference numbers (paper_values.yaml next to this module unless `path` is given)."""
    path = Path(path) if path is not None else PAPER_VALUES_PATH
    if not path.is_file():
        raise FileNotFoundError(f"paper values file {path} does not exist")
    return copy.deepcopy(_paper_values(path))  # a copy: callers may not change the cached values


def setup_text(setup: dict) -> str:
    return f"{setup['method']}-{setup['arch']} {setup['dataset']}"


def paper_dataset(dataset: str) -> str:
    return PAPER_DATASET_NAMES.get(dataset, dataset)


# The paper measured every number on the encoder's output (App. A); our projection-head scores are another space.
PAPER_REPRESENTATION = "encoder"


def matches_paper_row(row: Mapping, dataset: str, identity: Mapping | None, representation: str | None = None) -> bool:
    """Whether one of the paper's rows is our (dataset, setup): same dataset (our image_folder is its ImageNet),
    method, backbone and training epochs; the backbone's options and the training recipe of the paper's run
    (paper_values.yaml `archs`, `recipes`: Table 6, App. A), changed at most in length; and scored on the
    encoder's output, as the paper. `identity` is the setup's (:func:`sslmem.config.paper_identities`);
    `representation`, when given, is what the result file records as scored (it wins over the settings)."""
    if identity is None or not identity["length_only"]:
        return False
    if (representation or identity["representation"]) != PAPER_REPRESENTATION:
        return False
    ours = (paper_dataset(dataset), identity["method"], identity["arch"], int(identity["epochs"]))
    if ours != (row["dataset"], row["method"], row["arch"], int(row["epochs"])):
        return False
    paper = load_paper_values()
    recipe = paper["recipes"].get(identity["method"])
    if recipe is not None and any(identity["recipe"][key] != value for key, value in recipe.items()):
        return False
    return identity["arch_options"].get(dataset) == _paper_arch_options(paper["archs"], identity["arch"], dataset)


def _paper_arch_options(archs: Mapping, arch: str, dataset: str) -> dict | None:
    if arch not in archs:
        return None
    options = dict(archs[arch])
    if isinstance(options.get("patch_size"), Mapping):
        options["patch_size"] = options["patch_size"].get(dataset, options["patch_size"].get("default"))
    return options


def paper_row(rows: Iterable[Mapping], dataset: str, identity: Mapping | None, representation: str | None = None) -> dict:
    """The paper's row that is our (dataset, setup) (see :func:`matches_paper_row`), or {} when none is."""
    return next((dict(row) for row in rows if matches_paper_row(row, dataset, identity, representation)), {})


def read_layer_scores(score_paths) -> pd.DataFrame:
    """Per-layer score files (``results/layer_scores/{dataset}/{setup}.parquet``, written by
    ``sslmem score --layers``): the score columns with layer_index and layer, without representation."""
    return read_scores(score_paths, require_estimate="ensemble", columns=LAYER_SCORE_COLUMNS)


def read_units(unit_paths) -> pd.DataFrame:
    """Per-unit UnitMem files of the align stage (``results/unitmem/{dataset}/{setup}/{role}{seed}.parquet``)."""
    frames = []
    for path in _as_path_list(unit_paths, "unitmem"):
        if not path.is_file():
            raise FileNotFoundError(f"unitmem file {path} does not exist (written by `sslmem align --units-out`)")
        frame = pd.read_parquet(path)
        _check_columns(frame, path, UNIT_COLUMNS, "unitmem file")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def read_table(path, producer: str) -> pd.DataFrame:
    """A table another result builds (e.g. table1 for tables 11 and 15)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{producer} not found: {path} (build results/{producer}.csv first)")
    return pd.read_csv(path)
