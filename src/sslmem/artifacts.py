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
# Where a preset's files live, relative to the repository: the root preset (params.yaml `root_preset`, default
# `default`) at the top (results/, kept in git), every other preset in a folder of its own (runs/<preset>/results/,
# its own .snakemake/ and logs), so that no two presets ever share, overwrite or delete each other's files. The
# workflow runs each preset there (Snakemake's working directory), so every path below is the same for every preset.
DEFAULT_PRESET = "default"
PRESETS_DIR = "runs"


def preset_root(preset: str, root_preset: str = DEFAULT_PRESET) -> str:
    """The folder a preset's workflow runs in: "." for the root preset, runs/<preset> for any other."""
    return "." if preset == root_preset else f"{PRESETS_DIR}/{preset}"


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
# Table 8: a core encoder re-aligned with the views of measure.view_families.<family> instead of its training
# augmentation (columns of ALIGN, SCORES), under the measure_views study's folder.
VIEW_ALIGN = f"results/studies/measure_views/{{family}}/align/{_ENCODER}.parquet"
VIEW_SCORES = "results/studies/measure_views/{family}/scores/{dataset}/{setup}.parquet"
# Feldman & Zhang's label memorisation of a supervised setup's f/g on S_C (App. B.3, Table 12, Fig. 8).
FELDMAN = "results/feldman/{dataset}/{setup}.parquet"
# Déjà Vu memorisation (Meehan et al. 2023) of a setup's f/g on S_C and the control S_E (SSLMem Sec. 4.5, Table 4).
DEJAVU = "results/dejavu/{dataset}/{setup}.parquet"
# UnitMem and ClassMem of every unit of one f encoder on a class-balanced sample of its training points
# (report.classmem; localization paper, Fig. 3). f only: UnitMem is a measure of the encoder that trained on them.
CLASSMEM = "results/classmem/{dataset}/{setup}/f{seed}.parquet"
# Every scored point of a setup ranked by the best per-point score the project has for it (sslmem.report.allpoints;
# the galleries of Figs. 1 and 9 read it).
ALLPOINTS = "results/allpoints/{dataset}/{setup}.parquet"


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
# UnitMem and ClassMem of each unit of an f encoder on the same class-balanced sample of `subset` (n_points =
# n_classes × points_per_class points): the point (argmax_point_id) and the class (argmax_class) that activate it most.
CLASSMEM_COLUMNS = (*ENCODER_KEYS, *LAYER_KEYS, "unit", "unitmem", "classmem", "argmax_point_id", "argmax_class",
                    "subset", "n_points", "n_classes", "points_per_class")
# Table 8, one row per (dataset, setup, view family; `training` first: the core scores): SSLMem over S_C (ensemble
# with a bootstrap interval; mean ± std over f/g pairs), m(S_C) − m(S_S), the paired difference to the training
# family's ensemble m over the same candidates (bootstrap interval) and Kendall's tau between the two rankings;
# the paper's row beside only where the setup and the view are its run; then the difference to the training family
# tested with the f/g pair as the unit (t-test over pairs, mixed model with the pair as a random effect; the claim
# `differs_from_training` rests on them; sslmem.report.views).
TABLE8_COLUMNS = (*SETUP_KEYS, "representation", "epochs", "view_family", "view", "n_seeds", "n_candidates",
                  "sslmem_ensemble", "sslmem_ensemble_ci_low", "sslmem_ensemble_ci_high", "sslmem_mean", "sslmem_std",
                  "m_candidates_minus_shared", "diff_vs_training", "diff_vs_training_ci_low",
                  "diff_vs_training_ci_high", "kendall_tau_vs_training", "kendall_p_vs_training", "paper_view",
                  "paper_sslmem", "paper_sslmem_std", "n_pairs_vs_training", "pair_diff_vs_training",
                  "pair_t_vs_training", "pair_p_vs_training", "pairs_below_training", "pair_note_vs_training",
                  "mixed_diff_vs_training", "mixed_se_vs_training", "mixed_p_vs_training", "mixed_note_vs_training",
                  "claim_test_vs_training", "differs_from_training")
