"""The dense study (Tables 3 and 10): loaders on fixtures in the real formats, the metrics against hand-computed
values and torchmetrics, the backbone adapter's maps, the tables' statistics, the settings' checks, and one run of
`snakemake study_dense` on the test preset."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import stats as scipy_stats
from scipy.io import savemat

from sslmem.config import ConfigError
from sslmem.data import dense as data
from sslmem.data.catalog import DatasetNotFoundError
from sslmem.evaluation import dense as metrics
from sslmem.models import build_encoder

# --- loaders on fixtures in the real formats --------------------------------------------------------------------


def write_ade20k(root, split_folder: str, stems, size=(20, 30)):
    """ADEChallengeData2016's layout: JPEG images and PNG annotations (0 = other, 1..150 the classes)."""
    (root / "images" / split_folder).mkdir(parents=True, exist_ok=True)
    (root / "annotations" / split_folder).mkdir(parents=True, exist_ok=True)
    for index, stem in enumerate(stems):
        Image.fromarray(np.full((*size, 3), 40 * index, dtype=np.uint8)).save(root / "images" / split_folder / f"{stem}.jpg")
        label = np.zeros(size, dtype=np.uint8)
        label[:, size[1] // 2:] = 150  # left half "other" (ignored), right half the last class
        label[0, 0] = 1
        Image.fromarray(label).save(root / "annotations" / split_folder / f"{stem}.png")


def test_ade20k_loader_reads_the_sceneparsing_layout_and_shifts_the_classes(tmp_path):
    write_ade20k(tmp_path, "training", ["ADE_train_00000001", "ADE_train_00000002"])
    write_ade20k(tmp_path, "validation", ["ADE_val_00000001"])
    train = data.load_ade20k(tmp_path, "train", size=10)
    assert train.images.shape == (2, 3, 10, 10) and train.images.dtype == torch.uint8
    assert train.targets.shape == (2, 10, 10) and train.num_classes == 150
    # 0 (other) → ignored, class c → c − 1 (nearest-neighbour resizing keeps the labels exact).
    assert set(train.targets.unique().tolist()) <= {data.IGNORE, 0, 149}
    assert (train.targets[:, :, 6:] == 149).all() and (train.targets[:, 1:, :4] == data.IGNORE).all()
    assert len(data.load_ade20k(tmp_path, "test", size=10)) == 1


def test_ade20k_errors_name_the_missing_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="images/training"):
        data.load_ade20k(tmp_path, "train", size=8)
    write_ade20k(tmp_path, "training", ["a", "b"])
    (tmp_path / "annotations" / "training" / "b.png").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"annotations/training/b\.png"):
        data.load_ade20k(tmp_path, "train", size=8)


def test_nyu_mat_is_read_as_matlab_stores_it_transposed(tmp_path):
    """MATLAB v7.3 (HDF5) keeps images H×W×3×N column-major, which h5py reads as [N, 3, W, H]: a non-square image
    with a known pixel pins the axes."""
    count, height, width = 4, 6, 8
    images = np.zeros((count, 3, height, width), dtype=np.uint8)
    depths = np.ones((count, height, width), dtype=np.float32)
    images[:, 0, 1, 5] = 200  # row 1, column 5, red
    depths[:, 2, 7] = 4.5
    with h5py.File(tmp_path / data.NYU_MAT, "w") as mat:
        mat["images"] = images.transpose(0, 1, 3, 2)
        mat["depths"] = depths.transpose(0, 2, 1)
    savemat(tmp_path / data.NYU_SPLITS_MAT, {"trainNdxs": np.array([[1], [3], [4]]), "testNdxs": np.array([[2]])})
    train = data.load_nyu_depth(tmp_path, "train", size=height)  # resized to 6 × 6: nearest for the depth
    assert train.images.shape == (3, 3, 6, 6) and train.num_classes is None
    test = data.load_nyu_depth(tmp_path, "test", size=12)
    assert len(test) == 1
    native = data.load_nyu_depth(tmp_path, "test", size=12).targets[0]
    assert native.max() == pytest.approx(4.5) and native.min() == pytest.approx(1.0)
    # At twice the width's 8 px → 12 px square: the 4.5 m pixel stays in the last columns and the third row pair.
    rows, cols = torch.nonzero(native == 4.5, as_tuple=True)
    assert cols.min() >= 9 and set(rows.tolist()) <= {4, 5}


