"""Tables and figures from small synthetic score and probe files with known numbers."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from sslmem.artifacts import SCORE_COLUMNS
from sslmem.report.figures import fig2a, fig2c
from sslmem.report.readers import load_paper_values
from sslmem.report.significance import table2, table16
from sslmem.report.summaries import subset_summary, table1
from sslmem.stats import one_sample, one_sided_welch
from sslmem.pair_stats import PAIR_LEVEL_COLUMNS
from sslmem.plan import load_settings

# Points per subset and the spread around each subset's mean (mean of SPREAD is 0, so subset means are exact).
N_PER_SUBSET = 6
SPREAD = np.array([-0.05, -0.02, 0.0, 0.0, 0.02, 0.05])
ENSEMBLE_MEANS = {"S_C": 0.30, "S_S": 0.01, "S_I": -0.30, "S_E": 0.10}
SEED_MEANS = {  # per pair seed: the S_C mean differs, so the mean/std over seeds is known
    0: {"S_C": 0.20, "S_S": 0.02, "S_I": -0.25, "S_E": 0.08},
    1: {"S_C": 0.40, "S_S": 0.00, "S_I": -0.35, "S_E": 0.12},
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]


def subset_values(mean):
    return mean + SPREAD


def identity(method, arch, epochs=600, representation="encoder", datasets=("cifar10", "svhn", "stl10", "image_folder")):
    """A setup as sslmem.config.paper_identities describes it, trained as the paper's run (Table 6 recipe,
    App. A backbone) unless changed."""
    paper = load_paper_values()
    recipe = paper["recipes"].get(method, {"optimizer": "sgd", "lr": 0.1, "batch_size": 128})
    options = {}
    for dataset in datasets:
        arch_options = dict(paper["archs"][arch])
        if isinstance(arch_options.get("patch_size"), dict):
            patch = arch_options["patch_size"]
            arch_options["patch_size"] = patch.get(dataset, patch["default"])
        options[dataset] = arch_options
    return {"method": method, "arch": arch, "epochs": epochs, "representation": representation, "recipe": dict(recipe),
            "arch_options": options, "length_only": True}


# The setups of the `inputs` fixture as the paper's runs: 600 epochs, encoder output.
IDENTITIES = {"mae-vit_tiny": identity("mae", "vit_tiny"), "simclr-resnet18": identity("simclr", "resnet18")}


def write_scores(path, dataset, method, arch, seeds=SEED_MEANS, ensemble=True, setup=None, representation="encoder"):
    """One score Parquet with ensemble rows (seed -1) and pair rows per seed."""
    setup = setup or f"{method}-{arch}"
    rows = []
    blocks = [("ensemble", -1, ENSEMBLE_MEANS)] if ensemble else []
    blocks += [("pair", seed, means) for seed, means in seeds.items()]
    for estimate, seed, means in blocks:
        for subset_index, (subset, mean) in enumerate(means.items()):
            for i, m in enumerate(subset_values(mean)):
                align_f = 1.0 - 0.1 * i
                rows.append(dict(
                    dataset=dataset, setup=setup, method=method, arch=arch, representation=representation,
                    estimate=estimate, seed=seed, point_id=100 * subset_index + i, source="test" if subset == "S_E" else "train",
                    subset=subset, label=i % 3, align_f=align_f, align_g=align_f + m, m_raw=m, m=m,
                ))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def write_probe(root, dataset, method, arch, role, seed, top1, setup=None):
    setup = setup or f"{method}-{arch}"
    path = root / "probe" / dataset / setup / f"{role}{seed}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([dict(dataset=dataset, setup=setup, method=method, arch=arch, seed=seed, role=role,
                       probe_dataset=dataset, train_size=500, test_size=200, top1=top1)]).to_csv(path, index=False)
    return path


@pytest.fixture
def inputs(tmp_path):
    """Two setups: the paper's (cifar10, mae, vit_tiny) and one the paper lacks (fashion_mnist, simclr, resnet18)."""
    scores = [
        write_scores(tmp_path / "scores" / "cifar10" / "mae-vit_tiny.parquet", "cifar10", "mae", "vit_tiny"),
        write_scores(tmp_path / "scores" / "fashion_mnist" / "simclr-resnet18.parquet", "fashion_mnist",
                     "simclr", "resnet18"),
    ]
    probes = [
        write_probe(tmp_path, "cifar10", "mae", "vit_tiny", "f", 0, 0.60),
        write_probe(tmp_path, "cifar10", "mae", "vit_tiny", "f", 1, 0.70),
        write_probe(tmp_path, "cifar10", "mae", "vit_tiny", "g", 0, 0.10),  # g encoders are not in Table 1
        write_probe(tmp_path, "fashion_mnist", "simclr", "resnet18", "f", 0, 0.80),
    ]
    return tmp_path, scores, probes


def row_of(table, **keys):
    mask = np.ones(len(table), dtype=bool)
    for column, value in keys.items():
        mask &= table[column] == value
    assert mask.sum() == 1, f"expected one row for {keys}, found {mask.sum()}"
    return table[mask].iloc[0]


