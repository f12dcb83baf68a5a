"""Reliability (issue 5): killed jobs resume to bitwise-identical weights, stale resume files are refused, outputs
appear atomically, checkpoints load without running code, CPU runs are deterministic, and every checkpoint
records the software it was made with.

Everything trains a SimCLR ResNet18 of width 8 on a tiny Fashion-MNIST written to a temporary directory
(150 training images, pool of 100), so the whole file runs in seconds on a CPU.
"""

from __future__ import annotations

import copy
import os
import pickle
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from sslmem import cli, config, io as sio
from sslmem.pipeline.align import run_align
from sslmem.pipeline.common import environment_versions
from sslmem.pipeline.score import run_score
from sslmem.pipeline.split import run_split
from sslmem.pipeline.train import run_train
from sslmem.pipeline.training_set import protocol_training_set
from sslmem.data.training_sets import read_training_set
from sslmem.config import RunSpec
from sslmem.plan import load_settings

from fakedata import NAMES_NO_OTHER_SETUP, write_tiny_fashion_mnist

REPO = Path(__file__).resolve().parents[1]
SPEC = RunSpec("fashion_mnist", "simclr", "resnet18", 0, "f")
SPEC_G = RunSpec("fashion_mnist", "simclr", "resnet18", 0, "g")
EPOCHS = 3

# Changes to the `test` preset of the real params.yaml: one setup, tiny pool, a resume checkpoint every epoch.
OVERRIDES = config.deep_merge(NAMES_NO_OTHER_SETUP, {
    "experiment": {"setups": [{"method": "simclr", "arch": "resnet18"}], "seeds": [0]},
    "splits": {"pool_size": 100},
    "training": {"device": "cpu", "checkpoint_every": 1, "progress": False, "num_threads": 1, "amp": False},
    "methods": {"simclr": {"epochs": EPOCHS, "warmup_epochs": 1, "batch_size": 32}},
    "archs": {"resnet18": {"width": 8}},
    "measure": {"num_views": 3, "batch_size": 16},
})




class Env:
    """Paths and settings shared by the tests of this file (built once)."""

    def __init__(self, base: Path):
        self.base = base
        raw = yaml.safe_load((REPO / "params.yaml").read_text())
        raw["preset"] = "test"
        raw["common"]["data"]["roots"]["fashion_mnist"] = str(write_tiny_fashion_mnist(base / "fashion-mnist", num_train=150, num_test=60))
        raw["presets"]["test"] = config.deep_merge(raw["presets"]["test"], OVERRIDES)
        self.params = base / "params.yaml"
        self.params.write_text(yaml.safe_dump(raw, sort_keys=False))
        self.settings = load_settings(self.params)
        self.split = base / "splits" / "fashion_mnist.csv"
        run_split(self.settings, "fashion_mnist", self.split)
        # The uninterrupted reference runs.
        self.reference = self.train(base / "reference")
        self.reference_g = self.train(base / "reference", SPEC_G)

    def paths(self, folder: Path, spec: RunSpec = SPEC) -> dict[str, Path]:
        name = f"{spec.role}{spec.seed}"
        return {
            "out": folder / "checkpoints" / f"{name}.pt",
            "log": folder / "train_logs" / f"{name}.csv",
            "resume": folder / "resume" / f"{name}.pt",
        }

    def training_set(self, spec: RunSpec, split: Path | None = None) -> Path:
        """The protocol training set of `spec`'s role, from the env's split (or `split`)."""
        split = split or self.split
        return protocol_training_set(split, spec.role, split.parent / "training_sets" / split.stem / f"{spec.role}.csv")

    def train(self, folder: Path, spec: RunSpec = SPEC, settings=None, split=None, stop=None) -> dict[str, Path]:
        paths = self.paths(folder, spec)
        run_train(
            settings or self.settings, spec, self.training_set(spec, split), paths["out"], paths["log"], paths["resume"],
            stop_after_epochs=stop,
        )
        return paths

    def cli_train_args(self, paths: dict[str, Path], spec: RunSpec = SPEC) -> list[str]:
        return [
            "--params", str(self.params), "train", "--dataset", spec.dataset, "--setup", spec.setup,
            "--seed", str(spec.seed), "--role", spec.role, "--training-set", str(self.training_set(spec)),
            "--out", str(paths["out"]), "--log", str(paths["log"]), "--resume", str(paths["resume"]),
        ]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    torch.set_num_threads(1)
    return Env(tmp_path_factory.mktemp("reliability"))


