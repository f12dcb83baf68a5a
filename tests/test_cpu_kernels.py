"""Training is deterministic on one machine, and training.cpu_kernels pins the CPU kernels the libraries pick
(sslmem.cpu_kernels): the restart that sets the variables, and that torch then dispatches to the pinned kernels.

That a pinned run gives the same bits on *another* CPU cannot be tested on one machine; what is tested is the
mechanism. (That the modes give different encoders here, and what each costs: benchmarks/cpu_kernels.py.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sslmem import cpu_kernels

# A tiny SimCLR ResNet trained for a few steps in a fresh process (the variables are read when torch loads);
# prints the capability torch dispatches to and a hash of the trained weights.
TRAIN = """
import hashlib, tempfile
from pathlib import Path
import numpy as np, torch
torch.set_num_threads(1)
from sslmem import io as sio
from sslmem.augment import AugmentSpec
from sslmem.training import TrainData, TrainingOptions, TrainingSpec, train_encoder
recipe = {"epochs": 1, "warmup_epochs": 0, "batch_size": 32, "optimizer": "sgd", "lr": 0.05, "weight_decay": 1e-4,
          "momentum": 0.9, "temperature": 0.5, "projection_dim": 16, "projection_hidden_dim": 32, "augment": "simclr"}
spec = TrainingSpec(method="simclr", recipe=recipe, arch="resnet18", arch_cfg={"width": 8}, image_size=28,
                    augment=AugmentSpec(crop_scale=(0.2, 1.0), jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8, grayscale_p=0.2),
                    mean=(0.5,) * 3, std=(0.25,) * 3, seed=0, role="f")
images = torch.randint(0, 256, (96, 3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
folder = Path(tempfile.mkdtemp())
options = TrainingOptions(device=torch.device("cpu"), out_path=folder / "x.pt", resume_path=folder / "r.pt",
                          meta={"params_hash": "a", "split_hash": "b"}, progress=False)
train_encoder(spec, TrainData(images, np.arange(96), labels=None), options)
weights = sio.load_checkpoint(folder / "x.pt")["model"]
print(torch.backends.cpu.get_cpu_capability(), hashlib.sha256(b"".join(v.numpy().tobytes() for v in weights.values())).hexdigest())
"""


def train_in_fresh_process(extra_env: dict) -> tuple[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in cpu_kernels.CPU_KERNELS["avx2"]}
    result = subprocess.run([sys.executable, "-c", TRAIN], env={**env, **extra_env, "OMP_NUM_THREADS": "1"},
                            capture_output=True, text=True, check=True)
    capability, digest = result.stdout.split()[-2:]
    return capability, digest


def test_modes_name_the_variables_and_unknown_modes_are_refused():
    assert cpu_kernels.kernel_environment("native") == {}
    assert cpu_kernels.kernel_environment("avx2") == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                                      "MKL_CBWR": "AVX2"}
    with pytest.raises(ValueError, match="training.cpu_kernels: 'avx512'"):
        cpu_kernels.kernel_environment("avx512")


def test_a_pinned_mode_restarts_the_cli_with_its_variables_once(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append((argv, env)))
    for key in cpu_kernels.CPU_KERNELS["avx2"]:
        monkeypatch.delenv(key, raising=False)
    cpu_kernels.restart_with_kernels("native", ["train"])
    assert calls == []
    cpu_kernels.restart_with_kernels("avx2", ["--preset", "test", "train", "--seed", "0"])
    (argv, env), = calls
    assert argv == [sys.executable, "-m", "sslmem.cli", "--preset", "test", "train", "--seed", "0"]
    assert {key: env[key] for key in cpu_kernels.CPU_KERNELS["avx2"]} == cpu_kernels.CPU_KERNELS["avx2"]
    for key, value in cpu_kernels.CPU_KERNELS["avx2"].items():
        monkeypatch.setenv(key, value)
    cpu_kernels.restart_with_kernels("avx2", ["train"])  # already pinned: no second restart
    assert len(calls) == 1


# Two tiny trainings in fresh processes (about 10 s on 2 cores), and one process that only imports torch.
def test_training_repeats_bit_for_bit_and_pinned_kernels_are_the_ones_torch_runs():
    first, second = train_in_fresh_process({}), train_in_fresh_process({})
    assert first == second  # same machine, same settings: the same weights, bit for bit
    env = {**os.environ, **cpu_kernels.kernel_environment("avx2")}
    pinned = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                            env=env, capture_output=True, text=True, check=True).stdout.split()[-1]
    assert pinned == "AVX2"


def test_the_mode_is_read_from_the_preset_over_common_without_validating(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("preset: a\ncommon: {training: {cpu_kernels: avx2}}\n"
                      "presets: {a: {}, b: {training: {cpu_kernels: compatible}}}\n")
    assert cpu_kernels.mode_in_params(str(params), None) == "avx2"
    assert cpu_kernels.mode_in_params(str(params), "b") == "compatible"
    params.write_text("preset: a\ncommon: {}\npresets: {a: {}}\n")
    assert cpu_kernels.mode_in_params(str(params), None) == "native"
    assert cpu_kernels.mode_in_params(str(tmp_path / "missing.yaml"), None) == "native"