def test_table1_numbers_and_paper_columns(inputs):
    root, scores, probes = inputs
    out = root / "tables" / "table1.csv"
    table = table1(scores, probes, out, n_boot=200, identities=IDENTITIES)
    written = pd.read_csv(out)
    assert len(written) == 2
    pd.testing.assert_frame_equal(written, table, check_dtype=False)

    mae = row_of(written, dataset="cifar10", method="mae", arch="vit_tiny")
    seed_means = [SEED_MEANS[0]["S_C"], SEED_MEANS[1]["S_C"]]  # 0.2 and 0.4
    assert mae["n_seeds"] == 2
    assert mae["sslmem_mean"] == pytest.approx(np.mean(seed_means))
    assert mae["sslmem_std"] == pytest.approx(np.std(seed_means, ddof=1))
    assert mae["sslmem_ensemble"] == pytest.approx(ENSEMBLE_MEANS["S_C"])
    assert mae["sslmem_ensemble_ci_low"] <= ENSEMBLE_MEANS["S_C"] <= mae["sslmem_ensemble_ci_high"]
    assert mae["offset_m_S_S"] == pytest.approx(ENSEMBLE_MEANS["S_S"])
    assert mae["n_candidates"] == N_PER_SUBSET
    assert mae["probe_top1_mean"] == pytest.approx(65.0)  # f encoders only, in percent
    assert mae["probe_top1_std"] == pytest.approx(np.std([60.0, 70.0], ddof=1))
    assert (mae["paper_sslmem"], mae["paper_sslmem_std"], mae["paper_top1"], mae["paper_top1_std"]) == (
        0.307, 0.013, 67.40, 1.10)

    fmnist = row_of(written, dataset="fashion_mnist")
    assert fmnist["probe_top1_mean"] == pytest.approx(80.0)
    assert math.isnan(fmnist["probe_top1_std"])  # one encoder: no spread
    for column in ("paper_sslmem", "paper_sslmem_std", "paper_top1", "paper_top1_std"):
        assert math.isnan(fmnist[column])
    assert not list(out.parent.glob("*.tmp"))  # the atomic write left nothing behind


def test_table1_maps_image_folder_to_the_papers_imagenet(tmp_path):
    scores = [write_scores(tmp_path / "image_folder" / "dino-vit_base.parquet", "image_folder", "dino", "vit_base")]
    table = table1(scores, None, tmp_path / "table1.csv", n_boot=50,
                   identities={"dino-vit_base": identity("dino", "vit_base", epochs=300)})
    assert table.loc[0, "paper_sslmem"] == 0.309 and table.loc[0, "paper_top1"] == 68.21


def _subset_arrays(means):
    return {subset: subset_values(mean) for subset, mean in means.items()}


def test_table2_tests_and_paper_values(inputs):
    root, scores, _ = inputs
    out = root / "table2.csv"
    table = table2(scores, out, alpha=0.01, identities=IDENTITIES)
    written = pd.read_csv(out)
    assert len(written) == 8  # 2 setups x 4 hypotheses
    assert list(written.columns[:18]) == [
        "dataset", "setup", "method", "arch", "representation", "hypothesis", "n_1", "n_2", "mean_1", "mean_2", "t_statistic", "p_value",
        "cohens_d", "reject_h0", "alpha", "paper_p_value", "paper_effect_size", "paper_setup",
    ]
    arrays = _subset_arrays(ENSEMBLE_MEANS)
    row = row_of(written, dataset="cifar10", hypothesis="H0: m(S_C) <= m(S_S)")
    expected = one_sided_welch(arrays["S_C"], arrays["S_S"], alternative="larger")
    assert row["t_statistic"] == pytest.approx(expected.t)
    assert row["p_value"] == pytest.approx(expected.p_value)
    assert row["cohens_d"] == pytest.approx(expected.cohens_d)
    assert (row["n_1"], row["n_2"]) == (N_PER_SUBSET, N_PER_SUBSET)
    assert row["mean_1"] == pytest.approx(0.30) and row["mean_2"] == pytest.approx(0.01)
    assert bool(row["reject_h0"]) == (expected.p_value < 0.01)
    assert row["offset_m_S_S"] == pytest.approx(ENSEMBLE_MEANS["S_S"])
    # The paper's values stand beside its own setup only (MAE ViT-tiny, CIFAR10), not beside every row.
    paper = row_of(written, dataset="cifar10", hypothesis="H0: m(S_E) <= m(S_I)")
    assert (paper["paper_p_value"], paper["paper_effect_size"]) == (0, 113.56)
    assert paper["paper_setup"] == "mae-vit_tiny cifar10"
    other = row_of(written, dataset="fashion_mnist", hypothesis="H0: m(S_E) <= m(S_I)")
    assert pd.isna(other["paper_p_value"]) and pd.isna(other["paper_setup"])
    assert set(table["estimate"]) == {"ensemble"} and set(table["seed"]) == {-1}