def test_nyu_extracted_pngs_are_millimetres(tmp_path):
    for split in ("train", "test"):
        (tmp_path / split / "rgb").mkdir(parents=True)
        (tmp_path / split / "depth").mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / split / "rgb" / "0001.png")
        Image.fromarray(np.full((4, 4), 2500, dtype=np.uint16)).save(tmp_path / split / "depth" / "0001.png")
    depth = data.load_nyu_depth(tmp_path, "train", size=4)
    assert depth.targets.dtype == torch.float32 and torch.allclose(depth.targets, torch.tensor(2.5))
    (tmp_path / "test" / "depth" / "0001.png").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"depth/0001\.png"):
        data.load_nyu_depth(tmp_path, "test", size=4)
    with pytest.raises(DatasetNotFoundError, match="nyu_depth_v2_labeled.mat"):
        data.load_nyu_depth(tmp_path / "nowhere", "train", size=4)


def test_scenes_are_seeded_and_consistent():
    rng = np.random.default_rng(0)
    items = torch.from_numpy(rng.integers(100, 255, size=(20, 1, 28, 28), dtype=np.uint8))
    labels = torch.arange(20) % 10
    args = dict(count=6, size=56, per_scene=(2, 3), scale_range=(0.6, 1.4))
    images, masks, depths = data.make_scenes(items, labels, seed=[0, 1], **args)
    again = data.make_scenes(items, labels, seed=[0, 1], **args)
    assert torch.equal(images, again[0]) and torch.equal(masks, again[1]) and torch.equal(depths, again[2])
    assert images.shape == (6, 3, 56, 56) and masks.max() <= 10
    background = masks == 0
    assert (images[:, 0][background] == 0).all() and (depths[background] == data.SCENE_BACKGROUND_DEPTH).all()
    # Items: depth 2 m / scale with scale in [0.6, 1.4], nearer than the background.
    on = depths[~background]
    assert on.min() >= 2.0 / 1.4 - 1e-5 and on.max() <= 2.0 / 0.6 + 1e-5


def test_compose_scene_puts_the_bigger_item_on_top():
    """Two full squares at scales 1.0 and 1.4 (both cover the canvas centre): the bigger, nearer one wins."""
    class Fixed:
        def uniform(self, low, high, size):
            return np.array([1.4, 1.0])

        def integers(self, low, high, size):
            return np.array([0, 0])

    items = np.full((2, 28, 28), 200, dtype=np.uint8)
    image, mask, depth = data.compose_scene(items, np.array([3, 7]), 40, Fixed(), (0.5, 1.5))
    assert mask[0, 0] == 4 and depth[0, 0] == pytest.approx(2.0 / 1.4)  # the 39 px item (class 3) covers the 28 px one
    assert mask[39, 39] == 0 and depth[39, 39] == data.SCENE_BACKGROUND_DEPTH


# --- metrics ----------------------------------------------------------------------------------------------------


def test_perfect_predictions():
    targets = torch.tensor([[[0, 1], [2, data.IGNORE]]])
    result = metrics.segmentation_metrics(targets.clamp_max(2), targets, 3, data.IGNORE)
    assert result == {"miou": 1.0, "pixel_accuracy": 1.0}
    depth = torch.rand(2, 5, 5) + 0.5
    assert metrics.depth_metrics(depth.clone(), depth) == pytest.approx({"rmse": 0.0, "delta1": 1.0})


def test_miou_of_a_known_confusion_matrix_and_torchmetrics_agree():
    # Targets 0 0 0 1 1 2 and predictions 0 0 1 1 2 2 (one ignored pixel predicted 0):
    # IoU(0) = 2 / 3, IoU(1) = 1 / 3, IoU(2) = 1 / 2 → mIoU = 1/2; pixel accuracy 4/6.
    targets = torch.tensor([0, 0, 0, 1, 1, 2, data.IGNORE])
    predictions = torch.tensor([0, 0, 1, 1, 2, 2, 0])
    confusion = metrics.confusion_matrix(predictions, targets, 3, data.IGNORE)
    assert confusion.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert metrics.miou_from_confusion(confusion) == pytest.approx((2 / 3 + 1 / 3 + 1 / 2) / 3)
    result = metrics.segmentation_metrics(predictions, targets, 3, data.IGNORE)
    assert result["miou"] == pytest.approx(0.5) and result["pixel_accuracy"] == pytest.approx(4 / 6)
    generator = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 6, (3, 9, 9), generator=generator)
    targets[targets == 5] = data.IGNORE
    predictions = torch.randint(0, 4, (3, 9, 9), generator=generator)  # class 4 never predicted, never a target
    ours = metrics.miou_from_confusion(metrics.confusion_matrix(predictions, targets, 5, data.IGNORE))
    assert metrics.segmentation_metrics(predictions, targets, 5, data.IGNORE)["miou"] == pytest.approx(ours)


