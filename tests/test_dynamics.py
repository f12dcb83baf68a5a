"""The dynamics study (SSLMem Fig. 2b): snapshots are the full run's state at their epoch (the last one equals the
final checkpoint, one equals a run stopped there, and resuming keeps them), the values table's numbers on hand-made
score files, the settings refused before any compute, and one build of results/fig2b_values.csv and fig2b.png
through Snakemake on the `test` preset."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from sslmem import config
from sslmem import io as sio
from sslmem.artifacts import FIG2B_COLUMNS, SCORE_COLUMNS, TRAIN_LOG_COLUMNS
from sslmem.augment import AugmentSpec
from sslmem.config import ConfigError
from sslmem.report.dynamics import fig2b, fig2b_values, top_count
from sslmem.studies import dynamics
from sslmem.training import TrainData, TrainingOptions, TrainingSpec, train_encoder
from sslmem.training.snapshots import SnapshotHook, publish_snapshots, snapshot_file
from sslmem.plan import resolve_settings

from fakedata import write_tiny_fashion_mnist
from workflow_copy import copy_built_workflow, copy_workflow, snakemake

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
SIZE = 28
EPOCHS = 3
SPEC = TrainingSpec(
    method="simclr",
    recipe={"epochs": EPOCHS, "warmup_epochs": 1, "batch_size": 16, "optimizer": "sgd", "lr": 0.05,
            "weight_decay": 5e-4, "momentum": 0.9, "temperature": 0.5, "projection_dim": 16,
            "projection_hidden_dim": 32},
    arch="resnet18",
    arch_cfg={"width": 8},
    augment=AugmentSpec(crop_scale=(0.5, 1.0), jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8, grayscale_p=0.2),
    image_size=SIZE,
    mean=(0.5, 0.5, 0.5),
    std=(0.25, 0.25, 0.25),
    seed=0,
    role="f",
)


# --- snapshots ------------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def data() -> TrainData:
    generator = torch.Generator().manual_seed(0)
    return TrainData(torch.randint(0, 256, (32, 3, SIZE, SIZE), dtype=torch.uint8, generator=generator), np.arange(32))


def options(tmp_path: Path, name: str, **overrides) -> TrainingOptions:
    return TrainingOptions(device=torch.device("cpu"), out_path=tmp_path / f"{name}.pt",
                           resume_path=tmp_path / f"{name}.resume.pt",
                           meta={"params_hash": "x", "split_hash": "y", "training_set_hash": "z"},
                           checkpoint_every=100, progress=False, **overrides)


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_snapshots_are_the_full_runs_state_and_change_nothing(tmp_path):
    train_encoder(SPEC, data(), options(tmp_path, "plain"))
    hook = SnapshotHook(range(1, EPOCHS + 1), tmp_path / "staged")
    train_encoder(SPEC, data(), options(tmp_path, "snapped"), hooks=[hook])
    plain, snapped = (sio.load_checkpoint(tmp_path / f"{name}.pt") for name in ("plain", "snapped"))
    # The hook changes no number: the final checkpoint is the one written without it.
    assert same_weights(plain["model"], snapped["model"]) and plain["meta"] == snapped["meta"]
    # The snapshot of the last epoch is the final checkpoint, key for key (the final-checkpoint format).
    last = sio.load_checkpoint(snapshot_file(tmp_path / "staged", EPOCHS))
    assert last.keys() == snapped.keys() and same_weights(last["model"], snapped["model"])
    assert last["epoch"] == EPOCHS and last["meta"] == snapped["meta"] and last["log"] == snapped["log"]
    # Earlier snapshots are other states, each with the log of its epochs.
    first = sio.load_checkpoint(snapshot_file(tmp_path / "staged", 1))
    assert first["epoch"] == 1 and len(first["log"]) == 1 and not same_weights(first["model"], last["model"])

    # The snapshot of epoch 2 is the weights of a run stopped after 2 epochs (its resume checkpoint).
    train_encoder(SPEC, data(), options(tmp_path, "stopped", stop_after_epochs=2))
    stopped = sio.load_checkpoint(tmp_path / "stopped.resume.pt")
    assert stopped["epoch"] == 2
    assert same_weights(sio.load_checkpoint(snapshot_file(tmp_path / "staged", 2))["model"], stopped["model"])


def test_a_resumed_run_keeps_its_snapshots_and_publishes_them(tmp_path):
    uninterrupted = SnapshotHook([1, 2, 3], tmp_path / "straight")
    train_encoder(SPEC, data(), options(tmp_path, "straight"), hooks=[uninterrupted])
    staged = tmp_path / "resumed.snapshots"
    # Killed after 2 epochs (a resume checkpoint there), then resumed with a new hook, as a retried job is.
    train_encoder(SPEC, data(), options(tmp_path, "resumed", stop_after_epochs=2), hooks=[SnapshotHook([1, 2, 3], staged)])
    assert sorted(path.name for path in staged.iterdir()) == ["epoch1.pt", "epoch2.pt"]
    train_encoder(SPEC, data(), options(tmp_path, "resumed"), hooks=[SnapshotHook([1, 2, 3], staged)])
    published = publish_snapshots(staged, tmp_path / "out", [1, 2, 3])
    assert [path.name for path in published] == ["epoch1.pt", "epoch2.pt", "epoch3.pt"] and not staged.exists()
    for epoch in (1, 2, 3):
        assert same_weights(sio.load_checkpoint(snapshot_file(tmp_path / "out", epoch))["model"],
                            sio.load_checkpoint(snapshot_file(tmp_path / "straight", epoch))["model"])


def test_a_resumed_run_refuses_missing_or_foreign_snapshots(tmp_path):
    staged = tmp_path / "run.snapshots"
    train_encoder(SPEC, data(), options(tmp_path, "run", stop_after_epochs=2), hooks=[SnapshotHook([1, 2], staged)])
    snapshot_file(staged, 1).unlink()
    with pytest.raises(sio.CheckpointError, match=r"epoch1\.pt: missing.*delete the resume checkpoint"):
        train_encoder(SPEC, data(), options(tmp_path, "run"), hooks=[SnapshotHook([1, 2], staged)])
    with pytest.raises(sio.CheckpointError, match=r"snapshots \[.*epoch1\.pt'\] were not written"):
        publish_snapshots(staged, tmp_path / "out", [1, 2])
    with pytest.raises(ValueError, match=r"snapshot epochs \[4\] are outside 1 … 3"):
        train_encoder(SPEC, data(), options(tmp_path, "other"), hooks=[SnapshotHook([3, 4], tmp_path / "x")])


# --- the values table -------------------------------------------------------------------------------------------

SETUP = {"dataset": "fashion_mnist", "setup": "mae-vit_tiny", "method": "mae", "arch": "vit_tiny"}


def score_file(path: Path, candidates: list[float], shared: list[float], pairs: int = 2) -> None:
    """A score file with ensemble rows of these m values (S_C, S_S) and `pairs` pair estimates (their m: 0)."""
    rows = []
    for estimate, seed in [("ensemble", -1)] + [("pair", s) for s in range(pairs)]:
        for subset, values in (("S_C", candidates), ("S_S", shared), ("S_I", [-0.5]), ("S_E", [0.0])):
            for index, m in enumerate(values):
                m = m if estimate == "ensemble" else 0.0
                rows.append({**SETUP, "representation": "encoder", "estimate": estimate, "seed": seed,
                             "point_id": index + 100 * "CSIE".index(subset[-1]), "source": "train", "subset": subset,
                             "label": 0, "align_f": 1.0, "align_g": 1.0 + 2 * m, "m_raw": 2 * m, "m": m})
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(SCORE_COLUMNS)).to_parquet(path)


def probe_file(path: Path, role: str, seed: int, top1: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{**SETUP, "seed": seed, "role": role, "probe_dataset": "fashion_mnist", "train_size": 10,
                   "test_size": 10, "top1": top1, "knn_top1": top1}]).to_csv(path, index=False)


def log_file(path: Path, role: str, seed: int, losses: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({**SETUP, "seed": seed, "role": role, "epoch": np.arange(1, len(losses) + 1), "loss": losses,
                          "lr": 0.1, "seconds": 1.0, "images_per_second": 1.0})
    frame[list(TRAIN_LOG_COLUMNS)].to_csv(path, index=False)


def test_top_count_is_the_ceiling_of_the_fraction_and_at_least_one():
    assert top_count(100, 0.1) == 10 and top_count(20, 0.1) == 2 and top_count(10, 0.3) == 3
    assert top_count(5, 0.1) == 1 and top_count(7, 1.0) == 7 and top_count(15, 0.1) == 2


def test_values_table_on_hand_made_score_files(tmp_path):
    # 20 candidates: at epoch 2, m = 0.00, 0.01, …, 0.19; at epoch 4 the order of the two halves flips.
    epoch2 = [i / 100 for i in range(20)]
    epoch4 = [0.5 - i / 100 for i in range(20)]
    keys = dict(dataset="fashion_mnist", setup="mae-vit_tiny")
    scores, probes = [], []
    for epoch, candidates, shared in ((2, epoch2, [0.05, 0.15]), (4, epoch4, [0.1, 0.1])):
        scores.append(tmp_path / dynamics.SNAPSHOT_SCORES.format(epoch=epoch, **keys))
        score_file(scores[-1], candidates, shared)
        for seed, top1 in ((0, 0.5 + epoch / 100), (1, 0.6 + epoch / 100)):
            probes.append(tmp_path / dynamics.SNAPSHOT_PROBE.format(epoch=epoch, role="f", seed=seed, **keys))
            probe_file(probes[-1], "f", seed, top1)
    logs = []
    for role, seed, losses in (("f", 0, [4, 3, 2, 1]), ("f", 1, [6, 5, 4, 3]), ("g", 0, [9, 9, 9, 9])):
        logs.append(tmp_path / dynamics.TRAIN_LOG.format(role=role, seed=seed, **keys))
        log_file(logs[-1], role, seed, losses)
    plan = [{**keys, "epochs": 4, "snapshots": [2, 4]}]
    out = tmp_path / "fig2b_values.csv"
    table = fig2b_values(list(reversed(scores)), probes, logs, out, plan=plan, top_fraction=0.1)

    assert list(pd.read_csv(out).columns) == list(FIG2B_COLUMNS) and list(table["epoch"]) == [2, 4]
    first, second = table.iloc[0], table.iloc[1]
    assert first["m_candidates"] == pytest.approx(np.mean(epoch2)) and second["m_candidates"] == pytest.approx(np.mean(epoch4))
    # Top 10 % of 20 candidates: the 2 highest at that epoch.
    assert first["n_top"] == 2 and first["m_top"] == pytest.approx((0.19 + 0.18) / 2)
    assert second["m_top"] == pytest.approx((0.5 + 0.49) / 2)
    # The candidates highest at the last snapshot (points 0 and 1) at each epoch.
    assert first["m_final_top"] == pytest.approx((0.0 + 0.01) / 2) and second["m_final_top"] == pytest.approx(second["m_top"])
    assert first["m_shared"] == pytest.approx(0.1)
    assert first["m_candidates_minus_shared"] == pytest.approx(np.mean(epoch2) - 0.1)
    assert first["m_raw_candidates"] == pytest.approx(2 * np.mean(epoch2))
    # The loss of the snapshot's epoch, mean over the f encoders (g's left out); probe top-1 of f in %.
    assert first["train_loss"] == pytest.approx((3 + 5) / 2) and second["train_loss"] == pytest.approx((1 + 3) / 2)
    assert first["probe_top1"] == pytest.approx(57.0) and first["probe_top1_std"] == pytest.approx(np.std([52, 62], ddof=1))
    assert (table["n_pairs"] == 2).all() and (table["n_candidates"] == 20).all() and (table["epochs"] == 4).all()
    fig2b(out, tmp_path / "fig2b.png")
    assert (tmp_path / "fig2b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A planned snapshot without its score file is named, not skipped.
    with pytest.raises(ValueError, match=r"no score file of snapshot epoch\(s\) \[6\]"):
        fig2b_values(scores, probes, logs, out, plan=[{**keys, "epochs": 6, "snapshots": [2, 4, 6]}], top_fraction=0.1)


def test_epoch_of_reads_the_per_epoch_layout():
    assert dynamics.epoch_of("results/studies/dynamics/epoch15/scores/fashion_mnist/x.parquet") == 15
    with pytest.raises(ValueError, match="per-epoch layout"):
        dynamics.epoch_of("results/scores/fashion_mnist/x.parquet")


# --- settings ---------------------------------------------------------------------------------------------------

@pytest.fixture
def raw(tmp_path) -> dict:
    loaded = yaml.safe_load((REPO / "params.yaml").read_text())
    loaded["common"]["data"]["roots"]["fashion_mnist"] = str(write_tiny_fashion_mnist(tmp_path / "fm"))
    return loaded


def with_dynamics(raw: dict, **values) -> dict:
    raw["presets"]["test"]["studies"]["dynamics"].update(values)
    return raw


@pytest.mark.parametrize("values, needles", [
    ({"every": 3}, ["studies.dynamics.every", "3 is larger than the 2 epochs of setup 'simclr-resnet18'",
                    "studies.dynamics.runs[0]"]),
    ({"every": 0}, ["studies.dynamics.every", "at least 1"]),
    ({"top_fraction": 0.0}, ["studies.dynamics.top_fraction", "0.0 is outside (0, 1]"]),
    ({"top_fraction": 1.5}, ["studies.dynamics.top_fraction", "1.5 is outside (0, 1]"]),
    ({"runs": [{"setup": "byol-resnet18", "datasets": ["fashion_mnist"]}]},
     ["studies.dynamics.runs[0].setup", "no setup 'byol-resnet18' in experiment.setups", "'simclr-resnet18'"]),
    ({"runs": [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "seeds": [7]}]},
     ["studies.dynamics.runs[0].seeds", "[7] are not seeds of setup 'simclr-resnet18'"]),
    ({"runs": [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"]},
               {"setup": "simclr-resnet18", "datasets": ["fashion_mnist"]}]},
     ["studies.dynamics.runs[1]", "planned by an earlier run too"]),
])
def test_bad_dynamics_settings_are_refused_before_compute(raw, values, needles):
    with pytest.raises(ConfigError) as error:
        resolve_settings(with_dynamics(raw, **values), "test")
    for needle in needles:
        assert needle in str(error.value)


def test_every_must_divide_the_setups_epochs(raw):
    raw["presets"]["test"]["methods"]["simclr"]["epochs"] = 5
    with pytest.raises(ConfigError) as error:
        resolve_settings(with_dynamics(raw, every=2), "test")
    assert "studies.dynamics.every: 2 does not divide the 5 epochs of setup 'simclr-resnet18'" in str(error.value)
    assert "choose one of [1, 5]" in str(error.value)


def test_every_preset_plans_snapshots_up_to_the_last_epoch(raw):
    default = resolve_settings(raw, "default", check_roots=False)
    assert dynamics.planned(default) == [("fashion_mnist", "mae-vit_tiny"), ("fashion_mnist", "simclr-resnet18")]
    assert dynamics.snapshot_epochs(default, "mae-vit_tiny") == list(range(5, 41, 5))
    assert len(dynamics.runs(default)) == 12  # three f/g pairs per setup, the setups' own seeds
    paper = resolve_settings(raw, "paper", check_roots=False)
    assert dynamics.planned(paper) == [("cifar10", "mae-vit_tiny"), ("cifar10", "simclr-resnet18")]
    assert dynamics.snapshot_epochs(paper, "mae-vit_tiny")[-1] == 600
    test = resolve_settings(raw, "test", check_roots=False)
    assert dynamics.score_files(test) == [
        f"results/studies/dynamics/epoch{e}/scores/fashion_mnist/simclr-resnet18.parquet" for e in (1, 2)]


# --- end to end -----------------------------------------------------------------------------------------------

# About 2 minutes on 2 CPU cores (16 jobs, each starting torch): left out of the default run (`pytest -m slow`).
@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")
def test_snakemake_builds_fig2b_on_the_test_preset(tmp_path, built_test_workflow):
    copy_built_workflow(built_test_workflow, tmp_path)
    snakemake(tmp_path, "study_dynamics")
    table = pd.read_csv(tmp_path / "results/fig2b_values.csv")
    assert list(table.columns) == list(FIG2B_COLUMNS)
    # The test preset: simclr-resnet18 (2 epochs, one pair), a snapshot after every epoch.
    assert list(zip(table["setup"], table["epoch"])) == [("simclr-resnet18", 1), ("simclr-resnet18", 2)]
    assert (table["n_pairs"] == 1).all() and (table["epochs"] == 2).all()
    numbers = table.drop(columns=["probe_top1_std"])  # the spread over one f encoder is undefined
    assert not numbers.isna().any().any(), numbers.isna().sum()
    assert table["probe_top1"].between(0, 100).all() and table["m_candidates"].between(-1, 1).all()
    assert (table["m_top"] >= table["m_candidates"]).all()
    # The pipeline's last snapshot is the study's final checkpoint, and the staging folder is gone.
    snapshots = tmp_path / "results/studies/dynamics/snapshots/fashion_mnist/simclr-resnet18/f0"
    assert sorted(path.name for path in snapshots.glob("epoch*.pt")) == ["epoch1.pt", "epoch2.pt"]
    final = sio.load_checkpoint(tmp_path / "results/studies/dynamics/checkpoints/fashion_mnist/simclr-resnet18/f0.pt")
    assert same_weights(sio.load_checkpoint(snapshots / "epoch2.pt")["model"], final["model"])
    assert not list((tmp_path / "results/studies/dynamics/resume").rglob("*.snapshots"))
    # The training loss is the train log's of that epoch.
    log = pd.read_csv(tmp_path / "results/studies/dynamics/train_logs/fashion_mnist/simclr-resnet18/f0.csv")
    assert table["train_loss"].tolist() == pytest.approx(log["loss"].tolist())
    assert (tmp_path / "results/fig2b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert math.isfinite(table.loc[1, "m_candidates_minus_shared"])