def assert_same_weights(path_a: Path, path_b: Path) -> None:
    a, b = sio.load_checkpoint(path_a)["model"], sio.load_checkpoint(path_b)["model"]
    assert a.keys() == b.keys()
    different = [key for key in a if not torch.equal(a[key], b[key])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


@pytest.fixture
def epochs_trained(monkeypatch) -> list[int]:
    """The epochs the training loop runs in this process (a fresh run and a resumed one give equal weights, so
    only this tells that a retry really resumed instead of starting over)."""
    from sslmem.training import data

    epochs: list[int] = []
    original = data.epoch_order

    def counting(num_slots, generator_seed, epoch):
        epochs.append(epoch)
        return original(num_slots, generator_seed, epoch)

    monkeypatch.setattr(data, "epoch_order", counting)
    return epochs


def sslmem_command() -> list[str]:
    return [str(Path(sys.executable).parent / "sslmem")]


# ------------------------------------------------------------------------------------------------ killed jobs


def test_stopped_run_resumes_to_bitwise_identical_weights(env, tmp_path, epochs_trained):
    paths = env.train(tmp_path, stop=1)
    assert epochs_trained == [0]
    # Killed after epoch 1: only the resume checkpoint exists — nothing Snakemake could take as a finished job.
    assert not paths["out"].exists() and not paths["log"].exists()
    state = sio.load_checkpoint(paths["resume"])
    assert state["epoch"] == 1 and len(state["log"]) == 1

    env.train(tmp_path)  # the retry
    assert epochs_trained == [0, *range(1, EPOCHS)]  # resumed at epoch 1, did not start over
    assert paths["out"].exists() and paths["log"].exists()
    assert not paths["resume"].exists()  # consumed once the final checkpoint is in place
    assert_same_weights(paths["out"], env.reference["out"])
    log, reference_log = pd.read_csv(paths["log"]), pd.read_csv(env.reference["log"])
    assert log["epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert log["loss"].tolist() == reference_log["loss"].tolist()
    assert log["lr"].tolist() == reference_log["lr"].tolist()


def test_a_running_job_can_be_followed_epoch_by_epoch(env, tmp_path, capsys):
    """One line per finished epoch in the job's output, and a CSV of the epochs so far beside the resume
    checkpoint while it trains; the final log replaces it when training completes."""
    paths = env.train(tmp_path, stop=1)
    progress = paths["resume"].with_suffix(".csv")
    mid_run = pd.read_csv(progress)
    assert mid_run["epoch"].tolist() == [1] and mid_run["setup"].tolist() == ["simclr-resnet18"]
    assert f"epoch 1/{EPOCHS}: loss" in capsys.readouterr().out
    env.train(tmp_path)  # the retry: resumed, then finished
    lines = [line for line in capsys.readouterr().out.splitlines() if " epoch " in line]
    assert [line.split(" epoch ")[1].split(":")[0] for line in lines] == [f"{e}/{EPOCHS}" for e in range(2, EPOCHS + 1)]
    assert not progress.exists() and pd.read_csv(paths["log"])["epoch"].tolist() == list(range(1, EPOCHS + 1))


def test_sigkilled_cli_run_resumes_to_bitwise_identical_weights(env, tmp_path, epochs_trained):
    paths = env.paths(tmp_path)
    process = subprocess.Popen(
        [*sslmem_command(), *env.cli_train_args(paths)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 240
    try:
        while not paths["resume"].exists():
            assert process.poll() is None, f"training ended before it could be killed: {process.stderr.read()!r}"
            assert time.monotonic() < deadline, "no resume checkpoint appeared"
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert not paths["out"].exists(), "the killed job finished before the kill; the test proves nothing"
    assert not paths["log"].exists()
    resumed_at = sio.load_checkpoint(paths["resume"])["epoch"]
    assert resumed_at in range(1, EPOCHS)

    assert cli.main(env.cli_train_args(paths)) == 0  # the retry (same code path as the console script)
    assert epochs_trained == list(range(resumed_at, EPOCHS))
    assert not paths["resume"].exists()
    assert_same_weights(paths["out"], env.reference["out"])


def test_resume_with_changed_settings_is_refused(env, tmp_path):
    paths = env.train(tmp_path, stop=1)
    resume_bytes = paths["resume"].read_bytes()

    changed = copy.deepcopy(env.settings)
    changed["methods"]["simclr"]["lr"] = 0.2
    with pytest.raises(sio.CheckpointError, match="params_hash") as error:
        env.train(tmp_path, settings=changed)
    assert str(paths["resume"]) in str(error.value)

    other_split_settings = copy.deepcopy(env.settings)
    other_split_settings["experiment"]["split_seed"] = 1
    other_split = tmp_path / "other_split.csv"
    run_split(other_split_settings, "fashion_mnist", other_split)
    with pytest.raises(sio.CheckpointError, match="split_hash"):
        env.train(tmp_path, split=other_split)

    # Nothing was overwritten or produced by the refused runs.
    assert paths["resume"].read_bytes() == resume_bytes
    assert not paths["out"].exists() and not paths["log"].exists()


# ------------------------------------------------------------------------------------------- atomic writes


def test_failed_parquet_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "out" / "scores.parquet"

    def half_then_crash(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1" + b"\0" * 100)  # half a file ...
        raise OSError("disk full")  # ... then the job dies

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        sio.atomic_to_parquet(pd.DataFrame({"a": [1, 2]}), target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary file left behind either


def test_failed_rewrite_keeps_the_previous_complete_file(tmp_path, monkeypatch):
    target = tmp_path / "log.csv"
    sio.atomic_to_csv(pd.DataFrame({"epoch": [1, 2]}), target)
    before = target.read_bytes()

    def half_then_crash(self, path, *args, **kwargs):
        Path(path).write_text("epoch\n1\n")
        raise KeyboardInterrupt  # Ctrl-C / SIGINT halfway

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_crash)
    with pytest.raises(KeyboardInterrupt):
        sio.atomic_to_csv(pd.DataFrame({"epoch": [1, 2, 3]}), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]


class FailsWhilePickling:
    def __reduce__(self):
        raise RuntimeError("killed while saving")


def test_failed_torch_save_leaves_no_file(tmp_path):
    target = tmp_path / "ckpt.pt"
    with pytest.raises(RuntimeError, match="killed while saving"):
        sio.atomic_torch_save({"model": {"w": torch.ones(1000)}, "later": FailsWhilePickling()}, target)
    assert list(tmp_path.iterdir()) == []


def test_successful_atomic_writes_leave_only_the_target(tmp_path):
    sio.atomic_write_text(tmp_path / "a.txt", "hello")
    sio.atomic_to_parquet(pd.DataFrame({"a": [1.5]}), tmp_path / "b.parquet")
    sio.atomic_torch_save({"format": sio.CHECKPOINT_FORMAT, "w": torch.ones(2)}, tmp_path / "c.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.parquet", "c.pt"]
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert pd.read_parquet(tmp_path / "b.parquet")["a"].tolist() == [1.5]
    assert torch.equal(sio.load_checkpoint(tmp_path / "c.pt")["w"], torch.ones(2))


# -------------------------------------------------------------------------------------------- safe loading


def test_truncated_checkpoint_is_refused_naming_the_file(env, tmp_path):
    data = env.reference["out"].read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(sio.CheckpointError, match="truncated or corrupt") as error:
        sio.load_checkpoint(truncated)
    assert str(truncated) in str(error.value)


@pytest.mark.parametrize(
    "content", [b"", b"hello world" * 10, b"PK\x03\x04" + b"\0" * 64], ids=["empty", "text", "zip"]
)
def test_garbage_checkpoint_is_refused(tmp_path, content):
    path = tmp_path / "garbage.pt"
    path.write_bytes(content)
    with pytest.raises(sio.CheckpointError) as error:
        sio.load_checkpoint(path)
    assert str(path) in str(error.value)


class RunsCode:
    """Unpickling this object runs a shell command (the classic pickle attack); here it only creates a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_checkpoint_that_would_run_code_is_refused_and_not_run(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format": sio.CHECKPOINT_FORMAT, "model": {}, "meta": RunsCode(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as file:
            pickle.dump(payload, file)
    with pytest.raises(sio.CheckpointError, match="refused to load") as error:
        sio.load_checkpoint(path)
    assert str(path) in str(error.value)
    assert not marker.exists(), "loading the checkpoint ran code"

    # Control: the file really is an attack — an unsafe load (weights_only=False) would run it.
    control_marker = tmp_path / "control"
    control = tmp_path / "control.pt"
    torch.save({"x": RunsCode(control_marker)}, control)
    torch.load(control, weights_only=False)
    assert control_marker.exists()


def test_torch_file_without_format_tag_is_refused(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.ones(3)}}, path)
    with pytest.raises(sio.CheckpointError, match="not an sslmem checkpoint") as error:
        sio.load_checkpoint(path)
    assert str(path) in str(error.value)
    torch.save([torch.ones(1)], path)  # not even a dict
    with pytest.raises(sio.CheckpointError, match="not an sslmem checkpoint"):
        sio.load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(sio.CheckpointError, match="checkpoint not found"):
        sio.load_checkpoint(tmp_path / "nope.pt")


def test_cli_align_with_truncated_checkpoint_exits_2_naming_the_file(env, tmp_path):
    data = env.reference["out"].read_bytes()
    truncated = tmp_path / "f0.pt"
    truncated.write_bytes(data[: len(data) // 2])
    out = tmp_path / "align.parquet"
    result = subprocess.run(
        [*sslmem_command(), "--params", str(env.params), "align", "--checkpoint", str(truncated),
         "--split", str(env.split), "--out", str(out)],
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 2, result.stderr
    assert str(truncated) in result.stderr
    assert result.stderr.startswith("sslmem align: error:")
    assert "Traceback" not in result.stderr
    assert not out.exists()


# ------------------------------------------------------------------------------------------- determinism


def test_split_is_byte_identical_across_runs(env, tmp_path):
    again = tmp_path / "fashion_mnist.csv"
    run_split(env.settings, "fashion_mnist", again)
    assert again.read_bytes() == env.split.read_bytes()
    assert again.with_suffix(".json").read_bytes() == env.split.with_suffix(".json").read_bytes()


def test_align_and_score_are_bitwise_reproducible(env, tmp_path):
    runs = []
    for attempt in ("first", "second"):
        folder = tmp_path / attempt
        aligns = []
        for paths, role in ((env.reference, "f"), (env.reference_g, "g")):
            aligns.append(folder / f"{role}0.parquet")
            run_align(env.settings, paths["out"], env.split, aligns[-1])
        run_score(aligns, folder / "scores.parquet")
        runs.append(
            (pd.read_parquet(aligns[0]), pd.read_parquet(aligns[1]), pd.read_parquet(folder / "scores.parquet"))
        )
    for first, second in zip(*runs):
        pd.testing.assert_frame_equal(first, second, check_exact=True)
    align_f, align_g, scores = runs[0]
    # bit patterns, not just values within a tolerance
    assert np.array_equal(align_f["align"].to_numpy().view(np.int64), runs[1][0]["align"].to_numpy().view(np.int64))
    assert np.array_equal(scores["m"].to_numpy().view(np.int64), runs[1][2]["m"].to_numpy().view(np.int64))
    # and the numbers are real measurements: 10 S_C + 10 S_S + 10 S_I + 10 S_E points, f and g differ
    assert len(align_f) == 40 and (align_f["align"] > 0).all()
    assert not np.array_equal(align_f["align"].to_numpy(), align_g["align"].to_numpy())


# ------------------------------------------------------------------------------------------------ metadata


def test_checkpoint_records_versions_device_and_hashes(env):
    import timm

    meta = sio.load_checkpoint(env.reference["out"])["meta"]  # loads with weights_only=True: plain values only
    versions = meta["versions"]
    assert versions["torch"] == str(torch.__version__)
    assert versions["timm"] == str(timm.__version__)
    try:
        import opacus

        assert versions["opacus"] == str(opacus.__version__)
    except ImportError:
        assert versions["opacus"] is None
    assert versions["device"] == "cpu"
    assert versions == environment_versions("cpu")
    assert meta["params_hash"] == config.fingerprint(SPEC.training_settings(env.settings))
    assert meta["split_hash"] == config_split_hash(env.split)
    assert meta["training_set_hash"] == read_training_set(env.training_set(SPEC))[1]["sha256"]


def test_resume_for_another_training_set_is_refused(env, tmp_path):
    """Same settings and split, another training set (g's instead of f's): the resume names training_set_hash."""
    paths = env.train(tmp_path, stop=1)
    with pytest.raises(sio.CheckpointError, match="training_set_hash"):
        run_train(env.settings, SPEC, env.training_set(SPEC_G), paths["out"], paths["log"], paths["resume"])
    assert not paths["out"].exists()


def config_split_hash(split_csv: Path) -> str:
    from sslmem.data.splits import read_split

    return read_split(split_csv)[1]
