"""The S_S / S_C / S_I / S_E split: a pure function of its arguments, disjoint, hashed on disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from sslmem import config
from sslmem.data.datasets import ImageSet, dataset_info
from sslmem.data.splits import (
    SUBSETS,
    SplitError,
    check_disjoint,
    make_split,
    pool_source,
    read_split,
    sidecar_path,
    split_hash,
    split_sizes,
    subset_ids,
    write_split,
)
from sslmem.pipeline.split import run_split
from sslmem.plan import resolve_settings

from fakedata import STUDIES_WITH_RUNS, write_tiny_fashion_mnist
from test_datasets import write_stl10

NUM_TRAIN, NUM_TEST = 2000, 500
TRAIN_LABELS = np.arange(NUM_TRAIN) % 10
TEST_LABELS = np.arange(NUM_TEST) % 10
PAPER_FRACTIONS = {"shared": 0.8, "candidate": 0.1, "independent": 0.1}


def draw(seed=0, pool_size=None, fractions=PAPER_FRACTIONS, extra_size=None, dataset="fashion_mnist"):
    return make_split(dataset, seed, TRAIN_LABELS, TEST_LABELS, pool_size, fractions, extra_size)


def counts(table: pd.DataFrame) -> dict:
    return table["subset"].value_counts().reindex(SUBSETS, fill_value=0).to_dict()


# ------------------------------------------------------------------------------------------- determinism


def test_same_arguments_same_table_and_hash(tmp_path):
    first, second = draw(seed=3), draw(seed=3)
    pd.testing.assert_frame_equal(first, second)
    hash_a = write_split(first, tmp_path / "a" / "split.csv", {"seed": 3})
    hash_b = write_split(second, tmp_path / "b" / "split.csv", {"seed": 3})
    assert hash_a == hash_b
    assert (tmp_path / "a" / "split.csv").read_bytes() == (tmp_path / "b" / "split.csv").read_bytes()


def test_different_seed_or_dataset_gives_different_split():
    base = draw(seed=0)
    for other in (draw(seed=1), draw(seed=0, dataset="cifar10")):
        assert not np.array_equal(subset_ids(base, "S_C"), subset_ids(other, "S_C"))
        assert split_hash(base.to_csv(index=False).encode()) != split_hash(other.to_csv(index=False).encode())


# ------------------------------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    "pool_size, fractions, expected",
    [
        # 80/10/10 of 2000 → 1600 / 200 / 200, |S_E| = |S_C|
        (None, PAPER_FRACTIONS, {"S_S": 1600, "S_C": 200, "S_I": 200, "S_E": 200}),
        # 70/15/15 of 2000 → 1400 / 300 / 300
        (None, {"shared": 0.7, "candidate": 0.15, "independent": 0.15},
         {"S_S": 1400, "S_C": 300, "S_I": 300, "S_E": 300}),
        # 70/15/15 of a 1000-point pool → 700 / 150 / 150
        (1000, {"shared": 0.7, "candidate": 0.15, "independent": 0.15},
         {"S_S": 700, "S_C": 150, "S_I": 150, "S_E": 150}),
        # 85/7.5/7.5 of 2000 → 1700 / 150 / 150 (Table 7's other end)
        (None, {"shared": 0.85, "candidate": 0.075, "independent": 0.075},
         {"S_S": 1700, "S_C": 150, "S_I": 150, "S_E": 150}),
        # rounding: 1003 · 0.8 = 802.4 → 802; 1003 · 0.1 = 100.3 → 100; S_I = 1003 − 802 − 100 = 101
        (1003, PAPER_FRACTIONS, {"S_S": 802, "S_C": 100, "S_I": 101, "S_E": 100}),
    ],
)
def test_sizes(pool_size, fractions, expected):
    table = draw(pool_size=pool_size, fractions=fractions)
    assert counts(table) == expected
    assert sum(expected[s] for s in ("S_S", "S_C", "S_I")) == (pool_size or NUM_TRAIN)


def test_split_sizes_remainder_goes_to_independent():
    sizes = split_sizes(1003, PAPER_FRACTIONS, None)
    assert (sizes.shared, sizes.candidate, sizes.independent, sizes.extra) == (802, 100, 101, 100)


def test_explicit_extra_size():
    assert counts(draw(extra_size=37))["S_E"] == 37


def test_disjoint_and_from_the_right_split():
    table = draw(seed=5, pool_size=1500)
    assert not table.duplicated(["source", "point_id"]).any()
    train_parts = [set(subset_ids(table, s)) for s in ("S_S", "S_C", "S_I")]
    assert not (train_parts[0] & train_parts[1] or train_parts[0] & train_parts[2] or train_parts[1] & train_parts[2])
    assert set(table.loc[table.subset == "S_E", "source"]) == {"test"}
    assert set(table.loc[table.subset != "S_E", "source"]) == {"train"}
    assert max(max(p) for p in train_parts) < NUM_TRAIN
    assert subset_ids(table, "S_E").max() < NUM_TEST
    # labels are carried from the right split
    rows = table[table.source == "train"]
    assert np.array_equal(rows.label.to_numpy(), TRAIN_LABELS[rows.point_id.to_numpy()])


# ------------------------------------------------------------------------------------------ bad arguments


def test_pool_larger_than_train_split():
    with pytest.raises(SplitError, match=r"pool_size=2001 exceeds the 2000 training images of fashion_mnist"):
        draw(pool_size=NUM_TRAIN + 1)


def test_extra_larger_than_test_split():
    with pytest.raises(SplitError, match=r"S_E of 501 points exceeds the 500 test images"):
        draw(extra_size=NUM_TEST + 1)


def test_fractions_must_sum_to_one():
    with pytest.raises(SplitError, match="must sum to 1"):
        draw(fractions={"shared": 0.7, "candidate": 0.1, "independent": 0.1})


# -------------------------------------------------------------------------------------------- on disk


def test_write_read_round_trip(tmp_path):
    table = draw(seed=2, pool_size=300)
    path = tmp_path / "splits" / "fashion_mnist.csv"
    digest = write_split(table, path, {"dataset": "fashion_mnist", "split_seed": 2})
    loaded, loaded_digest = read_split(path)
    pd.testing.assert_frame_equal(loaded, table)
    assert loaded_digest == digest == split_hash(path.read_bytes())
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["sha256"] == digest
    assert sidecar["counts"] == {"S_S": 240, "S_C": 30, "S_I": 30, "S_E": 30}
    assert sidecar["split_seed"] == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["fashion_mnist.csv", "fashion_mnist.json"]  # no temp


def test_tampered_csv_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "split.csv"
    write_split(draw(pool_size=300), path, {})
    data = bytearray(path.read_bytes())
    # Change one byte: the last digit of the last label (still a valid CSV, so only the hash can tell).
    position = len(data) - 2
    data[position] = ord("0") if data[position] != ord("0") else ord("1")
    path.write_bytes(bytes(data))
    with pytest.raises(SplitError, match="does not match") as error:
        read_split(path)
    assert str(path) in str(error.value)


def test_truncated_csv_is_refused(tmp_path):
    path = tmp_path / "split.csv"
    write_split(draw(pool_size=300), path, {})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SplitError, match="modified or truncated"):
        read_split(path)


def test_missing_files(tmp_path):
    with pytest.raises(SplitError, match="split file not found"):
        read_split(tmp_path / "nope.csv")
    path = tmp_path / "split.csv"
    write_split(draw(pool_size=300), path, {})
    sidecar_path(path).unlink()
    with pytest.raises(SplitError, match="hash file not found"):
        read_split(path)


def test_corrupt_sidecar(tmp_path):
    path = tmp_path / "split.csv"
    write_split(draw(pool_size=300), path, {})
    sidecar_path(path).write_text("{not json")
    with pytest.raises(SplitError, match="unreadable split hash file"):
        read_split(path)


def write_by_hand(path, rows):
    """A split CSV written without write_split, with a matching hash (so only the content checks can catch it)."""
    csv_bytes = pd.DataFrame(rows, columns=["point_id", "source", "subset", "label"]).to_csv(index=False).encode()
    path.write_bytes(csv_bytes)
    sidecar_path(path).write_text(json.dumps({"sha256": split_hash(csv_bytes)}))


@pytest.mark.parametrize(
    "rows, message",
    [
        # train point 1 is in S_S and in S_C
        ([(0, "train", "S_S", 0), (1, "train", "S_S", 1), (1, "train", "S_C", 1), (0, "test", "S_E", 0)], "overlap"),
        # train point 2 in S_C and S_I
        ([(0, "train", "S_S", 0), (2, "train", "S_C", 2), (2, "train", "S_I", 2), (0, "test", "S_E", 0)], "overlap"),
        # S_E drawn from the training split
        ([(0, "train", "S_S", 0), (1, "train", "S_C", 1), (2, "train", "S_E", 2)], "S_E must hold test-split"),
        # S_I drawn from the test split
        ([(0, "train", "S_S", 0), (1, "test", "S_I", 1), (2, "test", "S_E", 2)], "train-split points only"),
    ],
)
def test_hand_written_bad_subsets_are_refused(tmp_path, rows, message):
    path = tmp_path / "split.csv"
    write_by_hand(path, rows)
    with pytest.raises(SplitError, match=message) as error:
        read_split(path)
    assert str(path) in str(error.value)


def test_same_id_in_train_and_test_is_not_an_overlap():
    # (source, point_id) identifies a point: train image 0 and test image 0 are different images.
    table = pd.DataFrame(
        [(0, "train", "S_S", 0), (1, "train", "S_C", 1), (2, "train", "S_I", 2), (0, "test", "S_E", 0)],
        columns=["point_id", "source", "subset", "label"],
    )
    check_disjoint(table)


def test_write_split_refuses_overlapping_table(tmp_path):
    table = draw(pool_size=300)
    table.loc[table.index[-1], ["point_id", "source"]] = [table.point_id.iloc[0], "train"]
    table.loc[table.index[-1], "subset"] = "S_C"
    with pytest.raises(SplitError, match="overlap"):
        write_split(table, tmp_path / "split.csv", {})
    assert not (tmp_path / "split.csv").exists()


def test_split_sizes_as_counts_replace_pool_and_fractions():
    """Table 7 keeps the number of training points per encoder fixed across overlap ratios; ImageNet's split is
    85000/5000/5000 (App. A): sizes as counts."""
    from sslmem.data.splits import make_split

    train, test = np.arange(2000) % 10, np.arange(500) % 10
    counts = {"shared": 700, "candidate": 150, "independent": 150}
    table = make_split("fashion_mnist", 0, train, test, None, {"shared": 0.8, "candidate": 0.1, "independent": 0.1},
                       None, counts=counts)
    sizes = table["subset"].value_counts().to_dict()
    assert sizes == {"S_S": 700, "S_C": 150, "S_I": 150, "S_E": 150}
    with pytest.raises(SplitError, match=r"splits.counts.fashion_mnist \(2001 points\) exceeds the 2000"):
        make_split("fashion_mnist", 0, train, test, None, {"shared": 0.8, "candidate": 0.1, "independent": 0.1},
                   None, counts={"shared": 1901, "candidate": 50, "independent": 50})


# ------------------------------------------------------------------------- pool split (STL-10: unlabelled)
#
# STL-10's pool S_S/S_C/S_I is drawn from its 100k unlabelled images (the paper's 50k STL-10 pool, App. A), S_E
# from its test split; every other dataset draws its pool from "train", byte for byte as before.

REPO = Path(__file__).resolve().parents[1]


def settings_with(edits: dict) -> dict:
    """The real params.yaml's `test` preset with `edits` (dotted keys under the preset) merged in, validated
    without looking at dataset roots."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    preset = raw["presets"]["test"]
    for dotted, value in edits.items():
        *parents, last = dotted.split(".")
        node = preset
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return resolve_settings(raw, "test", check_roots=False)


