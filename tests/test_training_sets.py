"""Training sets as files (hash, checks), the selections studies make from scores, and the in/out score."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch

from sslmem.data import training_sets as ts
from sslmem.measures.scores import in_out_scores
from sslmem.pipeline.training_set import kept_count


def split_table():
    rows = [(i, "train", subset, i % 3) for i, subset in
            zip(range(10), ["S_S"] * 6 + ["S_C"] * 2 + ["S_I"] * 2)] + [(0, "test", "S_E", 1)]
    return pd.DataFrame(rows, columns=["point_id", "source", "subset", "label"])


# --- files ------------------------------------------------------------------------------------------------


def test_a_training_set_round_trips_with_its_hash(tmp_path):
    table = ts.as_table([5, 3, 9], "train")
    digest = ts.write_training_set(table, tmp_path / "f0.csv", {"split_hash": "abc"})
    read, meta = ts.read_training_set(tmp_path / "f0.csv")
    pd.testing.assert_frame_equal(read, table)
    assert meta["sha256"] == digest == ts.training_set_hash((tmp_path / "f0.csv").read_bytes())
    assert meta["split_hash"] == "abc" and meta["size"] == 3
    assert (tmp_path / "f0.csv").read_text() == "slot,point_id,source\n0,5,train\n1,3,train\n2,9,train\n"


def test_a_hand_edited_training_set_is_refused_naming_the_file(tmp_path):
    ts.write_training_set(ts.as_table([5, 3, 9], "train"), tmp_path / "f0.csv", {"split_hash": "abc"})
    path = tmp_path / "f0.csv"
    path.write_text(path.read_text().replace("2,9,train", "2,8,train"))
    with pytest.raises(ts.TrainingSetError, match="f0.csv: content hash .* does not match f0.json"):
        ts.read_training_set(path)


@pytest.mark.parametrize("table, message", [
    (pd.DataFrame({"slot": [0, 1], "point_id": [1, 1], "source": "train"}), "more than once"),
    (pd.DataFrame({"slot": [0, 2], "point_id": [1, 2], "source": "train"}), "slots must be 0..1"),
    (pd.DataFrame({"slot": [0, 1], "point_id": [1, 2], "source": ["train", "test"]}), "several splits"),
    (pd.DataFrame({"slot": [], "point_id": [], "source": []}), "no points"),
    (pd.DataFrame({"slot": [0], "point_id": [1]}), "missing column"),
])
def test_inconsistent_training_sets_are_refused(tmp_path, table, message):
    with pytest.raises(ts.TrainingSetError, match=message):
        ts.write_training_set(table, tmp_path / "x.csv", {})
    assert not (tmp_path / "x.csv").exists()


# --- selections -------------------------------------------------------------------------------------------


def test_protocol_sets_put_shared_points_first_and_align_slots():
    split = split_table()
    assert ts.protocol_ids(split, "f").tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert ts.protocol_ids(split, "g").tolist() == [0, 1, 2, 3, 4, 5, 8, 9]
    assert ts.pool_ids(split).tolist() == list(range(10))


def test_random_halves_are_disjoint_equal_cover_every_point_and_are_seeded():
    ids = np.arange(10)
    a, b = ts.random_halves(ids, seed=3)
    assert len(a) == len(b) == 5 and not set(a) & set(b) and set(a) | set(b) == set(ids.tolist())
    assert [x.tolist() for x in ts.random_halves(ids, seed=3)] == [a.tolist(), b.tolist()]
    assert ts.random_halves(ids, seed=4)[0].tolist() != a.tolist()


def test_an_odd_pool_is_refused_rather_than_losing_a_point():
    with pytest.raises(ts.TrainingSetError, match="cannot halve 11 points"):
        ts.random_halves(np.arange(11), seed=3)


def test_top_k_breaks_ties_by_the_smaller_point_id():
    ids = [10, 11, 12, 13, 14]
    scores = [0.5, 0.9, 0.5, 0.1, 0.9]
    assert ts.top_k(ids, scores, 3).tolist() == [11, 14, 10]
    assert ts.rank_by_score(ids, scores).tolist() == [11, 14, 10, 12, 13]
    with pytest.raises(ts.TrainingSetError, match="k=6: there are 5 points"):
        ts.top_k(ids, scores, 6)
    with pytest.raises(ts.TrainingSetError, match="NaN"):
        ts.top_k(ids, [0.1, np.nan, 0, 0, 0], 1)


def test_random_k_is_seeded_and_without_replacement():
    draw = ts.random_k(np.arange(100), 10, [0, 1, 10])
    assert len(set(draw.tolist())) == 10
    assert draw.tolist() == ts.random_k(np.arange(100), 10, [0, 1, 10]).tolist()
    assert draw.tolist() != ts.random_k(np.arange(100), 10, [0, 2, 10]).tolist()


def test_without_and_keeping_keep_slot_order():
    base = np.array([7, 3, 9, 1])
    assert ts.without(base, [9, 7]).tolist() == [3, 1]
    assert ts.keeping(base, [1, 7]).tolist() == [7, 1]
    with pytest.raises(ts.TrainingSetError, match="not in the training set"):
        ts.without(base, [4])


def test_kept_count_rounds_and_keeps_at_least_one():
    assert kept_count(500, 0.96) == 480 and kept_count(25000, 0.88) == 22000 and kept_count(3, 0.01) == 1


# --- in/out scores ----------------------------------------------------------------------------------------


def test_in_out_scores_by_hand():
    # 4 encoders × 3 points; point 0 is in encoders 0, 1; point 1 in 2, 3; point 2 in 0, 2.
    align = torch.tensor([[1.0, 4.0, 2.0], [3.0, 6.0, 5.0], [5.0, 2.0, 4.0], [7.0, 4.0, 9.0]])
    member = torch.tensor([[1, 0, 1], [1, 0, 0], [0, 1, 1], [0, 1, 0]], dtype=torch.bool)
    out = in_out_scores(align, member)
    assert out["align_in"].tolist() == [2.0, 3.0, 3.0]
    assert out["align_out"].tolist() == [6.0, 5.0, 7.0]
    assert out["m_raw"].tolist() == [4.0, 2.0, 4.0]
    assert out["m"].tolist() == [2.0, 1.0, 2.0]  # / (max − min) = / 2
    assert out["n_in"].tolist() == [2, 2, 2] and out["n_out"].tolist() == [2, 2, 2]


def test_in_out_scores_refuse_a_point_without_an_out_encoder():
    with pytest.raises(ValueError, match="in every encoder or in none"):
        in_out_scores(torch.ones(2, 2), torch.tensor([[1, 1], [1, 0]], dtype=torch.bool))


def test_centering_removes_each_encoders_offset_and_keeps_one_pairs_ranking():
    from sslmem.measures.scores import center_encoders

    align = torch.tensor([[1.0, 2.0, 3.0], [10.0, 14.0, 12.0]])
    assert center_encoders(align).tolist() == [[-1.0, 0.0, 1.0], [-2.0, 2.0, 0.0]]
    member = torch.tensor([[1, 1, 0], [0, 0, 1]], dtype=torch.bool)  # one pair: points 0, 1 in encoder 0
    raw, centred = in_out_scores(align, member)["m_raw"], in_out_scores(center_encoders(align), member)["m_raw"]
    assert (raw[:2] - centred[:2]).tolist() == [10.0, 10.0]  # one constant per half: same ranking within it