def test_table2_pair_level_columns_with_two_pairs(inputs):
    """The `inputs` files have two pairs: the t-test over pairs runs (df 1), the mixed model needs 3 and says so,
    and the claim rests on the pairs' t-test; the point-level columns are those of the test above."""
    root, scores, _ = inputs
    table = table2(scores, root / "table2.csv", alpha=0.01, identities=IDENTITIES)
    written = pd.read_csv(root / "table2.csv")
    assert list(written.columns[-len(PAIR_LEVEL_COLUMNS):]) == list(PAIR_LEVEL_COLUMNS)
    row = row_of(written, dataset="cifar10", hypothesis="H0: m(S_C) <= m(S_S)")
    differences = [SEED_MEANS[s]["S_C"] - SEED_MEANS[s]["S_S"] for s in (0, 1)]  # 0.18, 0.40
    t = np.mean(differences) / (np.std(differences, ddof=1) / math.sqrt(2))
    assert (row["n_pairs"], row["pairs_holding"]) == (2, 2)
    assert row["pair_effect"] == pytest.approx(0.29)
    assert row["pair_t"] == pytest.approx(t) and row["pair_p"] == pytest.approx(scipy_stats.t.sf(t, 1))
    assert math.isnan(row["mixed_p"]) and "at least 3" in row["mixed_note"]
    assert row["claim_test"] == "pair t" and not row["claim_holds"]  # p ≈ 0.12: two pairs do not carry it
    assert bool(row["reject_h0"])  # while the points, taken as independent, do
    assert table["n_pairs"].dtype == "Int64"


# Four pairs for the registry test: each pair's subset means (every subset's points at mean + SPREAD).
FOUR_PAIRS = {
    0: {"S_C": 0.20, "S_S": 0.02, "S_I": -0.25, "S_E": 0.08},
    1: {"S_C": 0.40, "S_S": 0.00, "S_I": -0.35, "S_E": 0.12},
    2: {"S_C": 0.30, "S_S": 0.04, "S_I": -0.30, "S_E": 0.10},
    3: {"S_C": 0.10, "S_S": -0.02, "S_I": -0.10, "S_E": 0.02},
}


def _over_pairs(subset_1, subset_2=None, value=0.0):
    """Per-pair differences of FOUR_PAIRS, their mean and one-sample t over the 4 pairs (df 3), by hand."""
    differences = np.array([means[subset_1] - (means[subset_2] if subset_2 else value)
                            for means in FOUR_PAIRS.values()])
    t = differences.mean() / (differences.std(ddof=1) / 2)
    return differences, differences.mean(), t


def registered_result(name: str):
    """The registered :class:`sslmem.report.registry.Result` of `name` (sslmem.studies.plugins.get_result where the studies
    fill the registry, else sslmem.report.registry.get)."""
    try:
        from sslmem.studies.plugins import get_result
    except ImportError:
        from sslmem.report.registry import get as get_result
    return get_result(name)


def test_table2_and_table16_through_the_registry_test_over_pairs(tmp_path):
    from sslmem import config

    settings = load_settings(REPO / "params.yaml", preset="test", check_roots=False)
    alpha = settings["stats"]["alpha"]
    path = write_scores(tmp_path / "scores" / "cifar10" / "mae-vit_tiny.parquet", "cifar10", "mae", "vit_tiny",
                        seeds=FOUR_PAIRS)
    scores = pd.read_parquet(path)
    assert list(scores.columns) == list(SCORE_COLUMNS)
    registered_result("table2").build({"score_paths": [str(path)]}, settings, tmp_path / "table2.csv")
    table = pd.read_csv(tmp_path / "table2.csv").set_index("hypothesis_key")
    assert list(table.columns[-len(PAIR_LEVEL_COLUMNS):]) == list(PAIR_LEVEL_COLUMNS)

    # H0: m(S_C) <= m(S_S): per-pair differences 0.18, 0.40, 0.26, 0.12 (mean 0.24), all four > 0.
    differences, mean, t = _over_pairs("S_C", "S_S")
    row = table.loc["SC_le_SS"]
    assert (row["n_pairs"], row["pairs_holding"]) == (4, 4)
    assert row["pair_effect"] == pytest.approx(0.24) == pytest.approx(mean)
    assert row["pair_t"] == pytest.approx(t)
    assert row["pair_p"] == pytest.approx(scipy_stats.t.sf(t, 3))
    # Balanced, the points' spread (SPREAD) small beside the pairs': MixedLM's effect is the difference of the
    # subsets' means over the pair rows, its SE the pairs' (sd / sqrt(4)) and its p the pairs' p.
    pair_rows = scores[scores["estimate"] == "pair"]
    subset_means = pair_rows.groupby("subset")["m"].mean()
    assert row["mixed_effect"] == pytest.approx(subset_means["S_C"] - subset_means["S_S"], abs=1e-6)
    assert row["mixed_se"] == pytest.approx(differences.std(ddof=1) / 2, rel=1e-3)
    assert row["mixed_z"] == pytest.approx(t, rel=1e-3)
    assert row["mixed_p"] == pytest.approx(row["pair_p"], rel=1e-2)
    assert row["claim_test"] == "mixed model" and bool(row["claim_holds"]) == (row["mixed_p"] < alpha)
    assert pd.isna(row["pair_note"]) and pd.isna(row["mixed_note"])  # written empty: nothing to say
    # The point-level columns are the Welch test of the ensemble rows, as before.
    arrays = _subset_arrays(ENSEMBLE_MEANS)
    assert row["p_value"] == pytest.approx(one_sided_welch(arrays["S_C"], arrays["S_S"]).p_value)
    # H0: m(S_E) <= m(S_I): 0.33, 0.47, 0.40, 0.12.
    _, mean, t = _over_pairs("S_E", "S_I")
    assert table.loc["SE_le_SI", "pair_effect"] == pytest.approx(mean)
    assert table.loc["SE_le_SI", "pair_t"] == pytest.approx(t)

    registered_result("table16").build({"score_paths": [str(path)]}, settings, tmp_path / "table16.csv")
    table = pd.read_csv(tmp_path / "table16.csv").set_index("hypothesis_key")
    # H0: m(S_C) <= 0: pair means 0.2, 0.4, 0.3, 0.1; the mixed model's intercept is their mean.
    _, mean, t = _over_pairs("S_C")
    assert table.loc["SC_le_0", "pair_effect"] == pytest.approx(0.25)
    assert table.loc["SC_le_0", "pair_t"] == pytest.approx(t)
    assert table.loc["SC_le_0", "pair_p"] == pytest.approx(scipy_stats.t.sf(t, 3))
    assert table.loc["SC_le_0", "mixed_effect"] == pytest.approx(0.25, abs=1e-6)
    assert table.loc["SC_le_0", "mixed_p"] == pytest.approx(table.loc["SC_le_0", "pair_p"], rel=1e-2)
    # H0: 0 = m(S_S), two-sided: pair means 0.02, 0, 0.04, −0.02 (mean 0.01); two pairs lie on its side.
    _, mean, t = _over_pairs("S_S")
    shared = table.loc["0_eq_SS"]
    assert shared["pair_effect"] == pytest.approx(0.01) and shared["pairs_holding"] == 2
    assert shared["pair_p"] == pytest.approx(2 * scipy_stats.t.sf(abs(t), 3))
    # H0: 0 <= m(S_I), H1: m(S_I) < 0: all four pair means are below 0.
    assert table.loc["0_le_SI", "pairs_holding"] == 4 and table.loc["0_le_SI", "pair_t"] < 0