def split_edits(dataset: str, root: Path) -> dict:
    # Every value the split depends on is set here, so that the pinned bytes below do not move with the preset.
    return {
        "experiment.datasets": [dataset],
        "experiment.setups": [{"method": "simclr", "arch": "resnet18"}],
        "experiment.split_seed": 0,
        "report.table11": [],
        # The test preset's downstream probe and studies name fashion_mnist and its setups.
        "probe.downstream": {},
        **{f"studies.{study}.runs": [] for study in STUDIES_WITH_RUNS},
        "studies.localization.setups": [],
        "studies.localization.vit_parts.setups": [],
        "studies.localization.atypical.setups": [],
        "studies.localization.atypical.planted": False,
        "report.table12.setups": [],
        "report.classmem.setups": [],
        "report.galleries.setups": [],
        "measure.table8.runs": [],
        f"data.roots.{dataset}": str(root),
        "data.download": False,
        "splits.pool_size": 100,
        "splits.fractions": dict(PAPER_FRACTIONS),
        "splits.extra_size": None,
        "splits.counts": {},
    }


def write_tiny_stl10(root: Path, num_unlabeled: int = 130, num_train: int = 12, num_test: int = 30) -> Path:
    """STL-10's binaries as published (see tests/test_datasets.py): random images, labels 0..9 (1-based on disk)."""
    rng = np.random.default_rng(1)
    for split, count in (("unlabeled", num_unlabeled), ("train", num_train), ("test", num_test)):
        images = rng.integers(0, 256, (count, 3, 96, 96), dtype=np.uint8)
        write_stl10(root, split, images, None if split == "unlabeled" else np.arange(count) % 10)
    return root


