"""ClassMem beside UnitMem (localization paper, Fig. 3): the measure on hand-computed class means and its undefined
cases, the class-balanced sample, the paired test, the table and figure on synthetic files, the settings' and the
stage's refusals, and one build of the `classmem` target through Snakemake on the `test` preset."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats as scipy_stats

from sslmem import config
from sslmem.artifacts import CLASSMEM_COLUMNS
from sslmem.config import ConfigError
from sslmem.data.splits import SplitError
from sslmem.measures.unitmem import class_memorization, unit_memorization
from sslmem.pipeline.classmem import class_balanced_sample, classmem_frame, run_classmem
from sslmem.report.classmem import CLASSMEM_TABLE_COLUMNS, classmem_fig, classmem_table, unit_vs_class
from sslmem.stats import wilcoxon_signed_rank
from sslmem.plan import resolve_settings

from workflow_copy import copy_built_workflow, copy_workflow, snakemake

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


# --- the measure ----------------------------------------------------------------------------------------------

# Six points of three classes (labels 3, 3, 7, 7, 9, 9), four units. Class means per unit:
#   unit 0: 2, 2, 0  -> max 2 (class 3, the first of the tie), others (2 + 0) / 2 = 1 -> (2 − 1) / 3 = 1/3
#   unit 1: 0, 3, 1  -> max 3 (class 7), others 0.5            -> 2.5 / 3.5 = 5/7
#   unit 2: −1, −1, 4 -> max 4 (class 9), others −1 < 0        -> NaN (GELU-like, negative on average)
#   unit 3: 0, 0, 0  -> a dead unit, denominator 0             -> NaN
MEANS = torch.tensor([
    [1.0, 0.0, -1.0, 0.0],
    [3.0, 0.0, -1.0, 0.0],
    [2.0, 2.0, -2.0, 0.0],
    [2.0, 4.0, 0.0, 0.0],
    [0.0, 1.0, 4.0, 0.0],
    [0.0, 1.0, 4.0, 0.0],
])
LABELS = np.array([3, 3, 7, 7, 9, 9])


def test_classmem_compares_the_most_activating_class_with_the_other_classes():
    classmem, argmax_class = class_memorization(MEANS, LABELS)
    assert classmem[0].item() == pytest.approx(1 / 3)
    assert classmem[1].item() == pytest.approx(5 / 7)
    assert math.isnan(classmem[2].item()) and math.isnan(classmem[3].item())
    assert argmax_class[:3].tolist() == [3, 7, 9]  # the class's label, not its row
    # With the median of the other classes (measure.unitmem.others, the published code's choice for UnitMem), as
    # UnitMem computes it on the class means (torch's median: the lower of two middle values, so unit 1's others
    # 0 and 1 give 0 and ClassMem 1).
    median, _ = class_memorization(MEANS, LABELS, others="median")
    class_means = torch.stack([MEANS[LABELS == label].mean(dim=0) for label in (3, 7, 9)])
    torch.testing.assert_close(median, unit_memorization(class_means, others="median")[0].double(), equal_nan=True)
    assert median[1].item() == pytest.approx(1.0)


def test_classmem_is_unitmem_when_every_class_has_one_point_and_ignores_the_order_of_points():
    means = torch.rand(5, 7, generator=torch.Generator().manual_seed(0))
    labels = np.array([4, 0, 3, 1, 2])
    classmem, argmax_class = class_memorization(means, labels)
    unitmem, argmax_point = unit_memorization(means)
    torch.testing.assert_close(classmem, unitmem)
    assert argmax_class.tolist() == labels[argmax_point.numpy()].tolist()
    order = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    shuffled, _ = class_memorization(MEANS[order], LABELS[order.numpy()])
    torch.testing.assert_close(shuffled, class_memorization(MEANS, LABELS)[0], equal_nan=True)


def test_a_unit_driven_by_a_class_has_classmem_above_unitmem_and_one_driven_by_a_point_below():
    # Eight points of two classes, every unit at 1 by default. Unit 0: the four points of class 1 at 3 (a class
    # memoriser); unit 1: point 0 alone at 5 (a point memoriser).
    means = torch.ones(8, 2)
    means[4:, 0] = 3.0
    means[0, 1] = 5.0
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    classmem, _ = class_memorization(means, labels)
    unitmem, _ = unit_memorization(means)
    # Unit 0: class means 1, 3 -> ClassMem 2/4; UnitMem: max 3, others (4 + 9) / 7 -> (8/7) / (34/7) = 4/17.
    assert classmem[0].item() == pytest.approx(0.5) and unitmem[0].item() == pytest.approx(4 / 17)
    # Unit 1: UnitMem (5 − 1) / (5 + 1) = 2/3; class means (5 + 3) / 4 = 2 and 1 -> ClassMem 1/3.
    assert unitmem[1].item() == pytest.approx(2 / 3) and classmem[1].item() == pytest.approx(1 / 3)


@pytest.mark.parametrize("means, labels, needle", [
    (torch.zeros(4), [0, 0, 1, 1], "shape [N, units]"),
    (torch.zeros(4, 2), [0, 1, 1], "one label per point: 4 points"),
    (torch.zeros(4, 2), [[0, 1], [1, 0]], "one label per point"),
    (torch.zeros(4, 2), [1, 1, 1, 1], "at least 2 classes, got 1"),
    (torch.zeros(4, 2), [0, -1, 1, 1], "1 points have no class"),
    (torch.zeros(4, 2), [0.0, 1.0, 0.0, 1.0], "integer class ids"),
])
def test_classmem_refuses_what_it_cannot_average(means, labels, needle):
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        class_memorization(means, labels)


# --- the paired test ------------------------------------------------------------------------------------------

def test_the_wilcoxon_test_is_scipys_on_the_units_where_both_are_defined():
    x = np.array([0.5, 0.4, np.nan, 0.7, 0.2, 0.9, 0.35])
    y = np.array([0.1, 0.3, 0.2, 0.6, 0.25, np.nan, 0.05])
    result = wilcoxon_signed_rank(x, y)
    keep = [0, 1, 3, 4, 6]
    expected = scipy_stats.wilcoxon(x[keep] - y[keep])
    assert result.n == 5
    assert result.statistic == pytest.approx(expected.statistic) and result.p_value == pytest.approx(expected.pvalue)
    empty = wilcoxon_signed_rank([0.2, 0.3], [0.2, 0.3])  # no difference to rank
    assert math.isnan(empty.p_value) and empty.n == 2
    with pytest.raises(ValueError, match="paired"):
        wilcoxon_signed_rank([1, 2], [1])


def test_unit_vs_class_counts_units_above_the_line_over_defined_units():
    row = unit_vs_class([0.5, 0.2, 0.4, np.nan, 0.3], [0.1, 0.3, 0.4, 0.2, np.nan])
    assert (row["n_units_compared"], row["n_undefined_units"]) == (3, 2)
    assert row["fraction_unitmem_above_classmem"] == pytest.approx(1 / 3)  # a tie is not above
    assert row["unitmem_mean"] == pytest.approx(1.1 / 3) and row["classmem_median"] == pytest.approx(0.3)
    assert row["unitmem_minus_classmem_mean"] == pytest.approx((0.4 - 0.1 + 0) / 3)


# --- the sample -----------------------------------------------------------------------------------------------

def split_table() -> pd.DataFrame:
    """A split of 3 classes: S_S holds 6, 5 and 4 points of classes 0, 1, 2 (ids 0-14); S_C 3 per class (ids
    100-108); S_I and S_E 2 per class."""
    rows = []
    for label, count in ((0, 6), (1, 5), (2, 4)):
        rows += [("S_S", label)] * count
    rows += [("S_C", label) for label in (0, 1, 2) for _ in range(3)]
    table = pd.DataFrame(rows, columns=["subset", "label"])
    table["point_id"] = np.r_[np.arange(15), 100 + np.arange(9)]
    extra = pd.DataFrame({"subset": ["S_I"] * 6 + ["S_E"] * 6, "label": [0, 1, 2] * 4,
                          "point_id": np.r_[200 + np.arange(6), np.arange(6)]})
    table = pd.concat([table, extra], ignore_index=True)
    table["source"] = np.where(table["subset"] == "S_E", "test", "train")
    return table[["point_id", "source", "subset", "label"]]


def test_the_sample_is_balanced_seeded_and_from_the_chosen_subset_only():
    table = split_table()
    sample = class_balanced_sample(table, "S_S", points_per_class=4, seed=0)
    assert list(sample.columns) == ["point_id", "source", "subset", "label"]
    assert (sample["subset"] == "S_S").all() and sample["label"].value_counts().to_dict() == {0: 4, 1: 4, 2: 4}
    assert sample["label"].is_monotonic_increasing and not sample.duplicated().any()
    for _, rows in sample.groupby("label"):
        assert rows["point_id"].is_monotonic_increasing  # split order within a class
    shared = set(table.loc[table["subset"] == "S_S", "point_id"])
    assert set(sample["point_id"]) <= shared
    # The smallest class (4 points) is taken whole; the same seed draws the same sample, another seed another.
    assert set(sample.loc[sample["label"] == 2, "point_id"]) == {11, 12, 13, 14}
    pd.testing.assert_frame_equal(class_balanced_sample(table, "S_S", 4, seed=0), sample)
    others = [class_balanced_sample(table, "S_S", 4, seed=seed) for seed in range(1, 6)]
    assert any(not other.equals(sample) for other in others)
    candidates = class_balanced_sample(table, "S_C", points_per_class=2, seed=0)
    assert (candidates["subset"] == "S_C").all() and candidates["point_id"].min() >= 100


def test_the_sample_refuses_too_many_points_per_class_unlabelled_points_one_class_and_g_only_subsets():
    table = split_table()
    with pytest.raises(SplitError, match=r"points_per_class = 5, but class 2 has only 4 points in S_S"):
        class_balanced_sample(table, "S_S", 5, seed=0)
    unlabelled = table.assign(label=np.where(table["subset"] == "S_S", -1, table["label"]))
    with pytest.raises(SplitError, match="15 of the 15 points of S_S have no label"):
        class_balanced_sample(unlabelled, "S_S", 2, seed=0)
    one_class = table.assign(label=np.where(table["subset"] == "S_S", 1, table["label"]))
    with pytest.raises(SplitError, match="1 class"):
        class_balanced_sample(one_class, "S_S", 2, seed=0)
    with pytest.raises(SplitError, match="'S_I'"):
        class_balanced_sample(table, "S_I", 2, seed=0)


def test_the_stage_refuses_a_bad_sample_before_it_reads_the_checkpoint(tmp_path):
    from sslmem.data.splits import write_split

    split_csv = tmp_path / "split.csv"
    write_split(split_table(), split_csv, {"dataset": "toy"})
    settings = {"report": {"classmem": {"subset": "S_S", "points_per_class": 5, "seed": 0}}}
    # No checkpoint and no training settings at all: the sample's refusal comes first.
    with pytest.raises(SplitError, match="class 2 has only 4 points"):
        run_classmem(settings, tmp_path / "missing.pt", split_csv, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_the_frame_has_one_row_per_unit_with_both_measures_on_the_same_points():
    sample = pd.DataFrame({"point_id": [10, 11, 20, 21, 30, 31], "source": "train", "subset": "S_S",
                           "label": LABELS})
    meta = {"dataset": "toy", "setup": "simclr-resnet18", "method": "simclr", "arch": "resnet18", "seed": 0,
            "role": "f"}
    frame = classmem_frame(meta, sample, {"layer1": MEANS, "layer2": MEANS[:, :2] * 2},
                           {"subset": "S_S", "points_per_class": 2}, others="mean")
    assert list(frame.columns) == list(CLASSMEM_COLUMNS) and len(frame) == 6
    first = frame[frame["layer"] == "layer1"].set_index("unit")
    assert first.loc[1, "classmem"] == pytest.approx(5 / 7) and first.loc[1, "argmax_class"] == 7
    # UnitMem of unit 1: max 4 (point 21), the others' mean (0 + 0 + 2 + 1 + 1) / 5 = 0.8.
    assert first.loc[1, "unitmem"] == pytest.approx((4 - 0.8) / (4 + 0.8)) and first.loc[1, "argmax_point_id"] == 21
    assert frame[["n_points", "n_classes", "points_per_class"]].drop_duplicates().values.tolist() == [[6, 3, 2]]
    assert frame["layer_index"].tolist() == [0, 0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="means of 5 points for a sample of 6"):
        classmem_frame(meta, sample, {"layer1": MEANS[:5]}, {"subset": "S_S", "points_per_class": 2}, "mean")


# --- the table and the figure on synthetic files ------------------------------------------------------------------

def write_unit_file(path: Path, setup: str, method: str, seed: int, unitmem, classmem) -> Path:
    rows = []
    for layer_index, layer in enumerate(("layer1.0", "layer2.0")):
        for unit, (u, c) in enumerate(zip(unitmem, classmem)):
            rows.append({"dataset": "fashion_mnist", "setup": setup, "method": method, "arch": "resnet18",
                         "seed": seed, "role": "f", "layer_index": layer_index, "layer": layer, "unit": unit,
                         "unitmem": u + 0.1 * layer_index, "classmem": c, "argmax_point_id": unit,
                         "argmax_class": unit % 3, "subset": "S_S", "n_points": 30, "n_classes": 3,
                         "points_per_class": 10})
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows)[list(reversed(CLASSMEM_COLUMNS))].to_parquet(path)  # readers go by name
    return path


def synthetic_files(folder: Path) -> list[Path]:
    """SimCLR: two encoders whose units lie mostly below y = x (UnitMem > ClassMem); supervised: one encoder whose
    units lie above, one undefined."""
    return [
        write_unit_file(folder / "simclr/f0.parquet", "simclr-resnet18", "simclr", 0,
                        [0.5, 0.4, 0.3, 0.2], [0.1, 0.2, 0.1, 0.3]),
        write_unit_file(folder / "simclr/f1.parquet", "simclr-resnet18", "simclr", 1,
                        [0.6, 0.5, 0.4, 0.3], [0.2, 0.1, 0.2, 0.1]),
        write_unit_file(folder / "sup/f0.parquet", "supervised-resnet18-e15", "supervised", 0,
                        [0.1, 0.2, np.nan, 0.1], [0.5, 0.6, 0.7, 0.4]),
    ]


def test_the_table_compares_unitmem_and_classmem_per_setup_and_layer(tmp_path):
    table = classmem_table(synthetic_files(tmp_path), tmp_path / "classmem_vs_unitmem.csv")
    written = pd.read_csv(tmp_path / "classmem_vs_unitmem.csv")
    assert list(written.columns) == CLASSMEM_TABLE_COLUMNS and len(written) == 4
    assert written[["setup", "layer"]].values.tolist() == [
        ["simclr-resnet18", "layer1.0"], ["simclr-resnet18", "layer2.0"],
        ["supervised-resnet18-e15", "layer1.0"], ["supervised-resnet18-e15", "layer2.0"]]
    simclr = written.iloc[0]
    assert (simclr["n_encoders"], simclr["n_units"], simclr["n_units_compared"], simclr["n_undefined_units"]) == (2, 4, 8, 0)
    assert not simclr["supervised"] and simclr["fraction_unitmem_above_classmem"] == pytest.approx(7 / 8)
    assert simclr["unitmem_mean"] == pytest.approx(np.mean([0.5, 0.4, 0.3, 0.2, 0.6, 0.5, 0.4, 0.3]))
    expected = scipy_stats.wilcoxon(np.array([0.5, 0.4, 0.3, 0.2, 0.6, 0.5, 0.4, 0.3])
                                    - np.array([0.1, 0.2, 0.1, 0.3, 0.2, 0.1, 0.2, 0.1]))
    assert simclr["wilcoxon_p"] == pytest.approx(expected.pvalue)
    supervised = written.iloc[2]
    assert supervised["supervised"] and (supervised["n_units_compared"], supervised["n_undefined_units"]) == (3, 1)
    assert supervised["fraction_unitmem_above_classmem"] == 0.0
    assert supervised["classmem_mean"] == pytest.approx(0.5)
    assert table["points_per_class"].tolist() == [10] * 4


def test_the_figure_is_written_and_the_readers_refuse_what_is_not_theirs(tmp_path):
    files = synthetic_files(tmp_path)
    classmem_fig(files, tmp_path / "classmem_fig.png")
    assert (tmp_path / "classmem_fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="report.classmem.setups"):
        classmem_table([], tmp_path / "t.csv")
    with pytest.raises(FileNotFoundError, match="sslmem classmem"):
        classmem_table([tmp_path / "nope.parquet"], tmp_path / "t.csv")
    frame = pd.read_parquet(files[0])
    frame.drop(columns="classmem").to_parquet(files[0])
    with pytest.raises(ValueError, match="missing column"):
        classmem_table(files, tmp_path / "t.csv")


# --- settings ---------------------------------------------------------------------------------------------------

@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def refused(raw: dict, classmem: dict, *needles: str) -> None:
    raw["presets"]["test"]["report"]["classmem"] = {**raw["presets"]["test"]["report"]["classmem"], **classmem}
    with pytest.raises(ConfigError) as error:
        resolve_settings(raw, "test", check_roots=False)
    for needle in needles:
        assert needle in str(error.value), f"{needle!r} not in {error.value}"


def test_an_unknown_setup_and_a_dataset_it_does_not_train_on_are_refused(raw):
    refused(raw, {"setups": ["nope"]}, "report.classmem.setups: 'nope' is not a setup of experiment.setups",
            "'simclr-resnet18'")
    refused(raw, {"setups": ["simclr-resnet18"], "datasets": ["cifar10"]}, "'simclr-resnet18' trains on ['fashion_mnist'], none of "
            "report.classmem.datasets ['cifar10']")


def test_more_points_per_class_than_the_subset_holds_are_refused(raw):
    # The test preset's pool of 200: |S_S| = 160, |S_C| = 20, ten classes.
    refused(raw, {"points_per_class": 17}, "report.classmem.points_per_class: 17 points of each of fashion_mnist's "
            "10 classes are 170 points, but its S_S has 160; use at most 16")
    refused(raw, {"subset": "S_C", "points_per_class": 3}, "its S_C has 20; use at most 2")
    refused(raw, {"subset": "S_I"}, "report.classmem.subset")
    refused(raw, {"points_per_class": 0}, "report.classmem.points_per_class")


def test_a_dataset_without_labels_is_refused_and_can_be_left_out(raw):
    test = raw["presets"]["test"]
    test["experiment"]["datasets"] = ["fashion_mnist", "stl10"]
    test["experiment"]["setups"] = [
        {"method": "simclr", "arch": "resnet18"}, {"method": "mae", "arch": "vit_tiny", "datasets": ["fashion_mnist"]},
        {"name": "supervised-resnet18-e1", "method": "supervised", "arch": "resnet18", "datasets": ["fashion_mnist"],
         "recipe": {"epochs": 1, "warmup_epochs": 0}}]
    test["splits"]["pool_size"] = {"fashion_mnist": 200, "stl10": 1000}
    refused(raw, {"setups": ["simclr-resnet18"]}, "report.classmem: the points of stl10's S_S come from its "
            "unlabelled 'unlabeled' split", "leave stl10 out (report.classmem.datasets)")
    test["report"]["classmem"]["datasets"] = ["fashion_mnist"]
    settings = resolve_settings(raw, "test", check_roots=False)
    assert config.plan.classmem_pairs(settings) == [("fashion_mnist", "simclr-resnet18")]


def test_the_presets_plan_classmem_on_their_resnet18_setups():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    default = resolve_settings(raw, "default", check_roots=False)
    assert [setup for _, setup in config.plan.classmem_pairs(default)] == [
        "simclr-resnet18", "dino-resnet18", "vicreg-resnet18", "simsiam-resnet18", "supervised-resnet18-e15",
        "supervised-resnet18-e4"]
    assert default["report"]["classmem"]["subset"] == "S_S"
    assert config.plan.classmem_pairs(resolve_settings(raw, "paper", check_roots=False)) == []


# --- end to end ---------------------------------------------------------------------------------------------

# About a minute on 2 CPU cores (2 f encoders trained for 2 epochs, then 100 points x 3 views each): in the default
# run, unlike Déjà Vu's, which trains and probes a pair first.
@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")
def test_snakemake_builds_classmem_on_the_test_preset(tmp_path, built_test_workflow):
    copy_built_workflow(built_test_workflow, tmp_path)
    snakemake(tmp_path, "classmem", "--cores", "1")
    table = pd.read_csv(tmp_path / "results/classmem_vs_unitmem.csv")
    assert list(table.columns) == CLASSMEM_TABLE_COLUMNS
    # The test preset: simclr-resnet18 and supervised-resnet18-e1, one f each, 10 of each class of S_S; 8 blocks.
    assert table.groupby("setup", sort=False)["layer"].count().to_dict() == {
        "simclr-resnet18": 8, "supervised-resnet18-e1": 8}
    assert table["supervised"].tolist() == [False] * 8 + [True] * 8
    assert (table[["n_points", "n_classes", "points_per_class", "n_encoders"]].drop_duplicates().values.tolist()
            == [[100, 10, 10, 1]])
    assert table[["unitmem_mean", "classmem_mean"]].stack().between(0, 1).all()
    assert table["fraction_unitmem_above_classmem"].between(0, 1).all()
    units = pd.read_parquet(tmp_path / "results/classmem/fashion_mnist/simclr-resnet18/f0.parquet")
    assert list(units.columns) == list(CLASSMEM_COLUMNS) and (units["role"] == "f").all()
    split = pd.read_csv(tmp_path / "results/splits/fashion_mnist.csv")
    shared = set(split.loc[split["subset"] == "S_S", "point_id"])
    assert set(units["argmax_point_id"]) <= shared  # every unit's top point is one of the sample's (S_S) points
    assert (tmp_path / "results/classmem_fig.png").stat().st_size > 0
    # Only what it needs: the plan of the target trains the f encoders of the two setups, no g, no MAE.
    from sslmem.plan import build, load_settings
    from sslmem.plan.resolve import Resolver

    plan = build(load_settings(tmp_path / "params.yaml", preset="test", check_roots=False))
    trains = Resolver(plan.kinds).jobs(plan.targets["classmem"])
    assert sorted(job.outputs[0] for job in trains if job.kind.verb == "train") == [
        "results/checkpoints/fashion_mnist/simclr-resnet18/f0.pt",
        "results/checkpoints/fashion_mnist/supervised-resnet18-e1/f0.pt"]