def test_table16_one_sample_rows(inputs):
    root, scores, _ = inputs
    table = table16(scores, root / "table16.csv", alpha=0.01, identities=IDENTITIES)
    assert len(table) == 10
    cifar = table[table["dataset"] == "cifar10"].set_index("hypothesis_key")
    arrays = _subset_arrays(ENSEMBLE_MEANS)
    shared = one_sample(arrays["S_S"], 0.0, alternative="two-sided")
    assert cifar.loc["0_eq_SS", "t_statistic"] == pytest.approx(shared.t)
    assert cifar.loc["0_eq_SS", "p_value"] == pytest.approx(shared.p_value)
    assert cifar.loc["0_eq_SS", "paper_p_value"] == 0.471
    assert cifar.loc["0_eq_SS", "paper_effect_size"] == 0.821
    independent = one_sample(arrays["S_I"], 0.0, alternative="smaller")
    assert cifar.loc["0_le_SI", "p_value"] == pytest.approx(independent.p_value)
    assert pd.isna(cifar.loc["SC_le_0", "n_2"]) and cifar.loc["SC_le_0", "mean_2"] == 0.0
    assert cifar.loc["SC_le_SE", "n_2"] == N_PER_SUBSET
    assert cifar.loc["SC_le_SE", "test"] == "Welch t"
    assert cifar.loc["SC_le_SE", "paper_effect_size"] == 60.44


def test_subset_summary(inputs):
    root, scores, _ = inputs
    table = subset_summary(scores, root / "subset_summary.csv", n_boot=100, identities=IDENTITIES)
    assert len(table) == 2 * 3 * 4  # setups x (ensemble + 2 seeds) x subsets
    row = row_of(table, dataset="cifar10", estimate="pair", seed=1, subset="S_C")
    assert row["n"] == N_PER_SUBSET
    assert row["mean_m"] == pytest.approx(SEED_MEANS[1]["S_C"])
    assert row["std_m"] == pytest.approx(np.std(SPREAD, ddof=1))
    assert row["mean_align_g"] - row["mean_align_f"] == pytest.approx(row["mean_m"])
    assert row["paper_mean_m"] == 0.30723
    fmnist = row_of(table, dataset="fashion_mnist", estimate="ensemble", subset="S_I")
    assert math.isnan(fmnist["paper_mean_m"]) and fmnist["paper_setup"] == ""
    first = table[table["dataset"] == "cifar10"].head(4)
    assert list(first["subset"]) == ["S_C", "S_S", "S_I", "S_E"] and set(first["estimate"]) == {"ensemble"}


def test_missing_inputs_name_the_file(inputs):
    root, scores, probes = inputs
    missing = root / "scores" / "svhn" / "mae-vit_tiny.parquet"
    with pytest.raises(FileNotFoundError, match="svhn/mae-vit_tiny.parquet"):
        table2(scores + [missing], root / "t2.csv")
    with pytest.raises(FileNotFoundError, match="g7.csv"):
        table1(scores, probes + [root / "probe" / "g7.csv"], root / "t1.csv")
    broken = root / "broken.parquet"
    pd.read_parquet(scores[0]).drop(columns=["align_g"]).to_parquet(broken)
    with pytest.raises(ValueError, match=r"broken\.parquet.*align_g"):
        subset_summary([broken], root / "s.csv")
    pair_only = write_scores(root / "pair_only.parquet", "svhn", "mae", "vit_tiny", ensemble=False)
    with pytest.raises(ValueError, match="pair_only.parquet.*ensemble"):
        table2([pair_only], root / "t2.csv")
    assert not (root / "t2.csv").exists()


