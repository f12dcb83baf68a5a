"""The S_S / S_C / S_I / S_E split: a pure function of its arguments, disjoint, hashed on disk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sslmem.data.splits import (
    SUBSETS,
    SplitError,
    check_disjoint,
    make_split,
    read_split,
    sidecar_path,
    split_hash,
    split_sizes,
    subset_ids,
    write_split,
)

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
