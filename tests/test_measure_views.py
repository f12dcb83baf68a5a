"""Table 8 and Fig. 5: the measurement view families (exact cases), their settings rules, the table8 and Fig. 5
builders on synthetic score files, and Table 8 end to end on the `test` preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats as scipy_stats

from sslmem import config
from sslmem.artifacts import ABOVE_THRESHOLD_COLUMNS, SCORE_COLUMNS, SCORES, TABLE8_COLUMNS, VIEW_SCORES
from sslmem.augment import (
    VIEW_KINDS,
    MeasurementViews,
    add_gaussian_noise,
    color_drop,
    random_rotation,
    rotate,
)
from sslmem.config import ConfigError
from sslmem.report.thresholds import above_threshold, fig5
from sslmem.report.views import family_of, table8
from sslmem.studies import measure_views
from sslmem.plan import resolve_settings

from workflow_copy import copy_workflow, snakemake

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
FAMILIES = {"gaussian_noise": {"kind": "gaussian_noise", "std": 0.2}, "rotation_90": {"kind": "rotation", "degrees": 90}}
# Table 8's comparison with the f/g pair as the unit (its own tests below; NaN with a note when pairs are too few).
PAIR_LEVEL = list(TABLE8_COLUMNS[TABLE8_COLUMNS.index("n_pairs_vs_training"):])


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------ the transforms

# A 4x4 image whose pixel (row, column) holds 4 * row + column, the same in the three channels.
KNOWN = torch.arange(16.0).view(1, 1, 4, 4).expand(1, 3, 4, 4)
# KNOWN turned 90° counter-clockwise (torchvision's positive angle): the right column becomes the top row.
KNOWN_90 = torch.tensor([[3.0, 7, 11, 15], [2, 6, 10, 14], [1, 5, 9, 13], [0, 4, 8, 12]])
KNOWN_180 = torch.tensor([[15.0, 14, 13, 12], [11, 10, 9, 8], [7, 6, 5, 4], [3, 2, 1, 0]])
KNOWN_270 = torch.tensor([[12.0, 8, 4, 0], [13, 9, 5, 1], [14, 10, 6, 2], [15, 11, 7, 3]])


@pytest.mark.parametrize("degrees, expected", [(0.0, KNOWN[0, 0]), (90.0, KNOWN_90), (180.0, KNOWN_180),
                                               (270.0, KNOWN_270), (-90.0, KNOWN_270)])
def test_rotation_of_a_known_image(degrees, expected):
    turned = rotate(KNOWN, torch.tensor([degrees]))
    for channel in range(3):
        torch.testing.assert_close(turned[0, channel], expected, atol=1e-5, rtol=0)


def test_a_non_right_angle_leaves_black_corners_and_keeps_the_centre():
    white = torch.ones(1, 3, 9, 9)
    turned = rotate(white, torch.tensor([45.0]))
    assert turned[0, :, 0, 0].max() < 0.05  # a corner comes from outside the image: fill 0
    torch.testing.assert_close(turned[0, :, 4, 4], torch.ones(3))


def test_random_rotation_draws_each_angle_uniformly_in_plus_minus_degrees():
    images = torch.rand(6, 3, 8, 8, generator=generator(1))
    angles = torch.rand(6, generator=generator(7)) * 180 - 90  # the draw, by hand: U(-90, 90)
    torch.testing.assert_close(random_rotation(images, 90, generator(7)), rotate(images, angles))


def test_gaussian_noise_is_the_generators_normal_draw_times_std_clipped():
    images = torch.rand(2, 3, 8, 8, generator=generator(2))
    expected = (images + 0.2 * torch.randn(images.shape, generator=generator(5))).clamp(0, 1)
    torch.testing.assert_close(add_gaussian_noise(images, 0.2, generator(5)), expected)


def test_gaussian_noise_has_the_std_it_is_given():
    grey = torch.full((64, 3, 16, 16), 0.5)
    noisy = add_gaussian_noise(grey, 0.05, generator(3))  # 10 std from the clipping bounds: no clipping
    assert (noisy - grey).std().item() == pytest.approx(0.05, rel=0.02)
    assert (noisy - grey).mean().item() == pytest.approx(0.0, abs=1e-3)
    assert noisy.min() >= 0 and noisy.max() <= 1


def test_color_drop_is_simclrs_grayscale_with_probability_p():
    red_green_blue = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]).view(1, 3, 3, 1).permute(0, 1, 3, 2)
    red_green_blue = red_green_blue.expand(1, 3, 3, 3)  # columns red, green, blue
    dropped = color_drop(red_green_blue, 1.0, generator())
    for channel in range(3):  # ITU-R 601-2 luma of pure red, green, blue, in every channel
        torch.testing.assert_close(dropped[0, channel, 0], torch.tensor([0.299, 0.587, 0.114]))
    torch.testing.assert_close(color_drop(red_green_blue, 0.0, generator()), red_green_blue)
    colours = torch.rand(4000, 3, 2, 2, generator=generator(4))
    grey = (color_drop(colours, 0.25, generator(6)).std(dim=1) < 1e-6).flatten(1).all(dim=1)
    assert grey.float().mean().item() == pytest.approx(0.25, abs=0.03)


def test_measurement_views_resize_transform_normalise_and_follow_the_generator():
    views = MeasurementViews("rotation", {"degrees": 90}, out_size=8, mean=(0.5,) * 3, std=(0.25,) * 3)
    images = (torch.rand(3, 3, 4, 4, generator=generator(8)) * 255).to(torch.uint8)
    first = views(images, generator(9))
    assert first.shape == (3, 3, 8, 8)
    torch.testing.assert_close(views(images, generator(9)), first)  # a pure function of the generator's state
    assert not torch.equal(views(images, generator(10)), first)
    expected = (random_rotation(views.resized(images), 90, generator(9)) - 0.5) / 0.25
    torch.testing.assert_close(first, expected)


def test_measurement_views_refuse_an_unknown_kind_or_a_missing_parameter():
    with pytest.raises(ValueError, match="unknown measurement view kind 'blur'"):
        MeasurementViews("blur", {}, 8, (0.5,) * 3, (0.25,) * 3)
    with pytest.raises(ValueError, match="needs \\['std'\\]"):
        MeasurementViews("gaussian_noise", {"p": 0.2}, 8, (0.5,) * 3, (0.25,) * 3)


# ------------------------------------------------------------------------------------------------ settings


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def refused(raw: dict, *needles: str) -> str:
    with pytest.raises(ConfigError) as error:
        resolve_settings(raw, "test", check_roots=False)
    for needle in needles:
        assert needle in str(error.value), f"{needle!r} not in {error.value}"
    return str(error.value)


def test_an_unknown_measurement_augmentation_is_named_before_any_compute(raw):
    raw["presets"]["test"]["measure"]["table8"]["families"] = ["gaussian_noise", "blur"]
    refused(raw, "measure.table8.families", "['blur']", "measure.view_families")


def test_an_unknown_view_kind_and_a_parameter_of_another_kind_are_refused(raw):
    raw["common"]["measure"]["view_families"]["blur"] = {"kind": "blur", "sigma": 1}
    refused(raw, "view_families", "blur")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["common"]["measure"]["view_families"]["rotation_90"] = {"kind": "rotation", "std": 0.2}
    refused(raw, "measure.view_families.rotation_90", "takes ['degrees']", "missing ['degrees']", "['std']")


def test_color_drop_on_grey_images_and_an_unknown_setup_are_refused(raw):
    raw["presets"]["test"]["measure"]["table8"]["families"] = ["color_drop"]
    refused(raw, "measure.table8.runs[0]", "color_drop", "fashion_mnist", "grey")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["presets"]["test"]["measure"]["table8"]["runs"] = [{"setup": "dino-vit_base", "datasets": ["fashion_mnist"]}]
    refused(raw, "measure.table8.runs[0].setup", "dino-vit_base")


def test_the_schemas_view_kinds_are_the_transforms():
    schema = yaml.safe_load((REPO / "src/sslmem/params.schema.yaml").read_text())
    assert sorted(schema["$defs"]["view_kind"]["enum"]) == sorted(VIEW_KINDS)


@pytest.mark.parametrize("preset", ["default", "paper", "test"])
def test_every_preset_plans_its_table8_files(preset, raw):
    settings = resolve_settings(raw, preset, check_roots=False)
    planned = measure_views.planned(settings)
    assert planned, preset
    files = measure_views.view_score_files(settings)
    assert len(files) == len(planned) * len(settings["measure"]["table8"]["families"])
    assert all(family_of(path) in settings["measure"]["view_families"] for path in files)


def test_an_unknown_view_family_on_the_command_line_names_the_known_ones(raw):
    from sslmem.pipeline.align import measurement_augment

    settings = resolve_settings(raw, "test", check_roots=False)
    meta = {"dataset": "fashion_mnist", "image_size": 28}
    with pytest.raises(ConfigError, match="'blur'.*gaussian_noise"):
        measurement_augment(settings, meta, "blur")
    assert isinstance(measurement_augment(settings, meta, "rotation_90"), MeasurementViews)


# ----------------------------------------------------------------------------------- builders, synthetic data

SETUP = {"dataset": "fashion_mnist", "setup": "simclr-resnet18", "method": "simclr", "arch": "resnet18"}
CANDIDATE_M = np.array([0.5, 0.3, 0.1, -0.1])


def score_rows(m_candidates, offset: float = 0.0, setup: dict = SETUP) -> pd.DataFrame:
    """Ensemble rows (4 candidates, 2 S_S, 1 S_I, 1 S_E) and pair rows of seeds 0 and 1 (candidates ± 0.1)."""
    subsets = ["S_C"] * 4 + ["S_S", "S_S", "S_I", "S_E"]
    m = np.concatenate([m_candidates, [offset, offset, -0.3, 0.0]])
    rows = []
    for estimate, seed, shift in (("ensemble", -1, 0.0), ("pair", 0, 0.1), ("pair", 1, -0.1)):
        for point, (subset, value) in enumerate(zip(subsets, m)):
            value = value + (shift if subset == "S_C" else 0.0)
            rows.append({**setup, "representation": "encoder", "estimate": estimate, "seed": seed,
                         "point_id": point, "source": "train", "subset": subset, "label": 0,
                         "align_f": 1.0, "align_g": 1.0 + value, "m_raw": value, "m": value})
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)
    return path


@pytest.fixture
def score_files(tmp_path):
    keys = {"dataset": SETUP["dataset"], "setup": SETUP["setup"]}
    training = write(score_rows(CANDIDATE_M, offset=0.1), tmp_path / SCORES.format(**keys))
    views = [write(score_rows(CANDIDATE_M / 2, offset=0.05), tmp_path / VIEW_SCORES.format(family="gaussian_noise", **keys)),
             write(score_rows(CANDIDATE_M[::-1].copy()), tmp_path / VIEW_SCORES.format(family="rotation_90", **keys))]
    return [training], views


def build_table8(score_files, tmp_path, identities=None, families=FAMILIES) -> pd.DataFrame:
    training, views = score_files
    table8(training, views, tmp_path / "table8.csv", families=families, training_views={SETUP["setup"]: "simclr"},
           n_boot=200, identities=identities)
    return pd.read_csv(tmp_path / "table8.csv")


def test_table8_rows_columns_and_numbers(score_files, tmp_path):
    written = build_table8(score_files, tmp_path)
    assert list(written.columns) == list(TABLE8_COLUMNS)
    table = written.set_index("view_family")
    assert list(table.index) == ["training", "gaussian_noise", "rotation_90"]
    assert table.loc["training", "view"] == "training augmentation (simclr)"
    assert table.loc["rotation_90", "view"] == "rotation(degrees=90)"
    assert table["sslmem_ensemble"].tolist() == pytest.approx([0.2, 0.1, 0.2])
    assert table["sslmem_mean"].tolist() == pytest.approx([0.2, 0.1, 0.2])  # pairs: ±0.1 around the ensemble
    assert table["sslmem_std"].tolist() == pytest.approx([np.sqrt(0.02)] * 3)
    assert table["m_candidates_minus_shared"].tolist() == pytest.approx([0.1, 0.05, 0.2])
    assert table.loc["gaussian_noise", "diff_vs_training"] == pytest.approx(-0.1)
    assert table.loc["gaussian_noise", "kendall_tau_vs_training"] == pytest.approx(1.0)  # the same ranking
    assert table.loc["rotation_90", "kendall_tau_vs_training"] == pytest.approx(-1.0)  # the reverse ranking
    low, high = table.loc["gaussian_noise", ["diff_vs_training_ci_low", "diff_vs_training_ci_high"]]
    assert low <= -0.1 <= high
    numbers = [column for column in TABLE8_COLUMNS[6:] if column not in ("view_family", "view") and
               not column.startswith("paper_") and column not in PAIR_LEVEL]
    comparison = [column for column in numbers if "training" in column]
    assert not table.loc[["gaussian_noise", "rotation_90"], numbers].isna().any().any()
    assert not table.loc["training", [c for c in numbers if c not in comparison]].isna().any()
    assert table.loc["training", comparison].isna().all()  # the reference compares with nothing


def test_table8_pair_level_columns_with_two_pairs(score_files, tmp_path):
    """Seeds 0 and 1 shift the candidates by ±0.1 under every family: each pair's difference to the training
    augmentation is the same (gaussian noise: −0.1 twice), so there is no spread to test and no mixed model (< 3)."""
    table = build_table8(score_files, tmp_path).set_index("view_family")
    noise = table.loc["gaussian_noise"]
    assert noise["n_pairs_vs_training"] == 2 and noise["pairs_below_training"] == 2
    assert noise["pair_diff_vs_training"] == pytest.approx(-0.1)
    assert np.isnan(noise["pair_p_vs_training"]) and "no spread" in noise["pair_note_vs_training"]
    assert np.isnan(noise["mixed_p_vs_training"]) and "at least 3" in noise["mixed_note_vs_training"]
    assert noise["claim_test_vs_training"] == "none" and not noise["differs_from_training"]
    assert table.loc["training", PAIR_LEVEL].drop("differs_from_training").isna().all()  # the reference


# Per pair seed: the candidates' mean shift under the training augmentation and under the family (4 pairs).
TRAINING_SHIFTS = {0: 0.30, 1: 0.10, 2: 0.25, 3: 0.05}
FAMILY_DIFFERENCES = {0: -0.1, 1: -0.3, 2: 0.0, 3: -0.2}  # family − training, per pair
SMALL_SPREAD = np.array([0.01, -0.01, 0.005, -0.005])  # the candidates' own spread, small beside the pairs'


def pair_score_rows(shifts: dict) -> pd.DataFrame:
    """Ensemble rows (the mean of the pairs) and one block of pair rows per seed: 4 candidates at shift + spread,
    S_S at 0."""
    blocks = [("ensemble", -1, float(np.mean(list(shifts.values()))))]
    blocks += [("pair", seed, shift) for seed, shift in shifts.items()]
    rows = []
    for estimate, seed, shift in blocks:
        values = [*(shift + SMALL_SPREAD), 0.0]
        for point, (subset, value) in enumerate(zip(["S_C"] * 4 + ["S_S"], values)):
            rows.append({**SETUP, "representation": "encoder", "estimate": estimate, "seed": seed, "point_id": point,
                         "source": "train", "subset": subset, "label": 0, "align_f": 1.0, "align_g": 1.0 + value,
                         "m_raw": value, "m": value})
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def test_table8_tests_the_difference_over_pairs(tmp_path):
    keys = {"dataset": SETUP["dataset"], "setup": SETUP["setup"]}
    training = write(pair_score_rows(TRAINING_SHIFTS), tmp_path / SCORES.format(**keys))
    family = {seed: TRAINING_SHIFTS[seed] + FAMILY_DIFFERENCES[seed] for seed in TRAINING_SHIFTS}
    view = write(pair_score_rows(family), tmp_path / VIEW_SCORES.format(family="gaussian_noise", **keys))
    table8([training], [view], tmp_path / "table8.csv", families={"gaussian_noise": FAMILIES["gaussian_noise"]},
           training_views={}, n_boot=50, alpha=0.05)
    row = pd.read_csv(tmp_path / "table8.csv").set_index("view_family").loc["gaussian_noise"]
    # Differences −0.1, −0.3, 0, −0.2: mean −0.15, sd sqrt(0.05 / 3), t = −0.15 / (sd / 2), df 3, two-sided.
    sd = np.sqrt(0.05 / 3)
    t = -0.15 / (sd / 2)
    p = 2 * scipy_stats.t.sf(abs(t), 3)
    assert row["n_pairs_vs_training"] == 4 and row["pairs_below_training"] == 3
    assert row["pair_diff_vs_training"] == pytest.approx(-0.15)
    assert row["pair_t_vs_training"] == pytest.approx(t) and row["pair_p_vs_training"] == pytest.approx(p)
    # Balanced, the candidates' spread far below the pairs': the mixed model's effect and SE are the pairs'.
    assert row["mixed_diff_vs_training"] == pytest.approx(-0.15, abs=1e-6)
    assert row["mixed_se_vs_training"] == pytest.approx(sd / 2, rel=1e-3)
    assert row["mixed_p_vs_training"] == pytest.approx(p, rel=1e-2)
    assert row["claim_test_vs_training"] == "mixed model"
    assert bool(row["differs_from_training"]) == (row["mixed_p_vs_training"] < 0.05)
    # The point-level difference (over the ensemble's candidates) is the same mean.
    assert row["diff_vs_training"] == pytest.approx(-0.15)


def test_table8_has_no_paper_value_beside_another_run(score_files, tmp_path, raw):
    identities = config.paper_identities(resolve_settings(raw, "default", check_roots=False))
    table = build_table8(score_files, tmp_path, identities=identities)
    assert table[["paper_view", "paper_sslmem", "paper_sslmem_std"]].isna().all().all()


def test_table8_puts_the_papers_value_beside_its_own_run_only(tmp_path, raw):
    settings = resolve_settings(raw, "paper", check_roots=False)
    identities = config.paper_identities(settings)
    paper_run = {"dataset": "cifar10", "setup": "simclr-resnet50", "method": "simclr", "arch": "resnet50"}
    keys = {"dataset": "cifar10", "setup": "simclr-resnet50"}
    training = write(score_rows(CANDIDATE_M, setup=paper_run), tmp_path / SCORES.format(**keys))
    views = [write(score_rows(CANDIDATE_M / 2, setup=paper_run), tmp_path / VIEW_SCORES.format(family=name, **keys))
             for name in settings["measure"]["view_families"]]
    families = dict(settings["measure"]["view_families"])
    families["rotation_90"] = {"kind": "rotation", "degrees": 45}  # not the paper's "Rotate 90°"
    table8([training], views, tmp_path / "table8.csv", families=families, training_views={}, n_boot=50,
           identities=identities)
    table = pd.read_csv(tmp_path / "table8.csv").set_index("view_family")
    assert table.loc["training", "paper_sslmem"] == 0.339 and table.loc["color_drop", "paper_view"] == "ColorDrop 0.25"
    assert table.loc["gaussian_noise", "paper_sslmem"] == 0.321
    assert np.isnan(table.loc["rotation_90", "paper_sslmem"])  # another view: no paper value
    assert table["sslmem_ensemble"].tolist() == pytest.approx([0.2] + [0.1] * 4)  # ours, never the paper's


def test_table8_without_runs_is_its_header(tmp_path):
    table8([], [], tmp_path / "table8.csv", families=FAMILIES, training_views={})
    assert (tmp_path / "table8.csv").read_text().strip() == ",".join(TABLE8_COLUMNS)


def test_table8_names_a_family_without_score_files(score_files, tmp_path):
    with pytest.raises(ValueError, match="rotation_270"):
        build_table8(score_files, tmp_path, families={**FAMILIES, "rotation_270": {"kind": "rotation", "degrees": 270}})


def test_above_threshold_counts_points_strictly_above(score_files, tmp_path):
    training, _ = score_files
    table = above_threshold(training, tmp_path / "above.csv", thresholds=[0.3, 0.0, 0.4])
    assert list(pd.read_csv(tmp_path / "above.csv").columns) == list(ABOVE_THRESHOLD_COLUMNS)
    candidates = table[table["subset"] == "S_C"]
    assert candidates["threshold"].tolist() == [0.0, 0.3, 0.4]  # ascending
    assert candidates["n_above"].tolist() == [3, 1, 1]  # m = 0.5, 0.3, 0.1, -0.1; 0.3 is not above 0.3
    assert candidates["fraction_above"].tolist() == pytest.approx([0.75, 0.25, 0.25])
    assert set(table["subset"]) == {"S_C", "S_S", "S_I", "S_E"} and not table.isna().any().any()
    fig5(tmp_path / "above.csv", tmp_path / "fig5.png")
    assert (tmp_path / "fig5.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------- end to end (test)


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")
def test_table8_end_to_end_on_the_test_preset(tmp_path):
    copy_workflow(tmp_path)
    snakemake(tmp_path, "study_measure_views")
    table = pd.read_csv(tmp_path / "results/table8.csv")
    assert table["view_family"].tolist() == ["training", "gaussian_noise", "rotation_90"]
    assert set(table["n_candidates"]) == {20} and table["sslmem_ensemble"].notna().all()
    assert table["paper_sslmem"].isna().all()  # Fashion-MNIST is not the paper's run
    view = pd.read_parquet(tmp_path / "results/studies/measure_views/rotation_90/align/fashion_mnist/simclr-resnet18/f0.parquet")
    core = pd.read_parquet(tmp_path / "results/align/fashion_mnist/simclr-resnet18/f0.parquet")
    assert view[["point_id", "subset"]].equals(core[["point_id", "subset"]])  # the same points, other views
    assert not np.allclose(view["align"], core["align"])
