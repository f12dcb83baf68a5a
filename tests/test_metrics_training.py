"""The DVC metrics file and the training-curve results, on hand-made inputs with known numbers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sslmem.artifacts import TRAIN_LOG_COLUMNS
from sslmem.report.metrics import metrics_from_tables
from sslmem.report.significance import table2
from sslmem.report.summaries import subset_summary, table1
from sslmem.report.training import fig_training, training_curves
from tests.test_report import ENSEMBLE_MEANS, IDENTITIES, SEED_MEANS, inputs  # noqa: F401 (fixture)


def test_metrics_hold_each_setups_headline_numbers(inputs):  # noqa: F811
    root, scores, probes = inputs
    table1(scores, probes, root / "table1.csv", n_boot=50, identities=IDENTITIES)
    table2(scores, root / "table2.csv", identities=IDENTITIES)
    subset_summary(scores, root / "subsets.csv", n_boot=50, identities=IDENTITIES)
    out = root / "metrics.json"
    tree = metrics_from_tables(root / "table1.csv", root / "table2.csv", root / "subsets.csv", probes, out)
    assert json.loads(out.read_text()) == tree
    mae = tree["cifar10"]["mae-vit_tiny"]
    assert mae["sslmem"] == pytest.approx(ENSEMBLE_MEANS["S_C"])
    assert mae["sslmem_pair_mean"] == pytest.approx((SEED_MEANS[0]["S_C"] + SEED_MEANS[1]["S_C"]) / 2)
    assert mae["m_candidates_minus_shared"] == pytest.approx(ENSEMBLE_MEANS["S_C"] - ENSEMBLE_MEANS["S_S"])
    assert mae["probe_top1"] == pytest.approx(65.0)  # f encoders only: 60 % and 70 %
    assert "knn_top1" not in mae  # these probe files have no kNN column: left out, not NaN
    expected_p = pd.read_csv(root / "table2.csv").query("estimate == 'ensemble' and setup == 'mae-vit_tiny'")
    for row in expected_p.itertuples():
        assert mae[f"p_{row.hypothesis_key}"] == pytest.approx(row.p_value, rel=1e-5)
    assert tree["fashion_mnist"]["simclr-resnet18"]["probe_top1"] == pytest.approx(80.0)


def write_log(path, role, seed, losses):
    rows = [dict(dataset="fashion_mnist", setup="simclr-resnet18", method="simclr", arch="resnet18", seed=seed,
                 role=role, epoch=epoch, loss=loss, lr=0.1, seconds=1.0, images_per_second=100.0)
            for epoch, loss in enumerate(losses, start=1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(TRAIN_LOG_COLUMNS)).to_csv(path, index=False)
    return path


def test_training_curves_stack_the_logs_and_the_figure_draws_one_line_per_encoder(tmp_path):
    logs = [write_log(tmp_path / "g0.csv", "g", 0, [3.0, 2.0]), write_log(tmp_path / "f0.csv", "f", 0, [2.5, 1.5, 1.0])]
    curves = training_curves(logs, tmp_path / "curves.csv")
    assert list(curves.columns) == list(TRAIN_LOG_COLUMNS)
    assert list(zip(curves["role"], curves["epoch"])) == [("f", 1), ("f", 2), ("f", 3), ("g", 1), ("g", 2)]
    fig_training(tmp_path / "curves.csv", tmp_path / "fig.png")
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        training_curves([tmp_path / "missing.csv"], tmp_path / "x.csv")
