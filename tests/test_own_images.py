"""The documented path for a researcher's own images: the `own_images` preset, read from docs/running.md itself,
runs on a tiny image folder (fewer epochs and rounds) and ranks every image with an interval, with galleries."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from sslmem import config
from sslmem.plan import resolve_settings

from workflow_copy import copy_workflow
from sslmem.artifacts import preset_root

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- own-images-preset:"


def readme_preset() -> dict:
    """The YAML block after the marker in docs/running.md: `own_images: {...}` as a preset."""
    text = (REPO / "docs/running.md").read_text()
    start = text.index(MARKER)
    block = re.search(r"```yaml\n(.*?)```", text[start:], re.S).group(1)
    return yaml.safe_load(block)["own_images"]


def write_folder(root: Path, train: int = 40, test: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("test", test)):
        folder = root / split / "all"
        folder.mkdir(parents=True)
        for index in range(count):
            pixels = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"img{index:03d}.png")
    return root


def quick(preset: dict, root: Path) -> dict:
    """The documented preset on `root`, with minutes cut to seconds (one epoch, two rounds, tiny probe)."""
    preset = yaml.safe_load(yaml.safe_dump(preset))
    preset["data"]["roots"]["image_folder"] = str(root)
    preset["data"]["image_folder_size"] = 16
    preset["methods"]["simclr"].update(epochs=1, warmup_epochs=0, batch_size=8)
    preset["archs"]["resnet18"]["width"] = 4
    preset["studies"]["halves"]["seeds"] = [0, 1]
    preset["probe"] = {"downstream": {}, "epochs": 1, "warmup_epochs": 0, "train_size": 20, "test_size": 10}
    return preset


def test_the_readme_preset_validates_and_plans_every_image(tmp_path):
    root = write_folder(tmp_path / "folder")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["presets"]["own_images"] = readme_preset()
    raw["presets"]["own_images"]["data"]["roots"]["image_folder"] = str(root)
    settings = resolve_settings(raw, "own_images")
    assert settings["studies"]["halves"]["runs"] == [{"setup": "simclr-resnet18", "datasets": ["image_folder"]}]
    assert len(settings["studies"]["halves"]["seeds"]) == 8  # K = 16 encoders


def test_a_halves_run_without_rounds_is_refused(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    preset = readme_preset()
    preset["data"]["roots"]["image_folder"] = str(write_folder(tmp_path / "folder"))
    preset["studies"]["halves"]["seeds"] = []
    raw["presets"]["own_images"] = preset
    with pytest.raises(config.ConfigError, match="no round of halves"):
        resolve_settings(raw, "own_images")


def test_the_readme_path_ranks_every_image_of_a_folder(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = copy_workflow(work)
    root = write_folder(tmp_path / "folder")
    raw = yaml.safe_load((work / "params.yaml").read_text())
    raw["presets"]["own_images"] = quick(readme_preset(), root)
    (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    command = ["snakemake", "--profile", "workflow/profiles/default", "--cores", "2", "galleries",
               "--config", "preset=own_images"]
    done = subprocess.run(command, cwd=work, env=dict(env, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    own = work / preset_root("own_images")  # runs/own_images: the preset's own folder, apart from every other's
    ranked = pd.read_parquet(own / "results/allpoints/image_folder/simclr-resnet18.parquet")
    pool = ranked[ranked["subset"] != "S_E"]
    assert len(pool) == 40 and sorted(pool["rank"]) == list(range(1, 41))  # every training image, ranked once
    assert (pool["estimator"] == "in_out").all() and (pool["n_in"] == 2).all() and (pool["n_out"] == 2).all()
    assert (pool["m_ci_low"] <= pool["m"]).all() and (pool["m"] <= pool["m_ci_high"]).all()
    assert (own / "results/fig1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