def test_paper_values_file_is_complete():
    paper = load_paper_values()
    assert len(paper["table1"]) == 16
    assert paper["subset_means"]["means"] == {"S_C": 0.30723, "S_S": -0.00136, "S_E": 0.09958, "S_I": -0.31182}
    assert [r["effect_size"] for r in paper["table2"]["rows"].values()] == [86.82, 60.44, 85.48, 113.56]
    assert [r["p_value"] for r in paper["table16"]["rows"].values()] == [0, 0, 0.471, 0, 0]


def test_figures_are_deterministic_pngs(inputs):
    root, scores, _ = inputs
    for make, name in ((fig2a, "fig2a"), (fig2c, "fig2c")):
        out = root / "figures" / f"{name}.png"
        make(scores, out)
        first = out.read_bytes()
        assert first.startswith(PNG_MAGIC) and len(first) > 1000
        make(scores, out)
        assert out.read_bytes() == first  # same input, same bytes
        assert not list(out.parent.glob("*.tmp"))


def test_written_csv_is_readable_by_others_and_counts_are_integers(inputs):
    root, scores, _ = inputs
    out = root / "table16.csv"
    table16(scores, out)
    assert out.stat().st_mode & 0o044  # not left private (mode 0600) by the temporary file
    header, first_line = out.read_text().splitlines()[:2]
    fields = dict(zip(header.split(","), first_line.split(",")))
    assert (fields["n_1"], fields["n_2"]) == (str(N_PER_SUBSET), "")  # "6", not "6.0"; no n_2 for one sample
    first_one_sample = pd.read_csv(out).iloc[0]
    assert first_one_sample["n_1"] == N_PER_SUBSET and pd.isna(first_one_sample["n_2"])


def test_table15_adds_parameter_counts_and_the_papers_values(tmp_path):
    from sslmem.report.summaries import table15

    table1 = tmp_path / "table1.csv"
    pd.DataFrame(
        [
            {"dataset": "cifar10", "setup": "simclr-resnet50", "method": "simclr", "arch": "resnet50", "n_seeds": 3, "sslmem_mean": 0.3,
             "sslmem_std": 0.01, "probe_top1_mean": 70.0, "probe_top1_std": 1.0},
            {"dataset": "cifar10", "setup": "simclr-resnet18", "method": "simclr", "arch": "resnet18", "n_seeds": 3, "sslmem_mean": 0.2,
             "sslmem_std": 0.02, "probe_top1_mean": 60.0, "probe_top1_std": 2.0},
            {"dataset": "cifar10", "setup": "mae-vit_tiny", "method": "mae", "arch": "vit_tiny", "n_seeds": 3, "sslmem_mean": 0.1,
             "sslmem_std": 0.03, "probe_top1_mean": 50.0, "probe_top1_std": 3.0},
            # Table 15 is SimCLR's: another method's ResNet is not one of its rows.
            {"dataset": "cifar10", "setup": "dino-resnet50", "method": "dino", "arch": "resnet50", "n_seeds": 3, "sslmem_mean": 0.1,
             "sslmem_std": 0.03, "probe_top1_mean": 50.0, "probe_top1_std": 3.0},
        ]
    ).assign(representation="encoder", epochs=600).to_csv(table1, index=False)
    counts = {("cifar10", "resnet50"): 23_500_000, ("cifar10", "resnet18"): 11_200_000,
              ("cifar10", "vit_tiny"): 5_500_000}
    identities = {"simclr-resnet50": identity("simclr", "resnet50"), "simclr-resnet18": identity("simclr", "resnet18")}
    table = table15(table1, counts, tmp_path / "table15.csv", identities=identities)
    assert list(table.arch) == ["resnet18", "resnet50"]  # ViTs left out, ordered by size
    assert list(table.n_params) == [11_200_000, 23_500_000]
    assert list(table.paper_sslmem) == [0.315, 0.339] and list(table.paper_params_millions) == [11, 25]
    assert len(pd.read_csv(tmp_path / "table15.csv")) == 2  # what was written is what was returned


def _table1_rows(path, rows):
    columns = ["dataset", "setup", "method", "arch", "n_seeds", "sslmem_mean", "sslmem_std", "probe_top1_mean",
               "probe_top1_std"]
    pd.DataFrame([dict(zip(columns, row)) for row in rows]).assign(representation="encoder").to_csv(path, index=False)
    return path


