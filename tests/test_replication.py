"""The replication study: Tables 2 and 16 repeated in independent groups of seeds, counted per claim."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sslmem.artifacts import SCORE_COLUMNS
from sslmem.config import ConfigError
from sslmem.plan import build, resolve_settings
from sslmem.report.replication import REPLICATION_COLUMNS, replication_table
from sslmem.studies import replication

SUBSET_SHIFT = {"S_C": 0.3, "S_S": 0.0, "S_I": -0.1, "S_E": 0.0}


def score_file(path, setup: str, seeds, candidate_shift) -> pd.DataFrame:
    """Scores of one group: 4 points per subset per pair, S_C shifted by `candidate_shift[seed]` in each pair."""
    rows = []
    for estimate, seed in [("ensemble", -1), *(("pair", s) for s in seeds)]:
        for subset, base in SUBSET_SHIFT.items():
            for point in range(4):
                shift = candidate_shift.get(seed, 0.3) if subset == "S_C" else base
                m = shift + (point - 1.5) * 0.01
                rows.append({"dataset": "fashion_mnist", "setup": setup, "method": "simclr", "arch": "resnet18",
                             "representation": "projection", "estimate": estimate, "seed": seed, "point_id": point,
                             "source": "train", "subset": subset, "label": 0, "align_f": 1.0, "align_g": 1.0 + m,
                             "m_raw": m, "m": m})
    frame = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    frame.to_parquet(path, index=False)
    return frame


def test_each_group_is_tested_and_the_groups_holding_are_counted(tmp_path):
    # Group 0: S_C above S_S by 0.30 in all three pairs; group 1 by 0.25, 0.30, 0.35 (holds); group 2 by -0.1, 0.05
    # and 0.02 in its pairs (the mean over pairs is 0.01: it does not hold over pairs).
    own = score_file(tmp_path / "own.parquet", "simclr-resnet18", [0, 1, 2], {})
    score_file(tmp_path / "rep1.parquet", "simclr-resnet18-rep1", [3, 4, 5], {3: 0.25, 4: 0.30, 5: 0.35})
    score_file(tmp_path / "rep2.parquet", "simclr-resnet18-rep2", [6, 7, 8], {6: -0.1, 7: 0.05, 8: 0.02})
    groups = [{"dataset": "fashion_mnist", "setup": "simclr-resnet18", "group": g,
               "group_setup": "simclr-resnet18" + ("" if g == 0 else f"-rep{g}"), "seeds": seeds}
              for g, seeds in enumerate([[0, 1, 2], [3, 4, 5], [6, 7, 8]])]
    table = replication_table([tmp_path / f for f in ("own.parquet", "rep1.parquet", "rep2.parquet")],
                              tmp_path / "replication.csv", groups=groups, alpha=0.05)
    written = pd.read_csv(tmp_path / "replication.csv")
    assert list(written.columns) == list(REPLICATION_COLUMNS)
    assert len(written) == 3 * 9  # three groups, four claims of Table 2 and five of Table 16
    claim = table[(table["table"] == "table2") & (table["hypothesis_key"] == "SC_le_SS")].set_index("group")
    # Group 1 by hand: per-pair differences 0.25, 0.30, 0.35 → mean 0.30, sd 0.05, t = 0.30 / (0.05 / sqrt 3).
    assert claim.loc[1, "pair_effect"] == pytest.approx(0.30)
    assert claim.loc[1, "pair_t"] == pytest.approx(0.30 / (0.05 / math.sqrt(3)))
    assert claim.loc[2, "pair_effect"] == pytest.approx((-0.1 + 0.05 + 0.02) / 3)
    assert claim.loc[2, "pairs_holding"] == 2 and not claim.loc[2, "claim_holds"]
    assert claim.loc[1, "claim_holds"] and claim.loc[1, "n_pairs"] == 3
    assert (claim["n_groups"] == 3).all() and (claim["groups_holding"] == 1 + int(claim.loc[0, "claim_holds"])).all()
    # Over points, group 0's ensemble S_C (0.3 ± 0.015) is far above S_S (0 ± 0.015): the paper's test holds.
    assert claim.loc[0, "point_holds"] and claim.loc[0, "mean_1"] == pytest.approx(own.query(
        "estimate == 'ensemble' and subset == 'S_C'")["m"].mean())
    assert claim["groups_holding_points"].iloc[0] == int(claim["point_holds"].sum())


def test_a_group_without_scores_is_named(tmp_path):
    score_file(tmp_path / "own.parquet", "simclr-resnet18", [0, 1], {})
    groups = [{"dataset": "fashion_mnist", "setup": "simclr-resnet18", "group": 1,
               "group_setup": "simclr-resnet18-rep1", "seeds": [3]}]
    with pytest.raises(ValueError, match="simclr-resnet18-rep1"):
        replication_table([tmp_path / "own.parquet"], tmp_path / "out.csv", groups=groups, alpha=0.05)


def settings_with(raw, runs):
    raw["presets"]["test"]["studies"]["replication"] = {"runs": runs}
    return resolve_settings(raw, "test", check_roots=False)


@pytest.fixture
def raw():
    import yaml

    from workflow_copy import REPO

    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_groups_must_not_repeat_a_seed(raw):
    with pytest.raises(ConfigError, match=r"groups\[1\]: seed 1 is in group 1 already"):
        settings_with(raw, [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "groups": [[1], [1]]}])
    with pytest.raises(ConfigError, match="seed 0 is in the setup's own seeds"):
        settings_with(raw, [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "groups": [[0]]}])
    with pytest.raises(ConfigError, match="not a setup with f/g pairs"):
        settings_with(raw, [{"setup": "nope", "datasets": ["fashion_mnist"], "groups": [[5]]}])
    with pytest.raises(ConfigError, match="groups"):  # the section's schema comes from the plugin
        settings_with(raw, [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "groups": []}])


def test_the_plan_trains_each_group_with_its_own_seeds(raw):
    settings = settings_with(raw, [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"],
                                    "groups": [[1, 2], [3]]}])
    plan = build(settings)
    runs = plan.runs.of_study("replication")
    assert sorted((run.setup, run.seed, run.role) for run in runs) == sorted(
        [("simclr-resnet18-rep1", s, r) for s in (1, 2) for r in "fg"] + [("simclr-resnet18-rep2", 3, r) for r in "fg"])
    files = plan.targets["study_replication"]
    assert files[0] == "results/replication.csv"
    assert "results/scores/fashion_mnist/simclr-resnet18.parquet" in files  # group 0: the core scores
    assert "results/studies/replication/scores/fashion_mnist/simclr-resnet18-rep2.parquet" in files
    options = replication.replication_options(settings)
    assert [g["seeds"] for g in options["groups"]] == [[0], [1, 2], [3]]
    assert np.isclose(options["alpha"], settings["stats"]["alpha"])
