"""Stage score: per-point SSLMem of one setup from all its f and g alignments (and LayerMem, per layer)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from sslmem import io as sio
from sslmem.artifacts import (
    ENSEMBLE_SEED, INOUT_SCORE_COLUMNS, LAYER_SCORE_COLUMNS, POINT_KEYS, SCORE_COLUMNS, SETUP_KEYS, ordered,
)
from sslmem.measures.reliability import round_bootstrap_interval
from sslmem.measures.scores import center_encoders, ensemble_scores, in_out_scores


def run_score(align_paths: Sequence[Path], out_parquet: Path) -> None:
    """Combine per-encoder alignments into per-point scores: one ensemble estimate and one per (f_s, g_s) pair."""
    frames = [pd.read_parquet(path) for path in align_paths]
    sio.atomic_to_parquet(ordered(score_frames(frames, align_paths), SCORE_COLUMNS, "score"), out_parquet)


def run_layer_score(layer_align_paths: Sequence[Path], out_parquet: Path) -> None:
    """LayerMem per point: the scores of :func:`run_score`, computed on each layer's alignments separately
    (each layer normalised by its own range, as SSLMem is), with the columns layer_index and layer."""
    frames = [pd.read_parquet(path) for path in layer_align_paths]
    layers = frames[0][["layer_index", "layer"]].drop_duplicates().sort_values("layer_index")
    for path, frame in zip(layer_align_paths, frames):
        if not frame[["layer_index", "layer"]].drop_duplicates().sort_values("layer_index").equals(layers):
            raise ValueError(f"{path}: holds other layers than {layer_align_paths[0]}; the encoders differ")
    tables = []
    for index, name in layers.itertuples(index=False):
        per_layer = [frame[frame["layer_index"] == index].drop(columns=["layer_index", "layer"]).reset_index(drop=True)
                     for frame in frames]
        scored = score_frames(per_layer, layer_align_paths).assign(layer_index=index, layer=name)
        tables.append(ordered(scored, LAYER_SCORE_COLUMNS, "layer score"))
    sio.atomic_to_parquet(pd.concat(tables, ignore_index=True), out_parquet)


def score_frames(frames: Sequence[pd.DataFrame], align_paths: Sequence[Path]) -> pd.DataFrame:
    """Per-point scores from per-encoder alignment frames (one per path, for the messages)."""
    keys = list(POINT_KEYS)
    # Per-layer alignments have no `representation` (they are the layers' outputs); the scored one has.
    identity = [*SETUP_KEYS, *(["representation"] if "representation" in frames[0] else [])]
    base = frames[0][[*identity, *keys]]
    per_role: dict[str, dict[int, np.ndarray]] = {"f": {}, "g": {}}
    for path, frame in zip(align_paths, frames):
        if not frame[identity].iloc[:1].reset_index(drop=True).equals(base[identity].iloc[:1]):
            raise ValueError(
                f"{path}: alignment of {frame[identity].iloc[0].to_dict()}, but {align_paths[0]} is "
                f"{base[identity].iloc[0].to_dict()}; score one setup (one representation) at a time"
            )
        if not frame[keys].equals(base[keys]):
            raise ValueError(f"{path}: measured on different points than {align_paths[0]}; re-run `align` for both")
        role, seed = frame["role"].iloc[0], int(frame["seed"].iloc[0])
        if seed in per_role[role]:
            raise ValueError(f"{path}: a second alignment file for encoder {role}{seed}; pass each encoder once")
        per_role[role][seed] = frame["align"].to_numpy()
    if not per_role["f"] or not per_role["g"]:
        raise ValueError(f"need alignments of at least one f and one g encoder, got {[str(p) for p in align_paths]}")

    def rows(estimate: str, seed: int, f_aligns: list, g_aligns: list) -> pd.DataFrame:
        # Copies: the alignment arrays come read-only from Parquet, and torch wants writable memory.
        scores = ensemble_scores([torch.from_numpy(a.copy()) for a in f_aligns], [torch.from_numpy(a.copy()) for a in g_aligns])
        return base.assign(estimate=estimate, seed=seed, **{name: values.numpy() for name, values in scores.items()})

    tables = [rows("ensemble", ENSEMBLE_SEED, list(per_role["f"].values()), list(per_role["g"].values()))]
    for seed in sorted(set(per_role["f"]) & set(per_role["g"])):
        tables.append(rows("pair", seed, [per_role["f"][seed]], [per_role["g"][seed]]))
    return pd.concat(tables, ignore_index=True)



def run_in_out_score(align_paths: Sequence[Path], training_set_paths: Sequence[Path], out_parquet: Path,
                     bootstrap: dict | None = None) -> None:
    """Every pool point's in/out score (:func:`sslmem.measures.scores.in_out_scores`, each encoder centred first:
    :func:`~sslmem.measures.scores.center_encoders`; align_in/align_out are the centred means) from the pool alignments of
    encoders trained on different training sets: `training_set_paths[i]` is the training set of the encoder of
    `align_paths[i]` (same order; the file names, <role><seed>, must agree)."""
    from sslmem.data.training_sets import read_training_set

    if len(align_paths) != len(training_set_paths):
        raise ValueError(f"{len(align_paths)} alignment files but {len(training_set_paths)} training sets")
    frames = [pd.read_parquet(path) for path in align_paths]
    keys = list(POINT_KEYS)
    base = frames[0][[*SETUP_KEYS, "representation", *keys]]
    aligns, members, rounds = [], [], []
    for path, set_path, frame in zip(align_paths, training_set_paths, frames):
        if not frame[keys].equals(base[keys]):
            raise ValueError(f"{path}: measured on other points than {align_paths[0]}; align every encoder on the pool")
        encoder = f"{frame['role'].iat[0]}{int(frame['seed'].iat[0])}"
        if Path(set_path).stem != encoder:
            raise ValueError(f"{set_path} is not the training set of encoder {encoder} ({path}); pass them in the same order")
        training_set, _ = read_training_set(set_path)
        inside = set(zip(training_set["source"], training_set["point_id"]))
        members.append([(source, point) in inside for source, point in zip(base["source"], base["point_id"])])
        aligns.append(frame["align"].to_numpy())
        rounds.append(int(frame["seed"].iat[0]))
    member = np.array(members, dtype=bool)
    # Points in no training set (S_E: aligned for the reliability control) have no in/out score.
    scored = member.any(axis=0)
    # Each encoder centred on the pool points (center_encoders: its global offset removed in every round).
    centred = center_encoders(torch.from_numpy(np.stack(aligns)[:, scored]))
    scores = in_out_scores(centred, torch.from_numpy(member[:, scored]))
    frame = base[scored].reset_index(drop=True).assign(**{name: values.numpy() for name, values in scores.items()})
    # A percentile-bootstrap interval of m over rounds (pairs of halves), on m's scale (the same range divides).
    boot = bootstrap or {"resamples": 1000, "seed": 0, "level": 0.95}
    low, high = round_bootstrap_interval(centred.numpy(), member[:, scored], rounds, boot["resamples"], boot["seed"],
                                         boot["level"])
    spread = float(scores["m_raw"].max() - scores["m_raw"].min())
    scale = 1 / spread if spread > 0 else 0.0
    frame = frame.assign(m_ci_low=low * scale, m_ci_high=high * scale)
    sio.atomic_to_parquet(ordered(frame, INOUT_SCORE_COLUMNS, "in/out score"), out_parquet)
