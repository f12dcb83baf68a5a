"""benchmarks/gpu_check.sh --smoke: the prepared GPU check runs end to end on the CPU (what CI can run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_presets import fresh_clone

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")
def test_the_gpu_check_runs_its_three_parts_with_smoke(tmp_path, built_test_workflow):
    clone = fresh_clone(tmp_path / "clone")
    (clone / ".venv").symlink_to(Path(sys.executable).parents[1])
    # The test preset's default targets, built once per session, so that part 3 finds Table 2's encoders trained.
    shutil.copytree(built_test_workflow / "runs/test", clone / "runs/test", symlinks=True)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--smoke"], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    for part in ("== 1. training and scoring throughput (cpu)", "== 2. DP-SGD step vs ordinary step (cpu)",
                 "== 3. Table 2 on preset test (its files in runs/test/)"):
        assert part in out, out[-4000:]
    assert "train  sslmem" in out and "ratio" in out and "ratio private/ordinary" in out
    # Table 2's p-values, over points and over pairs, one row per setup and hypothesis of the test preset.
    assert "H0: m(S_C) <= m(S_S)" in out and "pair_p" in out and "mixed_p" in out
    assert (clone / "runs/test/results/table2.csv").is_file() and not (clone / "runs/gpu_check").exists()