# Fig. 5 in numbers: per (dataset, setup, subset) and threshold t, how many of the subset's n points have an
# ensemble score m > t (n_above) and their fraction.
ABOVE_THRESHOLD_COLUMNS = (*SETUP_KEYS, "representation", "subset", "n", "threshold", "n_above", "fraction_above")
# Feldman's score of each candidate (S_C), and of each S_E point as the control (trained on by neither): the softmax
# probability of its true label under f (trained on S_C) and under g (not), and their difference `feldman`;
# estimate "pair" (one f_s/g_s, seed s) or "ensemble" (the mean over the pairs, seed −1), as the SSLMem score files.
FELDMAN_COLUMNS = (*SETUP_KEYS, "estimate", "seed", *POINT_KEYS, "p_true_f", "p_true_g", "feldman")
# Déjà Vu's kNN guess of the label of each point of S_C and of the control S_E from its corner crop, one row per
# encoder (seed, role f or g) and point: the label most of its k nearest neighbours among n_public labelled public
# points carry (`predicted`, with `votes` of the k), the entropy of their labels (low: confident) and whether the
# guess is the point's label. `representation`: the encoder output embedded (the one the setup is scored on).
DEJAVU_COLUMNS = (*SETUP_KEYS, "representation", "seed", "role", *POINT_KEYS, "k", "n_public", "predicted", "votes",
                  "entropy", "correct")
# One row per ranked point, `rank` 1 = the highest m (ties: the lower point_id first). `estimator`: "in_out" (the
# halves study's score of every pool point, m_ci_low/m_ci_high its bootstrap interval over rounds) or
# "f_g_ensemble" (the core ensemble score of the candidates S_C; no interval: NaN). n_in/n_out: encoders with and
# without the point; n_ranked: points ranked; split_half_reliability: results/reliability.csv's split_half_full of
# the setup's trained points (NaN where it has none), the same on every row; m_within_class, rank_within_class and
# split_half_reliability_within_class: the same ranking within each class (sslmem.report.allpoints).
ALLPOINTS_COLUMNS = (*SETUP_KEYS, "representation", "estimator", "rank", "n_ranked", *POINT_KEYS, "m", "m_ci_low",
                     "m_ci_high", "n_in", "n_out", "split_half_reliability", "m_within_class", "rank_within_class",
                     "split_half_reliability_within_class")
# Fig. 2b in numbers (the dynamics study), one row per (dataset, setup, snapshot epoch) of `epochs`: the training
# loss of that epoch (mean over the f encoders' logs), linear-probe top-1 (%) of the f snapshots (mean, std), and from
# the snapshots' ensemble scores: mean m over S_C, over its `top_fraction` highest (n_top points; m_final_top: the
# same at this epoch for the candidates that are highest at the last snapshot), over S_S, m(S_C) − m(S_S) and the
# mean unnormalised m_raw over S_C.
FIG2B_COLUMNS = (*SETUP_KEYS, "representation", "epoch", "epochs", "n_pairs", "n_candidates", "train_loss",
                 "probe_top1", "probe_top1_std", "m_candidates", "top_fraction", "n_top", "m_top", "m_final_top",
                 "m_shared", "m_candidates_minus_shared", "m_raw_candidates")
# `probe_dataset`: the dataset probed on, one row each: first the encoder's own (`dataset`), then the ones of
# probe.downstream.<dataset>, in that order; tables of the encoder's accuracy read the own row only.
# results/planted.csv (sslmem.report.planted): where each estimator ranks the planted atypical images.
PLANTED_COLUMNS = (*SETUP_KEYS, "representation", "estimator", "ranked_points", "foreign_trained", "n_encoders",
                   "planted_source",
                   "n_points", "n_planted", "auc", "p_value", "top_fraction", "n_top", "planted_in_top",
                   "fraction_in_top", "chance_in_top", "mean_m_planted", "mean_m_typical", "best_planted_rank")
# results/table7.csv (sslmem.report.overlap), one row per (dataset, setup, overlap level; the core split's first,
# `core` true): the setup whose encoders make the row (`level_setup`), the split's sizes (`n_f` = |S_S| + |S_C|, f's
# training set), |S_S| as a fraction and percent of the core pool, SSLMem (mean ± std over f/g pairs of the mean m
# over S_C), m(S_C) − m(S_S) per pair (mean ± std), f's probe top-1 (%), and the paper's Table 7 row where it is its run.
TABLE7_COLUMNS = (*SETUP_KEYS, "representation", "level_setup", "core", "overlap", "overlap_percent", "n_shared",
                  "n_candidate", "n_independent", "n_extra", "n_f", "n_seeds", "sslmem_mean", "sslmem_std",
                  "minus_shared_mean", "minus_shared_std", "probe_top1_mean", "probe_top1_std", "paper_sslmem",
                  "paper_sslmem_std", "paper_top1", "paper_top1_std")
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