def test_rmse_and_delta_by_hand():
    targets = torch.tensor([1.0, 2.0, 4.0, 0.0])  # the 0 is unknown depth: left out
    predictions = torch.tensor([1.0, 3.0, 4.5, 9.0])
    result = metrics.depth_metrics(predictions, targets)
    assert result["rmse"] == pytest.approx(math.sqrt((0 + 1 + 0.25) / 3))
    assert result["delta1"] == pytest.approx(2 / 3)  # 3/2 = 1.5 fails δ < 1.25; 4.5/4 = 1.125 passes


# --- models -----------------------------------------------------------------------------------------------------


def test_the_pyramid_gives_the_maps_it_claims():
    resnet = metrics.Pyramid(build_encoder("resnet18", image_size=28, width=8))
    assert resnet.shapes(32) == [(8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4)]  # CIFAR stem: strides 1-8
    assert resnet.channels == [8, 16, 32, 64]
    vit = metrics.Pyramid(build_encoder("vit_tiny", image_size=28, patch_size=7, depth=4))
    assert vit.blocks == [0, 1, 2, 3] and metrics.vit_block_indices(12) == [2, 5, 8, 11]
    assert vit.shapes(28) == [(192, 16, 16), (192, 8, 8), (192, 4, 4), (192, 2, 2)]  # 4 × 4 patches: 4×, 2×, 1×, ½×
    model = metrics.DenseModel(build_encoder("vit_tiny", image_size=28, patch_size=7, depth=2), 11, 16)
    assert model(torch.zeros(2, 3, 28, 28)).shape == (2, 11, 28, 28)
    depth = metrics.DenseModel(build_encoder("resnet18", image_size=28, width=8), 1, 16)
    assert (depth(torch.zeros(2, 3, 40, 40)) > 0).all()  # metres, through a softplus


def test_a_vit_moves_to_another_input_size_with_its_weights():
    from sslmem.pipeline.dense import encoder_at, poly_lr

    encoder = build_encoder("vit_tiny", image_size=28, patch_size=7, depth=2)
    meta = {"training_settings": '{"arch_cfg": {"patch_size": 7, "depth": 2}}'}
    moved = encoder_at(encoder, meta, 42)
    assert moved.backbone.pos_embed.shape == (1, 1 + 36, 192)
    assert torch.equal(moved.backbone.blocks[1].mlp.fc1.weight, encoder.backbone.blocks[1].mlp.fc1.weight)
    assert torch.equal(moved.backbone.pos_embed[:, 0], encoder.backbone.pos_embed[:, 0])  # the class token's
    assert poly_lr(0, 10, 0.02, 0.9) == 0.02 and poly_lr(10, 10, 0.02, 0.9) == 0.0
    assert poly_lr(5, 10, 0.02, 1.0) == pytest.approx(0.01)


# --- tables -----------------------------------------------------------------------------------------------------


def metric_files(tmp_path, task: str, values: dict, setup="simclr-resnet18") -> list:
    """One file per (role, seed) with the tested metric `values[role][seed]`."""
    paths = []
    for role, by_seed in values.items():
        for seed, value in by_seed.items():
            row = {"dataset": "fashion_mnist", "setup": setup, "method": setup.split("-")[0],
                   "arch": setup.split("-")[1], "seed": seed, "role": role, "task": task, "task_dataset": "scenes",
                   "epochs": 4, "miou": value, "pixel_accuracy": 0.5, "rmse": value, "delta1": 0.5,
                   "probe_top1": 0.7}
            path = tmp_path / f"{task}-{role}{seed}.csv"
            pd.DataFrame([row]).to_csv(path, index=False)
            paths.append(path)
    return paths