# sha256 of the split bytes as drawn before pools could come from another split than "train" (commit 8f7b360).
PINNED_FASHION_MNIST = {
    "make_split": "1e76c7211d75b1d16251d3ea5b8450923b2d4171f9012eaf2b4fe6dfbb981730",
    "make_split counts": "d5cdaf188dc6594ca9be1cf0f585355ff33b5435ef6a40a76673343e82fa7745",
    "run_split csv": "6a50ab32f2657a0de75f85b11c51e2de5993ae39e6bce6e7c436e7f62d59f74a",
    "run_split json": "b20dbb0e6398d7dda96df98a85c425979812004333bd8ab56f9377f582529712",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fashion_mnist_split_is_byte_identical_to_before(tmp_path):
    table = make_split("fashion_mnist", 0, TRAIN_LABELS, TEST_LABELS, 1500, PAPER_FRACTIONS, None)
    assert sha(table.to_csv(index=False).encode()) == PINNED_FASHION_MNIST["make_split"]
    by_counts = make_split("fashion_mnist", 0, TRAIN_LABELS, TEST_LABELS, None, PAPER_FRACTIONS, None,
                           counts={"shared": 700, "candidate": 150, "independent": 150})
    assert sha(by_counts.to_csv(index=False).encode()) == PINNED_FASHION_MNIST["make_split counts"]
    # The stage, on Fashion-MNIST's IDX files: the CSV and its sidecar (no pool_split key for a "train" pool).
    root = write_tiny_fashion_mnist(tmp_path / "fashion-mnist", num_train=150, num_test=60)
    out = tmp_path / "splits" / "fashion_mnist.csv"
    run_split(settings_with(split_edits("fashion_mnist", root)), "fashion_mnist", out)
    assert sha(out.read_bytes()) == PINNED_FASHION_MNIST["run_split csv"]
    assert sha(sidecar_path(out).read_bytes()) == PINNED_FASHION_MNIST["run_split json"]


def test_stl10_split_draws_its_pool_from_the_unlabeled_split(tmp_path):
    root = write_tiny_stl10(tmp_path / "stl10")
    out = tmp_path / "splits" / "stl10.csv"
    digest = run_split(settings_with(split_edits("stl10", root)), "stl10", out)
    table, read_digest = read_split(out)
    assert read_digest == digest
    assert counts(table) == {"S_S": 80, "S_C": 10, "S_I": 10, "S_E": 10}
    pool = table[table.subset != "S_E"]
    assert set(pool.source) == {"unlabeled"} and set(table.loc[table.subset == "S_E", "source"]) == {"test"}
    assert pool_source(table) == "unlabeled"
    # 100 of the 130 unlabelled images, each in one subset; labels -1; S_E's labels from the test split.
    assert not pool.duplicated("point_id").any() and pool.point_id.max() < 130
    assert (pool.label == -1).all()
    extra = table[table.subset == "S_E"]
    assert extra.point_id.max() < 30 and np.array_equal(extra.label, extra.point_id % 10)
    assert json.loads(sidecar_path(out).read_text())["pool_split"] == "unlabeled"
    # The draw is make_split's with the same sizes: the pool split changes the source, not the random draws.
    same_sizes = make_split("stl10", 0, np.zeros(130), np.zeros(30), 100, PAPER_FRACTIONS, None, pool_split="train")
    np.testing.assert_array_equal(same_sizes.point_id, table.point_id)


def test_make_split_names_its_pool_split():
    unlabeled = np.full(NUM_TRAIN, -1)
    table = make_split("stl10", 0, unlabeled, TEST_LABELS, 1000, PAPER_FRACTIONS, None)  # the registry's pool
    assert set(table.loc[table.subset != "S_E", "source"]) == {"unlabeled"}
    check_disjoint(table, "unlabeled")
    with pytest.raises(SplitError, match="must hold train-split points only"):
        check_disjoint(table, "train")
    with pytest.raises(SplitError, match=r"pool_size=2001 exceeds the 2000 images of the 'unlabeled' split of stl10"):
        make_split("stl10", 0, unlabeled, TEST_LABELS, NUM_TRAIN + 1, PAPER_FRACTIONS, None)
    with pytest.raises(SplitError, match="pool_split 'test'"):
        make_split("stl10", 0, unlabeled, TEST_LABELS, 1000, PAPER_FRACTIONS, None, pool_split="test")


@pytest.mark.parametrize(
    "rows, message",
    [
        # one pool point from the labelled train split, the others from the unlabelled one
        ([(0, "unlabeled", "S_S", -1), (1, "train", "S_C", 1), (2, "unlabeled", "S_I", -1), (0, "test", "S_E", 0)],
         r"one pool split, but name \['train', 'unlabeled'\]"),
        # S_E from the unlabelled split
        ([(0, "unlabeled", "S_S", -1), (1, "unlabeled", "S_C", -1), (2, "unlabeled", "S_E", -1)],
         "S_E must hold test-split"),
        # an unknown source
        ([(0, "extra", "S_S", -1), (1, "extra", "S_C", -1), (2, "extra", "S_I", -1), (0, "test", "S_E", 0)],
         r"train-split points only \(the pool split\), found \['extra'\]"),
    ],
)
def test_hand_written_bad_pool_sources_are_refused(tmp_path, rows, message):
    path = tmp_path / "split.csv"
    write_by_hand(path, rows)
    with pytest.raises(SplitError, match=message):
        read_split(path)


def test_unlabeled_pool_and_test_points_with_equal_ids_are_not_an_overlap(tmp_path):
    rows = [(0, "unlabeled", "S_S", -1), (1, "unlabeled", "S_C", -1), (2, "unlabeled", "S_I", -1),
            (0, "test", "S_E", 0)]
    path = tmp_path / "split.csv"
    write_by_hand(path, rows)
    table, _ = read_split(path)
    assert pool_source(table) == "unlabeled"


# The train and align stages look the pool's points up in the split their `source` names. A fake load_images
# returns images that encode (split, index): channel 0 the split's code, channels 1-2 the index.
SPLIT_CODES = {"train": 1, "unlabeled": 2, "test": 3, "digits/train": 4}
SPLIT_LENGTHS = {"train": 40, "unlabeled": 300, "test": 60, "digits/train": 50}


def coded_images(split: str) -> ImageSet:
    count = SPLIT_LENGTHS[split]
    images = np.zeros((count, 3, 2, 2), dtype=np.uint8)
    images[:, 0] = SPLIT_CODES[split]
    images[:, 1] = (np.arange(count) // 256)[:, None, None]
    images[:, 2] = (np.arange(count) % 256)[:, None, None]
    labels = np.full(count, -1) if split == "unlabeled" else np.arange(count) % 10
    return ImageSet(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), dataset_info("stl10"))


def decode(images: torch.Tensor) -> tuple[list[str], np.ndarray]:
    names = {code: split for split, code in SPLIT_CODES.items()}
    pixels = images[:, :, 0, 0].numpy().astype(np.int64)
    return [names[code] for code in pixels[:, 0]], pixels[:, 1] * 256 + pixels[:, 2]


@pytest.fixture
def fake_load_images(monkeypatch) -> list[str]:
    from sslmem.pipeline import common

    loaded: list[str] = []

    def load_images(settings, dataset, split):
        loaded.append(split)
        return coded_images(split)

    def load_images_at(settings, dataset, split, image_size, channels):  # a foreign (planted) source
        loaded.append(f"{dataset}/{split}")
        return coded_images(f"{dataset}/{split}")

    monkeypatch.setattr(common, "load_images", load_images)
    monkeypatch.setattr(common, "load_images_at", load_images_at)
    monkeypatch.setattr(common, "image_size_of", lambda settings, dataset: 2)
    return loaded


def stl10_table() -> pd.DataFrame:
    return make_split("stl10", 0, np.full(SPLIT_LENGTHS["unlabeled"], -1), np.arange(SPLIT_LENGTHS["test"]) % 10,
                      200, PAPER_FRACTIONS, None)


@pytest.mark.parametrize("role, own", [("f", "S_C"), ("g", "S_I")])
def test_train_stage_takes_the_pool_from_the_unlabeled_images(fake_load_images, role, own):
    from sslmem.pipeline.train import training_data

    from sslmem.data.training_sets import as_table, protocol_ids

    table = stl10_table()
    data, info = training_data({}, "stl10", as_table(protocol_ids(table, role), "unlabeled"))
    assert fake_load_images == ["unlabeled"]  # never the labelled train split
    expected = np.concatenate([subset_ids(table, "S_S"), subset_ids(table, own)])
    np.testing.assert_array_equal(data.point_ids, expected)
    splits_of_rows, ids_of_rows = decode(data.images)
    assert set(splits_of_rows) == {"unlabeled"}
    np.testing.assert_array_equal(ids_of_rows, expected)
    assert (data.labels == -1).all() and info == dataset_info("stl10")


def test_train_stage_takes_a_train_pool_from_the_train_images(fake_load_images):
    from sslmem.pipeline.train import training_data

    table = make_split("fashion_mnist", 0, np.arange(40) % 10, np.arange(60) % 10, 30, PAPER_FRACTIONS, None)
    from sslmem.data.training_sets import as_table, protocol_ids

    data, _ = training_data({}, "fashion_mnist", as_table(protocol_ids(table, "f"), "train"))
    assert fake_load_images == ["train"]
    splits_of_rows, ids_of_rows = decode(data.images)
    assert set(splits_of_rows) == {"train"}
    np.testing.assert_array_equal(ids_of_rows, data.point_ids)
    np.testing.assert_array_equal(data.labels.numpy(), data.point_ids % 10)


def test_align_measures_pool_points_on_the_unlabeled_images(fake_load_images):
    from sslmem.pipeline.align import measurement_images, measurement_set

    table = stl10_table()
    points = measurement_set({"measure": {"shared_sample": None, "seed": 0}}, table)
    images = measurement_images({}, "stl10", points)
    assert sorted(fake_load_images) == ["test", "unlabeled"]  # each once, never the labelled train split
    splits_of_rows, ids_of_rows = decode(images)
    assert splits_of_rows == list(points.source)
    assert [s for s, subset in zip(splits_of_rows, points.subset) if subset != "S_E"] == ["unlabeled"] * 60
    np.testing.assert_array_equal(ids_of_rows, points.point_id)


def planted_table() -> pd.DataFrame:
    """A Fashion-MNIST split whose first three candidates are replaced by points of digits' train split."""
    table = make_split("fashion_mnist", 0, np.arange(40) % 10, np.arange(60) % 10, 30, PAPER_FRACTIONS, None)
    candidates = table.index[table.subset == "S_C"][:3]
    table.loc[candidates, "source"] = "digits/train"
    table.loc[candidates, "point_id"] = [7, 11, 42]
    return table


def test_a_pool_with_planted_foreign_points_trains_on_both_sources_in_slot_order(fake_load_images):
    from sslmem.data.splits import check_disjoint, pool_source
    from sslmem.data.training_sets import as_table, check_training_set, protocol_rows
    from sslmem.pipeline.train import training_data

    table = planted_table()
    check_disjoint(table)  # a foreign source is allowed in the pool
    assert pool_source(table) == "train"
    rows = protocol_rows(table, "f")
    training_set = as_table(rows["point_id"], rows["source"])
    check_training_set(training_set)
    data, _ = training_data({}, "fashion_mnist", training_set)
    assert sorted(fake_load_images) == ["digits/train", "train"]
    splits_of_rows, ids_of_rows = decode(data.images)
    assert splits_of_rows == list(rows["source"])
    np.testing.assert_array_equal(ids_of_rows, rows["point_id"].to_numpy())
    # g trains on S_S and S_I: no planted point
    assert set(protocol_rows(table, "g")["source"]) == {"train"}


def test_the_same_point_id_from_two_sources_is_two_points_but_twice_from_one_is_refused():
    from sslmem.data.training_sets import TrainingSetError, as_table, check_training_set

    check_training_set(as_table([3, 3], ["train", "digits/train"]))
    with pytest.raises(TrainingSetError, match="more than once"):
        check_training_set(as_table([3, 3], ["digits/train", "digits/train"]))


def test_a_foreign_source_is_the_only_exception_to_one_pool_split():
    from sslmem.data.splits import SplitError, check_disjoint

    table = planted_table()
    table.loc[table.index[table.subset == "S_S"][:1], "source"] = "test"
    with pytest.raises(SplitError, match="pool split"):
        check_disjoint(table)
