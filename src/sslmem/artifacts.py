"""The contracts between stages: where each artifact lives and which columns each tidy file holds.

Every stage writes and every reader checks these, so a column is named once and placed by name, never by
position. Importing this module is free (no torch, no pandas): the Snakefile and the CLI read it at start-up.

Path patterns are relative to the working directory (the repository root) and are filled with
``str.format``: ``{dataset}`` (a key of the dataset registry), ``{setup}`` (an experiment.setups name),
``{role}`` (the training set an encoder is trained on: f or g of the SSLMem protocol, or a study's training set)
and ``{seed}``.
"""

from __future__ import annotations

from typing import Sequence

RESULTS = "results"

# The four subsets of the SSLMem split, in the order tables and figures show them (candidates first).
SUBSETS = ("S_C", "S_S", "S_I", "S_E")
# The SSLMem protocol's encoders: f trains on S_S ∪ S_C, g on S_S ∪ S_I.
ROLES = ("f", "g")
# Any encoder's role: the name of the training set it is trained on; f and g, or a study's sets (e.g. half_a,
# drop_top_50_of_a). Never ending in a digit, because the seed follows it in paths ({role}{seed}).
ROLE_PATTERN = "[a-z](?:[a-z0-9_]*[a-z_])?"

# A score row is the `ensemble` over all f and g encoders of a setup (seed −1) or one coupled `pair` (seed s).
ESTIMATES = ("ensemble", "pair")
ENSEMBLE_SEED = -1

# ------------------------------------------------------------------------------------------------------------
# Paths
# ------------------------------------------------------------------------------------------------------------

_ENCODER = "{dataset}/{setup}/{role}{seed}"
SPLIT = "results/splits/{dataset}.csv"
SETTINGS_DIR = "results/settings"
CHECKPOINT = f"results/checkpoints/{_ENCODER}.pt"
RESUME = f"results/resume/{_ENCODER}.pt"
TRAIN_LOG = f"results/train_logs/{_ENCODER}.csv"
# Rewritten after every epoch while an encoder trains, beside its resume checkpoint, and removed with it when
# training completes (TRAIN_LOG appears only then).
TRAIN_PROGRESS = f"results/resume/{_ENCODER}.csv"
# The points each encoder trains on, in slot order (sslmem.data.training_sets), with a hash sidecar (.json).
TRAINING_SET = f"results/training_sets/{_ENCODER}.csv"
TRAINING_SET_SIDECAR = f"results/training_sets/{_ENCODER}.json"
ALIGN = f"results/align/{_ENCODER}.parquet"
LAYER_ALIGN = f"results/layer_align/{_ENCODER}.parquet"
UNITS = f"results/unitmem/{_ENCODER}.parquet"
PROBE = f"results/probe/{_ENCODER}.csv"
SCORES = "results/scores/{dataset}/{setup}.parquet"
LAYER_SCORES = "results/layer_scores/{dataset}/{setup}.parquet"


def result_path(name: str, extension: str) -> str:
    """Where a registered table (csv) or figure (png) is written: results/<name>.<extension>."""
    return f"{RESULTS}/{name}.{extension}"


# ------------------------------------------------------------------------------------------------------------
# Columns of the tidy files (in the order they are written)
# ------------------------------------------------------------------------------------------------------------

# The encoder a row comes from; every per-encoder file starts with these.
ENCODER_KEYS = ("dataset", "setup", "method", "arch", "seed", "role")
# A setup (name) on a dataset; method and arch ride along for reading.
SETUP_KEYS = ("dataset", "setup", "method", "arch")
# A scored point: its id in its source split (the pool split: train, or STL-10's unlabeled; S_E: test), its
# subset and class label (-1 for unlabelled images).
POINT_KEYS = ("point_id", "source", "subset", "label")
LAYER_KEYS = ("layer_index", "layer")

TRAINING_SET_COLUMNS = ("slot", "point_id", "source")
TRAIN_LOG_COLUMNS = (*ENCODER_KEYS, "epoch", "loss", "lr", "seconds", "images_per_second")
# `representation`: what was scored (encoder output or projection head; measure.representation).
ALIGN_COLUMNS = (*ENCODER_KEYS, "representation", *POINT_KEYS, "align")
LAYER_ALIGN_COLUMNS = (*ENCODER_KEYS, *POINT_KEYS, *LAYER_KEYS, "align")
SCORE_VALUES = ("align_f", "align_g", "m_raw", "m")
SCORE_COLUMNS = (*SETUP_KEYS, "representation", "estimate", "seed", *POINT_KEYS, *SCORE_VALUES)
# The in/out score of every pool point (halves study): encoders with the point (in) and without it (out).
# m_ci_low/m_ci_high: a percentile-bootstrap interval of m over rounds (stats.bootstrap).
INOUT_SCORE_COLUMNS = (*SETUP_KEYS, "representation", *POINT_KEYS, "n_in", "n_out", "align_in", "align_out", "m_raw", "m",
                       "m_ci_low", "m_ci_high")
LAYER_SCORE_COLUMNS = (*SETUP_KEYS, "estimate", "seed", *LAYER_KEYS, *POINT_KEYS, *SCORE_VALUES)
UNIT_COLUMNS = (*ENCODER_KEYS, *LAYER_KEYS, "unit", "unitmem", "argmax_point_id", "subset", "n_points")
# `probe_dataset`: the dataset probed on, one row each: first the encoder's own (`dataset`), then the ones of
# probe.downstream.<dataset>, in that order; tables of the encoder's accuracy read the own row only.
PROBE_COLUMNS = (*ENCODER_KEYS, "probe_dataset", "train_size", "test_size", "top1", "knn_top1")
# What a reader of probe files needs (the kNN monitor's column is optional).
PROBE_REQUIRED_COLUMNS = tuple(column for column in PROBE_COLUMNS if column != "knn_top1")


def ordered(frame, columns: Sequence[str], what: str):
    """`frame` with exactly `columns`, in that order (by name); a missing column is a bug of the writer."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; expected {list(columns)}")
    return frame[list(columns)]


def with_encoder_keys(frame, meta, columns: Sequence[str], what: str):
    """`frame` with the encoder's identity (`meta`'s ENCODER_KEYS) added and the columns put in order."""
    return ordered(frame.assign(**{key: meta[key] for key in ENCODER_KEYS}), columns, what)