def test_table11_keeps_the_given_order_and_matches_the_paper_by_epochs(tmp_path):
    from sslmem.report.summaries import table11

    table1 = _table1_rows(tmp_path / "table1.csv", [
        ("cifar10", "dino-resnet50-e100", "dino", "resnet50", 3, 0.31, 0.01, 69.0, 1.0),
        ("cifar10", "supervised-resnet50-e10", "supervised", "resnet50", 3, 0.33, 0.01, 75.0, 1.0),
        ("cifar10", "supervised-resnet50-e7", "supervised", "resnet50", 3, 0.30, 0.01, 70.0, 1.0),
        ("cifar10", "simclr-resnet50", "simclr", "resnet50", 3, 0.34, 0.01, 77.0, 1.0),
    ])
    identities = {"supervised-resnet50-e10": identity("supervised", "resnet50", 10),
                  "dino-resnet50-e100": identity("dino", "resnet50", 100),
                  "supervised-resnet50-e7": identity("supervised", "resnet50", 7)}
    table = table11(table1, [("supervised-resnet50-e10", 10), ("dino-resnet50-e100", 100),
                             ("supervised-resnet50-e7", 7)], tmp_path / "table11.csv", identities=identities)
    assert list(table.setup) == ["supervised-resnet50-e10", "dino-resnet50-e100", "supervised-resnet50-e7"]
    assert list(table.paradigm) == ["supervised", "ssl", "supervised"]
    assert list(table.sslmem_mean) == [0.33, 0.31, 0.30]  # copied from table1, not recomputed
    # The paper's row sits beside the same method/backbone/dataset/epochs only; 7 epochs is not in the paper.
    assert list(table.paper_row[:2]) == ["Supervised (10 epoch)", "SSL (100 epoch)"]
    assert list(table.paper_sslmem[:2]) == [0.327, 0.314] and list(table.paper_top1[:2]) == [75.16, 69.12]
    assert pd.isna(table.paper_sslmem[2]) and table.paper_row[2] == ""
    assert pd.read_csv(tmp_path / "table11.csv").shape == table.shape


def test_table11_names_a_setup_missing_from_table1(tmp_path):
    from sslmem.report.summaries import table11

    table1 = _table1_rows(tmp_path / "table1.csv", [("cifar10", "simclr-resnet50", "simclr", "resnet50", 3, 0.3, 0.0, 70.0, 1.0)])
    with pytest.raises(ValueError, match="'supervised-resnet50-e10' has no row"):
        table11(table1, [("supervised-resnet50-e10", 10)], tmp_path / "table11.csv")
    assert not (tmp_path / "table11.csv").exists()


def test_table1_gives_the_papers_values_only_to_the_setup_with_the_papers_epochs(tmp_path):
    scores = [
        write_scores(tmp_path / "scores/cifar10/mae-vit_tiny.parquet", "cifar10", "mae", "vit_tiny"),
        write_scores(tmp_path / "scores/cifar10/mae-vit_tiny-e100.parquet", "cifar10", "mae", "vit_tiny",
                     setup="mae-vit_tiny-e100"),
    ]
    identities = {"mae-vit_tiny": identity("mae", "vit_tiny"), "mae-vit_tiny-e100": identity("mae", "vit_tiny", 100)}
    table = table1(scores, [], tmp_path / "table1.csv", identities=identities).set_index("setup")
    assert table.loc["mae-vit_tiny", "paper_sslmem"] == 0.307
    assert pd.isna(table.loc["mae-vit_tiny-e100", "paper_sslmem"])
    assert table.loc["mae-vit_tiny-e100", "sslmem_mean"] == table.loc["mae-vit_tiny", "sslmem_mean"]


