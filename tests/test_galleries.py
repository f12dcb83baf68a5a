"""Every scored point ranked (results/allpoints/) and the galleries of Figs. 1 and 9: the ranking and its
interval on synthetic in/out and ensemble score files, the refusal of a bad knob before compute, the figures on a
tiny fake Fashion-MNIST, an unreadable image named by its path, the CLI verb, and Snakemake's plan."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fakedata import write_tiny_fashion_mnist
from workflow_copy import copy_built_workflow, copy_workflow, snakemake
from PIL import Image

from sslmem import cli, config
from sslmem.artifacts import ALLPOINTS_COLUMNS, INOUT_SCORE_COLUMNS, SCORE_COLUMNS
from sslmem.config import ConfigError
from sslmem.data.datasets import UnreadableImageError
from sslmem.report.allpoints import allpoints, rank_points, read_allpoints, setup_reliability
from sslmem.report.galleries import fig1, fig9, image_title, reliability_text, row_title
from sslmem.plan import resolve_settings

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
DATASET, SETUP = "fashion_mnist", "simclr-resnet18"
KEYS = {"dataset": DATASET, "setup": SETUP, "method": "simclr", "arch": "resnet18", "representation": "projection"}
# Pool points' m: point 7 and point 2 tie at the top, points 4 and 9 at the bottom.
INOUT_M = {0: 0.1, 1: -0.2, 2: 0.5, 3: 0.0, 4: -0.4, 5: 0.3, 6: 0.2, 7: 0.5, 8: -0.1, 9: -0.4}


def write_inout(path: Path, dataset: str = DATASET, setup: str = SETUP) -> Path:
    ids = np.array(list(INOUT_M))
    m = np.array(list(INOUT_M.values()))
    frame = pd.DataFrame({**KEYS, "dataset": dataset, "setup": setup, "point_id": ids, "source": "train",
                          "subset": ["S_C", "S_I"] + ["S_S"] * 8, "label": ids % 10, "n_in": 6, "n_out": 6,
                          "align_in": 1.0, "align_out": 1.0 + m, "m_raw": m, "m": m, "m_ci_low": m - 0.3,
                          "m_ci_high": m + 0.3})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame[list(reversed(INOUT_SCORE_COLUMNS))].to_parquet(path)  # another column order: read by name
    return path


def write_scores(path: Path, setup: str = "mae-vit_tiny", pairs=(0, 1, 2)) -> Path:
    """Ensemble and pair rows of four subsets; the candidates S_C are points 10-14 with m 0.2, 0.6, 0.2, -0.3, 0.1
    (ensemble), and the other subsets have higher m that must not be ranked."""
    keys = {**KEYS, "setup": setup, "method": "mae", "arch": "vit_tiny", "representation": "encoder"}
    rows = []
    for estimate, seed in [("ensemble", -1), *(("pair", s) for s in pairs)]:
        for subset, ids, m in [("S_C", range(10, 15), [0.2, 0.6, 0.2, -0.3, 0.1]), ("S_S", range(20, 23), [0.9] * 3),
                               ("S_I", range(30, 32), [0.95] * 2), ("S_E", range(2), [0.99] * 2)]:
            rows += [{**keys, "estimate": estimate, "seed": seed, "point_id": i, "source": "test" if subset == "S_E"
                      else "train", "subset": subset, "label": i % 10, "align_f": 1.0, "align_g": 1.0 + v,
                      "m_raw": v, "m": v} for i, v in zip(ids, m)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows)[list(reversed(SCORE_COLUMNS))].to_parquet(path)
    return path


def write_reliability(path: Path, trained: float = -0.08) -> Path:
    rows = [{"setup": SETUP, "points": points, "split_half_full": value, "dataset": DATASET, "split_half": 0.0}
            for points, value in (("unseen", 0.5), ("trained", trained))]  # columns out of order: read by name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# --- the ranking ------------------------------------------------------------------------------------------------

def test_ranks_are_one_to_n_highest_first_and_ties_go_to_the_lower_point_id():
    points = pd.DataFrame({"point_id": [5, 3, 9, 1], "source": "train", "m": [0.1, 0.4, 0.4, -0.2]})
    ranked = rank_points(points)
    assert ranked["point_id"].tolist() == [3, 9, 5, 1] and ranked["rank"].tolist() == [1, 2, 3, 4]
    assert set(ranked["n_ranked"]) == {4}
    with pytest.raises(ValueError, match="1 point\\(s\\) have no score m"):
        rank_points(points.assign(m=[0.1, math.nan, 0.2, 0.3]))


def test_in_out_scores_rank_every_pool_point_with_its_interval_and_reliability(tmp_path):
    out = tmp_path / "allpoints" / "fm.parquet"
    allpoints(DATASET, SETUP, out, inout=write_inout(tmp_path / "inout.parquet"),
              reliability=write_reliability(tmp_path / "reliability.csv"))
    table = pd.read_parquet(out)
    assert list(table.columns) == list(ALLPOINTS_COLUMNS)
    assert len(table) == len(INOUT_M) and table["rank"].tolist() == list(range(1, 11))
    assert table["point_id"].tolist() == [2, 7, 5, 6, 0, 3, 8, 1, 4, 9]  # ties by point_id
    assert set(table["estimator"]) == {"in_out"} and set(table["split_half_reliability"]) == {-0.08}
    np.testing.assert_allclose(table["m_ci_high"] - table["m_ci_low"], 0.6)
    assert table["subset"].tolist()[:2] == ["S_S", "S_S"] and set(table["n_in"]) == {6}


def test_the_ensemble_ranks_the_candidates_only_without_an_interval(tmp_path):
    out = tmp_path / "mae.parquet"
    table = allpoints(DATASET, "mae-vit_tiny", out, scores=write_scores(tmp_path / "scores.parquet"))
    written = pd.read_parquet(out)
    assert list(written.columns) == list(ALLPOINTS_COLUMNS) and len(table) == 5
    assert set(written["subset"]) == {"S_C"} and set(written["estimator"]) == {"f_g_ensemble"}
    assert written["point_id"].tolist() == [11, 10, 12, 14, 13] and written["rank"].tolist() == [1, 2, 3, 4, 5]
    assert written[["m_ci_low", "m_ci_high", "split_half_reliability"]].isna().all().all()
    assert set(written["n_in"]) == {3} and set(written["n_out"]) == {3}  # three f/g pairs


def test_bad_score_files_are_refused_by_name(tmp_path):
    inout, scores = write_inout(tmp_path / "inout.parquet"), write_scores(tmp_path / "scores.parquet")
    with pytest.raises(ValueError, match="either the in/out score file"):
        allpoints(DATASET, SETUP, tmp_path / "x.parquet", inout=inout, scores=scores)
    with pytest.raises(ValueError, match="expected only 'dino-resnet18' on 'fashion_mnist'"):
        allpoints(DATASET, "dino-resnet18", tmp_path / "x.parquet", inout=inout)
    with pytest.raises(ValueError, match="belongs to the in/out scores"):
        allpoints(DATASET, "mae-vit_tiny", tmp_path / "x.parquet", scores=scores,
                  reliability=write_reliability(tmp_path / "r.csv"))
    pd.read_parquet(inout).drop(columns="m_ci_low").to_parquet(tmp_path / "old.parquet")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['m_ci_low'\]"):
        allpoints(DATASET, SETUP, tmp_path / "x.parquet", inout=tmp_path / "old.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_a_setup_without_a_reliability_row_gets_nan(tmp_path):
    path = write_reliability(tmp_path / "reliability.csv")
    assert setup_reliability(path, DATASET, SETUP) == -0.08
    assert math.isnan(setup_reliability(path, DATASET, "mae-vit_tiny"))
    with pytest.raises(FileNotFoundError, match="study_halves"):
        setup_reliability(tmp_path / "none.csv", DATASET, SETUP)


# --- bad settings, named before compute ---------------------------------------------------------------------------

@pytest.fixture
def raw(tmp_path) -> dict:
    loaded = yaml.safe_load((REPO / "params.yaml").read_text())
    loaded["common"]["data"]["roots"]["fashion_mnist"] = str(write_tiny_fashion_mnist(tmp_path / "fm"))
    return loaded


def test_a_gallery_setup_that_is_not_a_setup_of_the_preset_is_refused(raw):
    raw["presets"]["test"]["report"]["galleries"] = {"setups": ["simclr-resnet18", "dino-vit_tiny"]}
    with pytest.raises(ConfigError, match="report.galleries.setups: 'dino-vit_tiny' is not a setup of "
                                          "experiment.setups"):
        resolve_settings(raw, "test")


def test_a_gallery_of_no_images_is_refused(raw):
    raw["presets"]["test"]["report"]["galleries"] = {"size": 0}
    with pytest.raises(ConfigError, match="report.galleries.size.*less than the minimum of 1"):
        resolve_settings(raw, "test")


def test_every_preset_shows_setups_it_trains(raw):
    for preset in ("default", "test", "paper"):
        settings = resolve_settings(raw, preset, check_roots=False)
        assert settings["report"]["galleries"]["setups"], preset  # every preset has galleries to build


# --- the figures ------------------------------------------------------------------------------------------------

def tiny_data(tmp_path: Path) -> dict:
    root = write_tiny_fashion_mnist(tmp_path / "fashion_mnist", num_train=40)
    return {"roots": {"fashion_mnist": str(root)}, "download": False, "image_folder_size": 32,
            "skip_bad_images": False}


def two_allpoints_files(tmp_path: Path) -> list[Path]:
    first = tmp_path / "allpoints/simclr.parquet"
    allpoints(DATASET, SETUP, first, inout=write_inout(tmp_path / "inout.parquet"),
              reliability=write_reliability(tmp_path / "reliability.csv"))
    second = tmp_path / "allpoints/mae.parquet"
    allpoints(DATASET, "mae-vit_tiny", second, scores=write_scores(tmp_path / "scores.parquet"))
    return [first, second]


def test_titles_give_rank_class_score_interval_and_reliability(tmp_path):
    inout, ensemble = read_allpoints(two_allpoints_files(tmp_path))
    assert image_title(DATASET, next(inout.itertuples())) == "1. pullover\nm +0.500\n[+0.20, +0.80]"
    assert image_title(DATASET, next(ensemble.itertuples())) == "1. trouser\nm +0.600"  # no interval
    assert row_title(inout.head(3), "most memorised").startswith(
        "fashion_mnist / simclr-resnet18: the 3 most memorised of 10 pool points\nin/out score (6 encoders with")
    assert "split-half reliability -0.08: ranking NOT reproducible" in row_title(inout, "most memorised")
    assert "(3 pairs; no per-point interval); split-half reliability not measured" in row_title(ensemble, "x")
    assert "ranking reproducible" in reliability_text(0.75)


def test_fig1_and_fig9_draw_from_the_ranked_files(tmp_path):
    paths, data = two_allpoints_files(tmp_path), tiny_data(tmp_path)
    fig9(paths, tmp_path / "fig9.png", data=data, gallery_size=3)
    fig1(paths, tmp_path / "fig1.png", data=data, gallery_size=12)  # more than S_C holds: all of it
    for name in ("fig1.png", "fig9.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="report.galleries.setups"):
        fig9([], tmp_path / "none.png", data=data)


def test_an_unreadable_image_is_named_by_its_path(tmp_path):
    """The gallery reads an image_folder dataset through its loader, which names every broken file."""
    root = tmp_path / "folder"
    for index, name in enumerate(["a.png", "b.png"]):
        (root / "train" / "cat").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (index * 100, 0, 0)).save(root / "train" / "cat" / name)
    broken = root / "train" / "cat" / "c.png"
    broken.write_bytes((root / "train" / "cat" / "a.png").read_bytes()[:20])
    points = pd.read_parquet(write_inout(tmp_path / "inout.parquet", dataset="image_folder")).head(2)
    # c.png (the third file, point 2) is one of the gallery's images: its loader reads it, and names it.
    points.assign(point_id=[0, 2]).to_parquet(tmp_path / "inout2.parquet")
    allpoints("image_folder", SETUP, tmp_path / "ranked.parquet", inout=tmp_path / "inout2.parquet")
    data = {"roots": {"image_folder": str(root)}, "download": False, "image_folder_size": 8, "skip_bad_images": False,
            "loader_workers": 0}
    with pytest.raises(UnreadableImageError, match=re.escape(str(broken))):
        fig9([tmp_path / "ranked.parquet"], tmp_path / "fig9.png", data=data, gallery_size=2)


# --- the CLI verb and the workflow --------------------------------------------------------------------------------

def test_the_cli_ranks_a_setup_of_the_preset_and_refuses_another(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the validation cache goes to ./.sslmem-cache
    base = ["--params", str(REPO / "params.yaml"), "--preset", "test", "allpoints", "--dataset", DATASET]
    inout = write_inout(tmp_path / "inout.parquet")
    assert cli.main([*base, "--setup", SETUP, "--inout", str(inout), "--out", "ranked.parquet"]) == 0
    assert "10 points ranked by the in_out score" in capsys.readouterr().out
    assert cli.main([*base, "--setup", "dino-resnet18", "--inout", str(inout), "--out", "x.parquet"]) == 2
    assert "no setup 'dino-resnet18' on 'fashion_mnist' in preset 'test'" in capsys.readouterr().err


@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="needs the workflow's tools (scripts/setup.sh)")
def test_snakemake_plans_in_out_where_the_halves_rank_and_the_ensemble_elsewhere(tmp_path):
    env = copy_workflow(tmp_path)
    command = ["snakemake", "-n", "-p", "galleries", "results/allpoints/fashion_mnist/mae-vit_tiny.parquet",
               "--config", "preset=test"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    plan = done.stdout + done.stderr
    assert ("allpoints --dataset fashion_mnist --setup simclr-resnet18 --inout "
            "results/studies/halves/inout/fashion_mnist/simclr-resnet18.parquet --reliability results/reliability.csv"
            in plan)
    assert "--setup mae-vit_tiny --scores results/scores/fashion_mnist/mae-vit_tiny.parquet" in plan
    assert "report fig1 --input allpoints_paths results/allpoints/fashion_mnist/simclr-resnet18.parquet" in plan


# Trains the test preset's core encoders and its halves (about 3 minutes on 2 CPU cores): `pytest -m slow`.
@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")
def test_snakemake_builds_the_galleries_on_the_test_preset(tmp_path, built_test_workflow):
    copy_built_workflow(built_test_workflow, tmp_path)
    snakemake(tmp_path, "galleries")
    ranked = pd.read_parquet(tmp_path / "results/allpoints/fashion_mnist/simclr-resnet18.parquet")
    assert list(ranked.columns) == list(ALLPOINTS_COLUMNS) and set(ranked["estimator"]) == {"in_out"}
    assert len(ranked) == 200 and ranked["rank"].tolist() == list(range(1, 201))  # the test preset's pool
    assert ranked["m"].is_monotonic_decreasing and ranked["split_half_reliability"].notna().all()
    for name in ("fig1.png", "fig9.png"):
        assert (tmp_path / "results" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
