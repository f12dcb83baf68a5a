"""End to end: the whole workflow through Snakemake on the `test` preset (every stage; SimCLR, MAE and a named
supervised setup with its own recipe, which feeds Table 11).

The workflow is copied into a temporary directory so the test never touches the checkout's results/.
It runs once per test session (module fixture); the tests then check the files' content.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sslmem.data.splits import read_split
from sslmem.io import load_checkpoint

from workflow_copy import copy_built_workflow, copy_workflow, snakemake

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")

pytestmark = pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory, built_test_workflow) -> Path:
    workdir = tmp_path_factory.mktemp("workflow")
    copy_built_workflow(built_test_workflow, workdir)  # the default targets built once per session (conftest.py)
    snakemake(workdir)  # nothing left to do; a test below checks that a second run does nothing
    return workdir


def test_every_default_target_is_built(workflow_run):
    for name in ("table1.csv", "table2.csv", "table16.csv", "table15.csv", "table11.csv", "table13.csv",
                 "layermem.csv", "unitmem.csv", "subsets.csv", "fig2a.png", "fig2c.png", "layermem_fig.png"):
        path = workflow_run / "results" / name
        assert path.is_file() and path.stat().st_size > 0, name
    for name in ("fig2a.png", "fig2c.png", "layermem_fig.png"):
        assert (workflow_run / "results" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_split_is_disjoint_and_sized_by_the_preset(workflow_run):
    table, _ = read_split(workflow_run / "results/splits/fashion_mnist.csv")
    counts = table.subset.value_counts().to_dict()
    assert counts == {"S_S": 160, "S_C": 20, "S_I": 20, "S_E": 20}
    assert not table.duplicated(["source", "point_id"]).any()


def test_checkpoints_record_their_provenance(workflow_run):
    split_hash = read_split(workflow_run / "results/splits/fashion_mnist.csv")[1]
    for setup, epochs in (("simclr-resnet18", 2), ("mae-vit_tiny", 2), ("supervised-resnet18-e1", 1)):
        for role in ("f", "g"):
            payload = load_checkpoint(workflow_run / f"results/checkpoints/fashion_mnist/{setup}/{role}0.pt")
            meta = payload["meta"]
            assert meta["split_hash"] == split_hash
            assert meta["role"] == role and meta["setup"] == setup
            assert {"torch", "timm", "opacus", "device"} <= set(meta["versions"])
            log = pd.read_csv(workflow_run / f"results/train_logs/fashion_mnist/{setup}/{role}0.csv")
            # The named setup's own recipe (1 epoch) overrides methods.supervised (2 epochs in the test preset).
            assert list(log.epoch) == list(range(1, epochs + 1)) and np.isfinite(log.loss).all()
            assert set(log.setup) == {setup}


def test_scores_follow_the_definition(workflow_run):
    scores = pd.read_parquet(workflow_run / "results/scores/fashion_mnist/simclr-resnet18.parquet")
    ensemble = scores[scores.estimate == "ensemble"]
    assert set(ensemble.subset) == {"S_C", "S_S", "S_I", "S_E"}
    assert ensemble.groupby("subset").size().to_dict() == {"S_C": 20, "S_S": 20, "S_I": 20, "S_E": 20}
    np.testing.assert_allclose(ensemble.m_raw, ensemble.align_g - ensemble.align_f, rtol=1e-6)
    spread = ensemble.m_raw.max() - ensemble.m_raw.min()
    np.testing.assert_allclose(ensemble.m, ensemble.m_raw / spread, rtol=1e-6)
    assert ensemble.m.max() - ensemble.m.min() == pytest.approx(1.0)
    # Alignment of unit vectors: distances lie in [0, 2].
    assert ((ensemble.align_f >= 0) & (ensemble.align_f <= 2)).all()
    f_align = pd.read_parquet(workflow_run / "results/align/fashion_mnist/simclr-resnet18/f0.parquet")
    np.testing.assert_allclose(ensemble.align_f.to_numpy(), f_align["align"].to_numpy())


def test_tables_carry_our_numbers_and_the_papers(workflow_run):
    table2 = pd.read_csv(workflow_run / "results/table2.csv")
    assert len(table2) == 12  # 4 hypotheses x 3 setups
    assert table2.p_value.between(0, 1).all()
    # Fashion-MNIST is not the paper's CIFAR10: no paper value stands beside any row.
    assert table2.paper_effect_size.isna().all() and table2.paper_p_value.isna().all()
    scores = pd.read_parquet(workflow_run / "results/scores/fashion_mnist/mae-vit_tiny.parquet")
    ensemble = scores[scores.estimate == "ensemble"]
    row = table2[(table2.method == "mae") & (table2.hypothesis == "H0: m(S_C) <= m(S_S)")].iloc[0]
    assert row.mean_1 == pytest.approx(ensemble[ensemble.subset == "S_C"].m.mean())
    assert row.mean_2 == pytest.approx(ensemble[ensemble.subset == "S_S"].m.mean())
    table16 = pd.read_csv(workflow_run / "results/table16.csv")
    assert len(table16) == 15
    table1 = pd.read_csv(workflow_run / "results/table1.csv")
    assert set(zip(table1.setup, table1.method, table1.arch)) == {
        ("simclr-resnet18", "simclr", "resnet18"), ("mae-vit_tiny", "mae", "vit_tiny"),
        ("supervised-resnet18-e1", "supervised", "resnet18"),
    }
    assert not (workflow_run / "results/probe/fashion_mnist/simclr-resnet18/g0.csv").exists()  # probe.roles: [f]
    table11 = pd.read_csv(workflow_run / "results/table11.csv")
    assert list(table11.setup) == ["supervised-resnet18-e1", "simclr-resnet18"]  # report.table11's order
    assert list(table11.epochs) == [1, 2] and list(table11.paradigm) == ["supervised", "ssl"]
    for row in table11.itertuples():
        assert row.sslmem_mean == pytest.approx(table1.set_index("setup").loc[row.setup, "sslmem_mean"])
    table13 = pd.read_csv(workflow_run / "results/table13.csv")
    assert len(table13) == 3 and set(table13.n_candidates) == {20}  # 3 setups: 3 pairs over the 20 candidates
    assert table13.kendall_tau.between(-1, 1).all() and table13.p_value.between(0, 1).all()
    probe = pd.read_csv(workflow_run / "results/probe/fashion_mnist/simclr-resnet18/f0.csv")
    simclr = table1[table1.method == "simclr"].iloc[0]
    assert simclr.probe_top1_mean == pytest.approx(100 * probe.top1.iloc[0])
    assert 0 <= simclr.probe_top1_mean <= 100


def test_every_score_records_what_it_scored_and_supervised_never_its_head(workflow_run):
    expected = {"simclr-resnet18": "encoder", "mae-vit_tiny": "encoder", "supervised-resnet18-e1": "encoder"}
    for setup, representation in expected.items():
        scores = pd.read_parquet(workflow_run / f"results/scores/fashion_mnist/{setup}.parquet")
        assert set(scores.representation) == {representation}, setup
    table1 = pd.read_csv(workflow_run / "results/table1.csv").set_index("setup")
    assert table1.loc["supervised-resnet18-e1", "representation"] == "encoder"


def test_second_run_has_nothing_to_do(workflow_run):
    result = snakemake(workflow_run, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_lost_intermediate_file_is_rebuilt_identically_from_what_it_needs(workflow_run):
    # Snakemake rebuilds a missing intermediate file when it is asked for (the tables downstream still exist).
    score = workflow_run / "results/scores/fashion_mnist/mae-vit_tiny.parquet"
    published = pd.read_parquet(score)
    (workflow_run / "results/align/fashion_mnist/mae-vit_tiny/g0.parquet").unlink()
    score.unlink()
    target = str(score.relative_to(workflow_run))
    out = snakemake(workflow_run, "-n", target).stdout
    assert "rule align:" in out and "rule score:" in out
    assert "rule train:" not in out and "rule probe:" not in out and "rule split:" not in out
    snakemake(workflow_run, target)
    pd.testing.assert_frame_equal(pd.read_parquet(score), published)  # CPU: bitwise the same scores


def test_layermem_of_the_last_resnet_block_is_the_sslmem_score(workflow_run):
    # The test preset scores the encoder output, which for a ResNet is its last block's output flattened: the
    # per-layer score of that block must reproduce the ordinary score (same views, same normalisation).
    layers = pd.read_parquet(workflow_run / "results/layer_scores/fashion_mnist/simclr-resnet18.parquet")
    scores = pd.read_parquet(workflow_run / "results/scores/fashion_mnist/simclr-resnet18.parquet")
    assert list(layers.drop_duplicates("layer_index").layer) == [f"layer{s}.{b}" for s in range(1, 5) for b in (0, 1)]
    last = layers[layers.layer == "layer4.1"].reset_index(drop=True)
    np.testing.assert_allclose(last.m.to_numpy(), scores.m.to_numpy(), atol=1e-4)
    table = pd.read_csv(workflow_run / "results/layermem.csv")
    assert set(table.setup) == {"simclr-resnet18", "mae-vit_tiny", "supervised-resnet18-e1"}
    assert len(table[table.setup == "mae-vit_tiny"]) == 2  # the test preset's ViT has 2 blocks
    simclr = table[table.setup == "simclr-resnet18"].set_index("layer")
    ensemble = scores[(scores.estimate == "ensemble") & (scores.subset == "S_C")]
    assert simclr.loc["layer4.1", "layermem"] == pytest.approx(ensemble.m.mean(), abs=1e-4)


def test_unitmem_covers_every_unit_of_every_f_encoder(workflow_run):
    units = pd.read_parquet(workflow_run / "results/unitmem/fashion_mnist/simclr-resnet18/f0.parquet")
    # ResNet18 of width 8: blocks of 8, 8, 16, 16, 32, 32, 64, 64 channels.
    assert units.groupby("layer", sort=False).size().tolist() == [8, 8, 16, 16, 32, 32, 64, 64]
    alive = units.unitmem.dropna()
    assert alive.between(-1, 1).all() and (alive > 0).any()
    split, _ = read_split(workflow_run / "results/splits/fashion_mnist.csv")
    assert set(units.argmax_point_id) <= set(split[split.subset == "S_C"].point_id)
    vit = pd.read_parquet(workflow_run / "results/unitmem/fashion_mnist/mae-vit_tiny/f0.parquet")
    assert list(vit.drop_duplicates("layer").layer) == ["block0.mlp", "block1.mlp"]
    table = pd.read_csv(workflow_run / "results/unitmem.csv")
    assert set(table.setup) == {"simclr-resnet18", "mae-vit_tiny", "supervised-resnet18-e1"}
    assert (table.n_encoders == 1).all() and (table.subset == "S_C").all()


# --- studies (removal and coreset on the test preset's halves) ------------------------------------------------


@pytest.fixture(scope="module")
def studies_run(workflow_run) -> Path:
    snakemake(workflow_run, "study_halves", "study_removal", "study_coreset")
    return workflow_run


def test_study_dense_fine_tunes_the_removal_encoders_into_both_tables(studies_run):
    """The dense study (Tables 3, 10) on the removal encoders the studies above trained: only its own jobs run."""
    result = snakemake(studies_run, "study_dense")
    assert "study_train" not in result.stdout  # nothing retrained
    results = studies_run / "results"
    for table, metric in (("table3", "miou_mean"), ("table10", "rmse_mean")):
        frame = pd.read_csv(results / f"{table}.csv")
        assert sorted(frame["selection"]) == ["none", "random", "top"] and frame[metric].notna().all()
        assert (results / f"{table}_fig.png").read_bytes()[:4] == b"\x89PNG"
    assert frame.loc[frame["selection"] == "top", "n_pairs"].item() == 1  # one seed on the test preset
    segmentation = pd.read_csv(results / "table3.csv")
    assert segmentation["miou_mean"].between(0, 100).all() and (pd.read_csv(results / "table10.csv")["rmse_mean"] > 0).all()


def test_halves_are_disjoint_and_every_pool_point_is_scored_once_in_once_out(studies_run):
    from sslmem.data.training_sets import read_training_set

    root = studies_run / "results/studies/halves"
    half_a, meta_a = read_training_set(root / "training_sets/fashion_mnist/simclr-resnet18/half_a0.csv")
    half_b, _ = read_training_set(root / "training_sets/fashion_mnist/simclr-resnet18/half_b0.csv")
    assert len(half_a) == len(half_b) == 100 and not set(half_a.point_id) & set(half_b.point_id)
    assert meta_a["split_hash"] == read_split(studies_run / "results/splits/fashion_mnist.csv")[1]
    # Two rounds (seeds 0 and 1), each a new pair of halves: every pool point is in 2 of the 4 encoders.
    half_a1, _ = read_training_set(root / "training_sets/fashion_mnist/simclr-resnet18/half_a1.csv")
    assert set(half_a1.point_id) != set(half_a.point_id)
    scores = pd.read_parquet(root / "inout/fashion_mnist/simclr-resnet18.parquet")
    assert len(scores) == 200 and (scores.n_in == 2).all() and (scores.n_out == 2).all()
    assert set(scores.subset) == {"S_S", "S_C", "S_I"}  # S_E is aligned (the control) but never scored
    np.testing.assert_allclose(scores.m_raw, scores.align_out - scores.align_in)
    assert (scores.m_ci_low <= scores.m_ci_high).all() and (scores.m_ci_high > scores.m_ci_low).any()
    table = pd.read_csv(studies_run / "results/reliability.csv")
    assert list(table.points) == ["trained", "within_class", "placebo"] and set(table.rounds) == {2}
    assert set(table.encoders) == {4} and list(table.n_points) == [200, 200, 220]  # placebo: the pool and S_E
    assert table.split_half.between(-1, 1).all() and (table.null_sd > 0).all()
    curve = pd.read_csv(studies_run / "results/ranking_curve.csv")  # 2 rounds: one point of the curve per kind
    assert list(curve.rounds) == [2, 2] and (curve.train_minutes > 0).all()
    assert pd.read_csv(studies_run / "results/canaries.csv").empty  # the test preset repeats no points
    payload = load_checkpoint(root / "checkpoints/fashion_mnist/simclr-resnet18/half_a0.pt")
    assert payload["meta"]["training_set_hash"] == meta_a["sha256"]


def test_removal_drops_the_top_scored_points_and_tabulates_the_comparison(studies_run):
    from sslmem.data.training_sets import read_training_set, top_k

    halves = studies_run / "results/studies/halves"
    half_a, _ = read_training_set(halves / "training_sets/fashion_mnist/simclr-resnet18/half_a0.csv")
    scores = pd.read_parquet(halves / "inout/fashion_mnist/simclr-resnet18.parquet").set_index("point_id")
    expected = set(half_a.point_id) - set(top_k(half_a.point_id, scores.loc[half_a.point_id, "m"], 10))
    dropped, _ = read_training_set(
        studies_run / "results/studies/removal/training_sets/fashion_mnist/simclr-resnet18/drop_top_10_of_a0.csv")
    assert set(dropped.point_id) == expected and len(dropped) == 90
    table = pd.read_csv(studies_run / "results/removal.csv")
    assert set(table.probe_dataset) == {"fashion_mnist", "digits"}
    assert set(zip(table.k, table.selection)) == {(0, "none"), (10, "top"), (10, "random")}
    assert table.top1_mean.between(0, 100).all()
    assert (studies_run / "results/removal_fig.png").read_bytes()[:4] == b"\x89PNG"


def test_coreset_keeps_half_of_half_a(studies_run):
    from sslmem.data.training_sets import read_training_set

    kept, _ = read_training_set(
        studies_run / "results/studies/coreset/training_sets/fashion_mnist/simclr-resnet18/keep_top_50pct_of_a0.csv")
    assert len(kept) == 50
    table = pd.read_csv(studies_run / "results/table17.csv")
    assert set(zip(table.percent_kept, table.selection)) == {(100, "all"), (50, "top"), (50, "random")}
    assert table.paper_top1.isna().all()  # a SimCLR ResNet18 on Fashion-MNIST is not the paper's run


def test_a_training_set_edited_by_hand_stops_training_before_it_starts(studies_run):
    path = studies_run / "results/studies/removal/training_sets/fashion_mnist/simclr-resnet18/drop_random_10_of_a0.csv"
    original = path.read_text()
    checkpoint = path.parents[3] / "checkpoints/fashion_mnist/simclr-resnet18/drop_random_10_of_a0.pt"
    try:
        path.write_text(original.replace("\n0,", "\n0,9", 1))
        checkpoint.unlink()
        result = snakemake(studies_run, str(checkpoint.relative_to(studies_run)), check=False)
        assert result.returncode != 0
        log = (studies_run / "results/logs/studies/removal/train/fashion_mnist/simclr-resnet18/drop_random_10_of_a0.log")
        assert "does not match drop_random_10_of_a0.json" in log.read_text()
    finally:
        path.write_text(original)


# --- privacy study (Table 5 on the test preset: MAE at ε = 8 beside its own ε = ∞ encoders) ---------------------


@pytest.fixture(scope="module")
def privacy_run(workflow_run) -> Path:
    snakemake(workflow_run, "study_privacy")
    return workflow_run


def test_private_encoders_record_their_accounting_and_table5_reads_it(privacy_run):
    checkpoint = load_checkpoint(
        privacy_run / "results/studies/privacy/checkpoints/fashion_mnist/mae-vit_tiny-dp-eps8/f0.pt")
    privacy = checkpoint["meta"]["privacy"]
    assert 0 < privacy["epsilon_spent"] <= privacy["epsilon_target"] == 8.0
    assert json_recipe(checkpoint)["privacy"]["epsilon"] == 8.0
    table = pd.read_csv(privacy_run / "results/table5.csv")
    assert list(table["epsilon"]) == [np.inf, 8.0] and set(table["setup"]) == {"mae-vit_tiny"}
    private = table[table["epsilon"] == 8.0].iloc[0]
    assert private["private_setup"] == "mae-vit_tiny-dp-eps8"
    assert private["epsilon_spent"] == pytest.approx(privacy["epsilon_spent"])
    for column in ("sslmem_mean", "probe_top1_mean", "noise_multiplier", "sample_rate", "steps", "unitmem_last_layer"):
        assert np.isfinite(private[column]), column
    assert np.isfinite(table.loc[table["epsilon"] == np.inf, "sslmem_mean"]).all()
    assert table["paper_sslmem"].isna().all()  # Fashion-MNIST at 2 epochs is not the paper's run
    assert (privacy_run / "results/table5_fig.png").read_bytes()[:4] == b"\x89PNG"


def json_recipe(checkpoint) -> dict:
    import json

    return json.loads(checkpoint["meta"]["training_settings"])["recipe"]


# --- regulariser study (Fig. 4 on the test preset: MAE at λ = 0.5 beside its own λ = 0 encoders) ----------------


def test_regularised_encoders_are_scored_and_fig4_compares_them(workflow_run):
    snakemake(workflow_run, "study_regularizer")
    checkpoint = load_checkpoint(
        workflow_run / "results/studies/regularizer/checkpoints/fashion_mnist/mae-vit_tiny-reg0.5/f0.pt")
    assert checkpoint["meta"]["alignment_regularizer"]["weight"] == 0.5
    table = pd.read_csv(workflow_run / "results/fig4_values.csv")
    assert list(table["lambda"]) == [0.0, 0.5] and list(table["variant_setup"].fillna("")) == ["", "mae-vit_tiny-reg0.5"]
    assert np.isfinite(table[["sslmem_mean", "probe_top1_mean"]].to_numpy()).all()
    assert (workflow_run / "results/fig4.png").read_bytes()[:4] == b"\x89PNG"


# --- training-augmentations study (Table 9 on the test preset: MAE mask 50 %, SimCLR masking only) ---------------


def test_augmentation_variants_train_with_their_recipe_change_and_table9_lists_them(workflow_run):
    snakemake(workflow_run, "study_augmentations")
    masked = load_checkpoint(
        workflow_run / "results/studies/augmentations/checkpoints/fashion_mnist/mae-vit_tiny-mask50/f0.pt")
    assert json_recipe(masked)["mask_ratio"] == 0.5
    simclr = load_checkpoint(
        workflow_run / "results/studies/augmentations/checkpoints/fashion_mnist/simclr-resnet18-masking/g0.pt")
    assert json_recipe(simclr)["augment"] == "train_masking"
    table = pd.read_csv(workflow_run / "results/table9.csv")
    assert list(zip(table["setup"], table["variant"])) == [
        ("mae-vit_tiny", "recipe"), ("mae-vit_tiny", "mask50"), ("simclr-resnet18", "recipe"),
        ("simclr-resnet18", "masking")]
    assert np.isfinite(table[["sslmem_mean", "probe_top1_mean"]].to_numpy()).all()
    assert table["paper_sslmem"].isna().all()


def test_replication_tests_each_group_and_group_zero_is_table2s_own(workflow_run):
    snakemake(workflow_run, "study_replication")
    table = pd.read_csv(workflow_run / "results/replication.csv")
    # The test preset: simclr-resnet18's own pair (seed 0) and two groups of one pair (seeds 1, 2), 9 claims each.
    assert sorted(table["group"].unique()) == [0, 1, 2] and len(table) == 27
    assert table.groupby("group")["seeds"].first().astype(str).tolist() == ["0", "1", "2"]
    assert (table["n_groups"] == 3).all()
    assert (table["groups_holding"] == table.groupby(["table", "hypothesis_key"])["claim_holds"].transform("sum")).all()
    # Group 0 is the core measurement: its point-level test is Table 2's own row, to the last digit.
    table2 = pd.read_csv(workflow_run / "results/table2.csv")
    own = table2[(table2["setup"] == "simclr-resnet18") & (table2["estimate"] == "ensemble")].set_index("hypothesis_key")
    group0 = table[(table["group"] == 0) & (table["table"] == "table2")].set_index("hypothesis_key")
    assert np.allclose(group0.loc[own.index, "p_value"], own["p_value"], rtol=0, atol=0, equal_nan=True)
    # Groups 1 and 2 are encoders of their own seeds, under the study's folder.
    assert (workflow_run / "results/studies/replication/checkpoints/fashion_mnist/simclr-resnet18-rep2/f2.pt").is_file()
