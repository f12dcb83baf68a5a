"""The localization paper's UnitMem conditions (Figs. 4, 5, 1c; study unitmem_conditions) and uses (fine-tuning by
LayerMem, pruning by UnitMem; study localization_uses): the unit choice, zeroing and freezing on hand-made models,
the paired tests on hand-computed values, the settings refused before any compute, and one build of both targets
on the test preset."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from sslmem.config import ConfigError
from sslmem.plan import resolve_settings
from sslmem.pipeline.localization_uses import choose_units, rank_layers, unfreeze_only, zero_units
from sslmem.report.localization_uses import paired_test
from sslmem.report.unitmem_conditions import (CONDITION_COLUMNS, TESTS_COLUMNS, condition_tests_table, layer_summary,
                                              spearman_exact)
from workflow_copy import REPO, copy_built_workflow, snakemake


# ------------------------------------------------------------------------------------------ unit choice and pruning

def test_units_are_chosen_by_unitmem_among_the_defined_ones():
    unitmem = np.array([0.5, np.nan, 0.9, 0.1, 0.3, np.nan, 0.7])  # 5 defined units
    rng = np.random.default_rng(0)
    assert choose_units(unitmem, 0.4, "top", rng).tolist() == [2, 6]      # round(0.4 * 5) = 2: 0.9 and 0.7
    assert choose_units(unitmem, 0.4, "bottom", rng).tolist() == [3, 4]   # 0.1 and 0.3
    assert choose_units(unitmem, 0.4, "none", rng).tolist() == []
    for seed in range(20):  # a random draw never picks an undefined unit, and picks as many as the others
        picked = choose_units(unitmem, 0.6, "random", np.random.default_rng(seed))
        assert len(picked) == 3 and not set(picked) & {1, 5}
    with pytest.raises(ValueError, match="strategy"):
        choose_units(unitmem, 0.4, "largest", rng)


def test_pruning_zeroes_exactly_the_chosen_output_channels_and_is_undone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 1))
    images = torch.randn(2, 3, 5, 5)
    before = model[1](model[0](images)).detach()
    handles = zero_units({"relu": model[1]}, {"relu": np.array([1, 4])})
    hidden = {}
    model[1].register_forward_hook(lambda module, inputs, output: hidden.setdefault("out", output.detach()))
    model(images)
    assert torch.equal(hidden["out"][:, [1, 4]], torch.zeros(2, 2, 5, 5))              # the chosen channels: zero
    assert torch.equal(hidden["out"][:, [0, 2, 3, 5]], before[:, [0, 2, 3, 5]])        # the others: untouched
    for handle in handles:
        handle.remove()
    hidden.clear()
    model(images)
    assert torch.equal(hidden["out"], before)


def test_pruning_a_token_layer_zeroes_its_last_dimension():
    layer = nn.Linear(4, 5)
    tokens = torch.randn(2, 3, 4)  # [B, N, D] as a ViT's MLP activation
    handles = zero_units({"mlp": layer}, {"mlp": np.array([0, 3])})
    out = layer(tokens)
    assert torch.equal(out[..., [0, 3]], torch.zeros(2, 3, 2))
    assert torch.allclose(out[..., [1, 2, 4]], (tokens @ layer.weight.T + layer.bias)[..., [1, 2, 4]])
    handles[0].remove()


# ------------------------------------------------------------------------------------------ fine-tuning

def test_unfreezing_a_layer_leaves_exactly_its_parameters_trainable():
    from sslmem.models import build_encoder

    encoder = build_encoder("resnet18", image_size=28, width=8)
    layers = encoder.named_layers()
    trainable = unfreeze_only(encoder, layers, ["layer2.0"])
    own = {f"backbone.layer2.0.{name}" for name, _ in layers["layer2.0"].named_parameters()}
    assert set(trainable) == own and own
    assert all(not p.requires_grad for n, p in encoder.named_parameters() if n not in own)
    assert layers["layer2.0"].training and not layers["layer3.0"].training and not encoder.backbone.conv1.training
    assert unfreeze_only(encoder, layers, []) == []  # the head alone
    with pytest.raises(ValueError, match="nope"):
        unfreeze_only(encoder, layers, ["nope"])


def test_layers_are_ranked_by_their_layermem():
    table = pd.DataFrame({"layer_index": [0, 1, 2, 3], "layer": ["a", "b", "c", "d"],
                          "delta_layermem": [0.1, 0.4, -0.2, 0.4], "layermem": [0.1, 0.5, 0.3, 0.7]})
    assert rank_layers(table, "delta_layermem", 1) == {"most": ["b"], "least": ["c"]}   # tie: the earlier layer
    assert rank_layers(table, "delta_layermem", 2) == {"most": ["b", "d"], "least": ["a", "c"]}
    assert rank_layers(table, "layermem", 1) == {"most": ["d"], "least": ["a"]}
    with pytest.raises(ValueError, match="layers"):
        rank_layers(table, "layermem", 3)


# ------------------------------------------------------------------------------------------ tests over seeds

def test_the_paired_test_is_one_sided_over_the_common_seeds():
    a = pd.Series({0: 3.0, 1: 4.0, 2: 5.0, 7: 100.0})
    b = pd.Series({0: 1.0, 1: 1.0, 2: 1.0})
    result = paired_test(a, b, alpha=0.05, paper="a above b")
    # differences 2, 3, 4: mean 3, sd 1, t = 3 / (1 / sqrt 3) = sqrt 27; t(2)'s tail: 1/2 − t / (2 sqrt(t² + 2))
    assert result["n_seeds"] == 3 and result["mean_difference"] == pytest.approx(3.0)
    assert result["statistic"] == pytest.approx(math.sqrt(27))
    assert result["p_value"] == pytest.approx(0.5 - math.sqrt(27) / (2 * math.sqrt(29)))
    assert result["direction_holds"] and result["significant"]
    reverse = paired_test(b, a, alpha=0.05, paper="b above a")
    assert not reverse["direction_holds"] and reverse["p_value"] > 0.9
    one = paired_test(pd.Series({0: 2.0}), pd.Series({0: 1.0}), alpha=0.05, paper="x")
    assert one["n_seeds"] == 1 and math.isnan(one["p_value"]) and one["direction_holds"] and not one["significant"]


def test_the_last_unit_layer_is_averaged_over_its_defined_units():
    units = pd.DataFrame({"dataset": "d", "setup": "s", "method": "m", "arch": "a", "seed": 0,
                          "layer_index": [0, 0, 1, 1, 1], "layer": ["l0", "l0", "l1", "l1", "l1"],
                          "unitmem": [0.9, 0.9, 0.2, np.nan, 0.4]})
    row = layer_summary(units, None).iloc[0]
    assert (row["layer"], row["n_units"], row["n_undefined_units"]) == ("l1", 3, 1)
    assert row["unitmem_mean"] == pytest.approx(0.3)
    assert layer_summary(units, "l0").iloc[0]["unitmem_mean"] == pytest.approx(0.9)


def test_the_conditions_are_tested_in_the_papers_direction(tmp_path):
    rows = []
    for seed, rise in ((0, 0.10), (1, 0.12), (2, 0.08)):
        for epoch in (1, 2, 3):
            rows.append({"condition": "training", "level": f"epoch {epoch}", "level_value": epoch, "seed": seed,
                         "unitmem_mean": 0.3 + rise * epoch})
        rows += [{"condition": "augmentations", "level": "with augmentation", "level_value": 1.0, "seed": seed,
                  "unitmem_mean": 0.5 + rise}, {"condition": "augmentations", "level": "without augmentation",
                                                "level_value": 0.0, "seed": seed, "unitmem_mean": 0.5}]
        rows += [{"condition": "privacy", "level": level, "level_value": value, "seed": seed,
                  "unitmem_mean": 0.6 - rise * k} for k, (level, value) in enumerate(
                      [("eps inf", math.inf), ("eps 20", 20.0), ("eps 8", 8.0)])]
    table = pd.DataFrame(rows).assign(dataset="d", setup="s", encoder_setup="s", method="m", arch="a", layer="l",
                                      n_units=4, n_undefined_units=0, unitmem_median=0.0)[CONDITION_COLUMNS]
    table.to_csv(tmp_path / "conditions.csv", index=False)
    tests = condition_tests_table(tmp_path / "conditions.csv", tmp_path / "tests.csv", alpha=0.05)
    assert list(tests.columns) == TESTS_COLUMNS
    assert tests["comparison"].tolist() == ["with vs without augmentation", "eps inf vs eps 8", "eps inf vs eps 20",
                                            "trend over eps", "epoch 3 vs epoch 1", "trend over epochs"]
    assert tests["direction_holds"].all() and (tests["n_seeds"] == 3).all()
    with_without = tests.iloc[0]
    assert with_without["mean_difference"] == pytest.approx(0.10)
    assert tests.iloc[4]["mean_difference"] == pytest.approx(0.20)  # epoch 3 − epoch 1: 2 × the mean rise
    assert tests.iloc[3]["statistic"] == pytest.approx(1.0) and tests.iloc[5]["statistic"] == pytest.approx(1.0)
    # Three levels in order: 2 of the 6 orderings have |rho| = 1, so the exact two-sided p is 1/3, not 0.
    assert tests.iloc[3]["p_value"] == pytest.approx(1 / 3) and not tests.iloc[3]["significant"]


def test_the_exact_spearman_p_counts_the_orderings():
    assert spearman_exact([0.1, 0.2, 0.3, 0.4]) == (pytest.approx(1.0), pytest.approx(2 / 24))
    rho, p_value = spearman_exact([0.2, 0.1, 0.4, 0.3])  # rho = 0.6: orderings with |rho| >= 0.6
    assert rho == pytest.approx(0.6) and p_value == pytest.approx(10 / 24)


# ------------------------------------------------------------------------------------------ settings

@pytest.fixture
def raw():
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_unknown_variants_setups_and_tasks_are_refused_before_any_compute(raw):
    raw["presets"]["test"]["studies"]["unitmem_conditions"] = {"without_augmentation": "nothing"}
    with pytest.raises(ConfigError, match="without_augmentation: 'nothing'"):
        resolve_settings(raw, "test", check_roots=False)
    del raw["presets"]["test"]["studies"]["unitmem_conditions"]
    raw["presets"]["test"]["studies"]["localization_uses"]["runs"] = [{"setup": "nope", "datasets": ["fashion_mnist"]}]
    with pytest.raises(ConfigError, match=r"localization_uses.runs\[0\].setup: no setup 'nope'"):
        resolve_settings(raw, "test", check_roots=False)
    raw["presets"]["test"]["studies"]["localization_uses"]["runs"] = []
    raw["presets"]["test"]["studies"]["localization_uses"]["task"] = "mnist_typo"
    with pytest.raises(ConfigError, match="task: 'mnist_typo'"):
        resolve_settings(raw, "test", check_roots=False)
    raw["presets"]["test"]["studies"]["localization_uses"]["task"] = None
    raw["presets"]["test"]["studies"]["localization_uses"]["prune"] = {"fractions": [1.5]}
    with pytest.raises(ConfigError, match="fractions"):  # the section's schema comes from the plugin
        resolve_settings(raw, "test", check_roots=False)


# ------------------------------------------------------------------------------------------ end to end

def test_snakemake_builds_both_studies_on_the_test_preset(tmp_path, built_test_workflow):
    """The dynamics snapshots and the DP encoders the session fixture built, one SimCLR pair trained without
    augmentation, the core f encoder fine-tuned and pruned."""
    copy_built_workflow(built_test_workflow, tmp_path)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["presets"]["test"]["studies"]["augmentations"]["runs"].append(
        {"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "variants": ["no_aug"]})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    snakemake(tmp_path, "study_unitmem_conditions", "study_localization_uses")
    conditions = pd.read_csv(tmp_path / "results/unitmem_conditions.csv")
    assert list(conditions.columns) == CONDITION_COLUMNS
    levels = conditions.groupby("condition")["level"].apply(list).to_dict()
    assert levels == {"augmentations": ["without augmentation", "with augmentation"],
                      "privacy": ["eps inf", "eps 8"], "training": ["epoch 1", "epoch 2"]}
    assert conditions["unitmem_mean"].between(0, 1).all()
    assert set(conditions.loc[conditions["arch"] == "resnet18", "layer"]) == {"layer4.1"}  # the last block
    no_aug = torch.load(tmp_path / "results/studies/augmentations/checkpoints/fashion_mnist/simclr-resnet18-no_aug/f0.pt",
                        weights_only=True)
    assert '"augment": {"crop_scale": [1.0, 1.0]' in no_aug["meta"]["training_settings"]
    assert list(pd.read_csv(tmp_path / "results/unitmem_condition_tests.csv").columns) == TESTS_COLUMNS
    pruning = pd.read_csv(tmp_path / "results/pruning_by_unitmem.csv")
    assert pruning["comparison"].tolist() == ["top_vs_bottom", "top_vs_random"]
    assert (pruning["n_pruned_mean"] * 2 <= pruning["n_units"]).all() and (pruning["n_seeds"] == 1).all()
    per_encoder = pd.read_csv(tmp_path / "results/studies/localization_uses/finetune/fashion_mnist/simclr-resnet18/f0.csv")
    assert per_encoder["condition"].tolist() == ["head_only", "most", "least"]
    assert per_encoder["top1"].between(0, 1).all()
    finetune = pd.read_csv(tmp_path / "results/finetune_by_layermem.csv")
    assert finetune["comparison"].tolist() == ["most_vs_least", "most_vs_head_only"]
    for name in ("unitmem_training_fig", "unitmem_augmentations_fig", "unitmem_privacy_fig",
                 "finetune_by_layermem_fig", "pruning_by_unitmem_fig"):
        assert (tmp_path / f"results/{name}.png").stat().st_size > 0