def test_table3_means_and_the_paired_test(tmp_path):
    from sslmem.report.dense import table3, table10

    values = {"half_a": {0: 0.30, 1: 0.32, 2: 0.31}, "drop_top_200_of_a": {0: 0.25, 1: 0.28, 2: 0.27},
              "drop_random_200_of_a": {0: 0.29, 1: 0.30, 2: 0.30}}
    table = table3(metric_files(tmp_path, "segmentation", values), tmp_path / "table3.csv").set_index("selection")
    assert table.loc["top", "miou_mean"] == pytest.approx(100 * (0.25 + 0.28 + 0.27) / 3)
    assert table.loc["none", "miou_std"] == pytest.approx(100 * np.std([0.30, 0.32, 0.31], ddof=1))
    expected = scipy_stats.ttest_rel([25, 28, 27], [29, 30, 30], alternative="less")
    assert table.loc["top", "p_value"] == pytest.approx(expected.pvalue) and table.loc["top", "n_pairs"] == 3
    assert table.loc["top", "mean_difference"] == pytest.approx(-3.0)
    assert table["paper_miou"].isna().all()  # not the paper's run: no paper value
    assert table.loc["none", "probe_top1_mean"] == pytest.approx(70.0)
    depth = table10(metric_files(tmp_path, "depth", values), tmp_path / "table10.csv").set_index("selection")
    # Depth: higher RMSE is worse, so the test is one-sided the other way.
    assert depth.loc["top", "p_value"] == pytest.approx(1 - expected.pvalue)
    with pytest.raises(ValueError, match="segmentation"):
        table10(metric_files(tmp_path, "segmentation", values), tmp_path / "wrong.csv")


def test_paper_values_stand_beside_the_papers_run_only(tmp_path):
    from sslmem.config import paper_identities
    from sslmem.plan import load_settings
    from sslmem.report.dense import paper_cells, summary_rows

    identities = paper_identities(load_settings("params.yaml", preset="paper", check_roots=False))
    rows = [{"dataset": "image_folder", "setup": "mae-vit_base", "method": "mae", "arch": "vit_base", "seed": 0,
             "role": role, "task": "segmentation", "task_dataset": task_dataset, "epochs": epochs, "miou": 0.4,
             "pixel_accuracy": 0.6, "probe_top1": 0.6}
            for role in ("half_a", "drop_top_10000_of_a") for task_dataset, epochs in (("ade20k", 100), ("ade20k", 5))]
    summary = summary_rows(pd.DataFrame(rows).iloc[[0, 2]].reset_index(drop=True), "segmentation")
    cells = paper_cells(summary, "segmentation", identities)
    assert cells["paper_miou"].tolist() == [45.4, 44.8] and cells["paper_probe_top1"].tolist() == [69.89, 68.33]
    short = summary_rows(pd.DataFrame(rows).iloc[[1]].reset_index(drop=True), "segmentation")
    assert paper_cells(short, "segmentation", identities)["paper_miou"].isna().all()  # 5 epochs, not the paper's 100


# --- settings and plan ------------------------------------------------------------------------------------------


def test_runs_must_be_removal_runs_and_the_paper_preset_plans_its_jobs():
    from sslmem.plan import load_settings
    from sslmem.studies import dense

    settings = load_settings("params.yaml", preset="test", check_roots=False)
    check = dense.VALIDATORS[0]
    settings["studies"]["dense"]["runs"] = [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "k": [7]}]
    with pytest.raises(ConfigError, match=r"studies\.dense\.runs\[0\]\.k: \[7\]"):
        check(settings)
    settings["studies"]["dense"]["runs"] = [{"setup": "mae-vit_tiny", "datasets": ["fashion_mnist"], "k": [10]}]
    with pytest.raises(ConfigError, match="not a run of studies.removal.runs"):
        check(settings)
    paper = load_settings("params.yaml", preset="paper", check_roots=False)
    files = dense.metric_files("segmentation")(paper)
    assert len(files) == 5 * len(paper["studies"]["removal"]["seeds"])  # half A, top/random × 10k and 20k
    assert "results/studies/dense/metrics/segmentation/image_folder/mae-vit_base/drop_top_20000_of_a0.csv" in files
    assert paper["studies"]["dense"]["segmentation"]["dataset"] == "ade20k"
    assert paper["studies"]["dense"]["depth"]["dataset"] == "nyu_depth_v2"


# The end-to-end run of `study_dense` is in tests/test_pipeline_e2e.py: it fine-tunes the removal encoders that
# module's studies already trained, instead of training them again.