def _candidate_scores(path, dataset, setup, method, arch, m_by_point, representation="encoder"):
    rows = [dict(dataset=dataset, setup=setup, method=method, arch=arch, representation=representation,
                 estimate="ensemble", seed=-1,
                 point_id=point, source="train", subset="S_C", label=0, align_f=0.5, align_g=0.5 + m, m_raw=m, m=m)
            for point, m in m_by_point.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_table13_ranks_candidates_by_point_and_puts_the_papers_tau_beside_matching_pairs(tmp_path):
    from sslmem.report.ranking import table13

    # Points listed in different orders: the table must match them by point_id, not by row position.
    scores = [
        _candidate_scores(tmp_path / "a.parquet", "cifar10", "mae-vit_tiny", "mae", "vit_tiny",
                          {10: 0.1, 11: 0.2, 12: 0.3, 13: 0.4}),
        _candidate_scores(tmp_path / "b.parquet", "cifar10", "supervised-resnet50-e10", "supervised", "resnet50",
                          {13: 0.3, 12: 0.4, 11: 0.2, 10: 0.1}),
        _candidate_scores(tmp_path / "c.parquet", "cifar10", "simclr-resnet18", "simclr", "resnet18",
                          {10: 0.4, 11: 0.3, 12: 0.2, 13: 0.1}),
    ]
    identities = {"mae-vit_tiny": identity("mae", "vit_tiny"),
                  "supervised-resnet50-e10": identity("supervised", "resnet50", 10)}
    table = table13(scores, tmp_path / "table13.csv", identities=identities)
    assert list(zip(table.setup_1, table.setup_2)) == [
        ("mae-vit_tiny", "supervised-resnet50-e10"), ("mae-vit_tiny", "simclr-resnet18"),
        ("supervised-resnet50-e10", "simclr-resnet18"),
    ]
    # [1, 2, 3, 4] vs [1, 2, 4, 3]: 5 concordant and 1 discordant pair of points, tau = 4/6; reversed: -1.
    assert table.kendall_tau[0] == pytest.approx(4 / 6)
    assert table.kendall_tau[1] == pytest.approx(-1.0)
    assert table.kendall_tau[2] == pytest.approx(-4 / 6)
    assert list(table.n_candidates) == [4, 4, 4]
    assert table.paper_tau[0] == 0.104 and table.paper_p_value[0] == 1.3e-5
    assert table.paper_rows[0] == "MAE ViT-tiny / Supervised (ResNet), 10 epochs"
    assert table.paper_tau[1:].isna().all()  # simclr-resnet18 is no row of the paper's table


def test_table13_refuses_setups_scored_on_different_candidates(tmp_path):
    from sslmem.report.ranking import table13

    scores = [
        _candidate_scores(tmp_path / "a.parquet", "cifar10", "a-x", "mae", "vit_tiny", {1: 0.1, 2: 0.2}),
        _candidate_scores(tmp_path / "b.parquet", "cifar10", "b-x", "mae", "vit_tiny", {1: 0.1, 3: 0.2}),
    ]
    with pytest.raises(ValueError, match="'a-x' and 'b-x' scored different candidates"):
        table13(scores, tmp_path / "table13.csv")


def _layer_scores(path, setup, candidate_means_by_layer, shared_mean=0.0, pair_seeds=(0, 1)):
    rows = []
    for index, (layer, mean) in enumerate(candidate_means_by_layer.items()):
        blocks = [("ensemble", -1, mean)] + [("pair", seed, mean + (0.1 if seed else -0.1)) for seed in pair_seeds]
        for estimate, seed, candidate_mean in blocks:
            for subset, subset_mean in (("S_C", candidate_mean), ("S_S", shared_mean)):
                for i, m in enumerate(subset_values(subset_mean)):
                    rows.append(dict(dataset="cifar10", setup=setup, method="simclr", arch="resnet18",
                                     estimate=estimate, seed=seed, layer_index=index, layer=layer,
                                     point_id=(0 if subset == "S_C" else 100) + i, source="train", subset=subset,
                                     label=0, align_f=0.5, align_g=0.5 + m, m_raw=m, m=m))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_layermem_is_the_candidates_mean_per_layer_and_delta_its_increase(tmp_path):
    from sslmem.report.localization import layermem_table

    path = _layer_scores(tmp_path / "simclr-resnet18.parquet", "simclr-resnet18",
                         {"layer1.0": 0.05, "layer2.0": 0.15, "layer3.0": 0.12}, shared_mean=0.01)
    table = layermem_table([path], tmp_path / "layermem.csv")
    assert list(table.layer) == ["layer1.0", "layer2.0", "layer3.0"]
    np.testing.assert_allclose(table.layermem, [0.05, 0.15, 0.12], atol=1e-12)
    np.testing.assert_allclose(table.delta_layermem, [0.05, 0.10, -0.03], atol=1e-12)  # first: its own value
    # pairs: seed 0 at mean - 0.1, seed 1 at mean + 0.1 → mean over pairs = mean, std = 0.1·√2
    np.testing.assert_allclose(table.layermem_pair_mean, [0.05, 0.15, 0.12], atol=1e-12)
    np.testing.assert_allclose(table.layermem_pair_std, [0.1 * math.sqrt(2)] * 3, atol=1e-12)
    assert list(table.n_pairs) == [2, 2, 2] and list(table.n_candidates) == [N_PER_SUBSET] * 3
    np.testing.assert_allclose(table.offset_m_S_S, [0.01] * 3, atol=1e-12)
    np.testing.assert_allclose(table.layermem_above_offset, [0.04, 0.14, 0.11], atol=1e-12)


def test_layermem_refuses_an_ordinary_score_file(inputs):
    from sslmem.report.localization import layermem_table

    root, scores, _ = inputs
    with pytest.raises(ValueError, match=r"missing column\(s\) \['layer_index', 'layer'\]"):
        layermem_table(scores, root / "layermem.csv")


def test_layermem_figure_is_a_png(tmp_path):
    from sslmem.report.figures import fig_layermem

    path = _layer_scores(tmp_path / "a.parquet", "simclr-resnet18", {"layer1.0": 0.05, "layer2.0": 0.15})
    fig_layermem([path], tmp_path / "layermem_fig.png")
    assert (tmp_path / "layermem_fig.png").read_bytes()[:8] == PNG_MAGIC


def test_unitmem_table_pools_f_encoders_and_compares_the_points_units_single_out(tmp_path):
    from sslmem.report.localization import unitmem_table

    def units(path, seed, role, values, argmax):
        rows = [dict(dataset="cifar10", setup="simclr-resnet18", method="simclr", arch="resnet18", seed=seed,
                     role=role, layer_index=0, layer="layer1.0", unit=u, unitmem=v, argmax_point_id=a,
                     subset="S_C", n_points=N_PER_SUBSET) for u, (v, a) in enumerate(zip(values, argmax))]
        pd.DataFrame(rows).to_parquet(path)
        return path

    paths = [
        units(tmp_path / "f0.parquet", 0, "f", [0.1, 0.5, float("nan")], [0, 5, 0]),
        units(tmp_path / "f1.parquet", 1, "f", [0.3, 0.9, 0.2], [5, 5, 1]),
        units(tmp_path / "g0.parquet", 0, "g", [0.99, 0.99, 0.99], [2, 2, 2]),  # g rows are left out
    ]
    scores = write_scores(tmp_path / "scores.parquet", "cifar10", "simclr", "resnet18")
    table = unitmem_table(paths, [scores], tmp_path / "unitmem.csv")
    row = table.iloc[0]
    assert (row.n_encoders, row.n_units, row.n_undefined_units) == (2, 3, 1)
    alive = np.array([0.1, 0.5, 0.3, 0.9, 0.2])
    assert row.unitmem_mean == pytest.approx(alive.mean()) and row.unitmem_median == pytest.approx(0.3)
    assert row.unitmem_p90 == pytest.approx(np.quantile(alive, 0.9))
    # Points singled out by live units: 0, 5 and 1 (the dead unit's argmax 0 does not count on its own).
    candidate_m = ENSEMBLE_MEANS["S_C"] + SPREAD  # point i of S_C has m = 0.30 + SPREAD[i]
    assert row.n_argmax_points == 3
    assert row.mean_m_argmax_points == pytest.approx(candidate_m[[0, 1, 5]].mean())
    assert row.mean_m_subset == pytest.approx(candidate_m.mean())


# --- a paper value stands only beside the paper's own row ---------------------------------------------------

MISMATCHES = {
    "matching": lambda ident: ident,
    "other epochs": lambda ident: {**ident, "epochs": ident["epochs"] - 1},
    "projection head": lambda ident: {**ident, "representation": "projection"},
    "recipe beyond the training length": lambda ident: {**ident, "length_only": False},
    "no identity": lambda ident: None,
    "a narrower backbone": lambda ident: {**ident, "arch_options": {d: {**o, "width": 8} if "width" in o else
                                                                    {**o, "depth": 4} for d, o in ident["arch_options"].items()}},
    "another learning rate": lambda ident: {**ident, "recipe": {**ident["recipe"], "lr": ident["recipe"]["lr"] / 2}},
}


def _every_table(tmp_path, identities, representation="encoder"):
    """Every table that carries paper values, built from the paper's setups (CIFAR10) under `identities`, their
    score files recording `representation` as what was scored."""
    from sslmem.report.ranking import table13
    from sslmem.report.summaries import table11, table15

    # DINO at 100 epochs is Table 11's SSL row; supervised's recipe the paper does not state (only its length).
    setups = [("mae", "vit_tiny", 600), ("supervised", "resnet50", 10), ("simclr", "resnet50", 600),
              ("dino", "resnet50", 100)]
    scores = [write_scores(tmp_path / f"scores/{m}-{a}.parquet", "cifar10", m, a, setup=f"{m}-{a}",
                           representation=representation) for m, a, _ in setups]
    probes = [write_probe(tmp_path, "cifar10", m, a, "f", 0, 0.7, setup=f"{m}-{a}") for m, a, _ in setups]
    table1_csv = tmp_path / "table1.csv"
    tables = {
        "table1": table1(scores, probes, table1_csv, n_boot=20, identities=identities),
        "table2": table2(scores, tmp_path / "table2.csv", identities=identities),
        "table16": table16(scores, tmp_path / "table16.csv", identities=identities),
        "subsets": subset_summary(scores, tmp_path / "subsets.csv", n_boot=20, identities=identities),
        "table15": table15(table1_csv, {("cifar10", "resnet50"): 25_000_000}, tmp_path / "table15.csv",
                           identities=identities),
        "table11": table11(table1_csv, [("dino-resnet50", 100)], tmp_path / "table11.csv", identities=identities),
        "table13": table13([_candidate_scores(tmp_path / f"c{i}.parquet", "cifar10", f"{m}-{a}", m, a,
                                              {10: 0.1 * i, 11: 0.2, 12: 0.3 - 0.1 * i}, representation)
                            for i, (m, a, _) in enumerate(setups)], tmp_path / "table13.csv", identities=identities),
    }
    return tables, {f"{m}-{a}": identity(m, a, epochs) for m, a, epochs in setups}


@pytest.mark.parametrize("case", sorted(MISMATCHES))
def test_paper_values_stand_only_beside_rows_that_match_on_dataset_method_arch_epochs_and_encoder(tmp_path, case):
    _, matching = _every_table(tmp_path / "probe", {})
    identities = {setup: MISMATCHES[case](ident) for setup, ident in matching.items()}
    # What the score files record as scored is what counts (a projection head is another space than the paper's).
    recorded = "projection" if case == "projection head" else "encoder"
    tables, _ = _every_table(tmp_path / case.replace(" ", "_"), identities, recorded)
    for name, table in tables.items():
        paper = table[[c for c in table.columns if c.startswith("paper_")]]
        numbers = paper.select_dtypes("number")
        if case == "matching":
            assert numbers.notna().any().any(), f"{name}: the paper's own setups got no paper value"
        else:
            assert numbers.isna().all().all(), f"{name} ({case}): a paper value beside a row that is not the paper's"
            texts = paper.drop(columns=numbers.columns).fillna("")
            assert (texts == "").all().all(), f"{name} ({case}): a paper label beside a row that is not the paper's"
