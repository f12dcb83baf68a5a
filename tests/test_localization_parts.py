"""The localization study (items 1-3 of the localization paper's rebuild): ResNet9's layer list, the ViT part hooks
checked against a manual forward of a timm block, the atypical statistics on hand-made values, and one end-to-end
run of `study_localization` on the test preset."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from sslmem.models import ResNet9, build_encoder
from sslmem.pipeline.align import measured_modules
from sslmem.report.localization_atypical import extremes, point_unitmem, ranking_scores
from sslmem.report.localization_parts import part_of, top_unit_shares

REPO = Path(__file__).resolve().parents[1]
PAPER_LAYERS = ["conv1", "conv2", "conv2_1", "conv2_2", "conv3", "conv4", "conv4_1", "conv4_2"]


def test_resnet9_has_the_papers_eight_convolutions_conv4_2_last():
    encoder = build_encoder("resnet9", image_size=32, width=4)
    layers = encoder.named_layers()
    assert list(layers) == PAPER_LAYERS
    assert encoder.named_units() == layers
    convs = [module for module in encoder.modules() if isinstance(module, nn.Conv2d)]
    assert len(convs) == 8
    assert all(sum(isinstance(m, nn.Conv2d) for m in layer.modules()) == 1 for layer in layers.values())
    # Channels w, 2w, 2w, 2w, 4w, 8w, 8w, 8w (the authors' 32-64-64-64-128-256-256-256 at w = 32).
    assert [layer[0].out_channels for layer in layers.values()] == [4, 8, 8, 8, 16, 32, 32, 32]
    assert encoder.feature_dim == 32


def test_resnet9_layers_run_in_their_order_and_read_post_relu_before_the_residual_addition():
    torch.manual_seed(0)
    encoder = build_encoder("resnet9", image_size=32, width=4).eval()
    seen, outputs = [], {}

    def record(name):
        def hook(_module, _inputs, output):
            seen.append(name)
            outputs[name] = output
        return hook

    for name, module in encoder.named_layers().items():
        module.register_forward_hook(record(name))
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = encoder.forward_features(images)
    assert seen == PAPER_LAYERS
    assert all(float(out.min()) >= 0 for out in outputs.values())  # ReLU (and max-pool) outputs: UnitMem defined
    assert features.shape == (2, 32, 2, 2)  # four 2x max-pools: 32 -> 2
    # The last block's output is conv4 + conv4_2(conv4_1(conv4)): conv4_2 is read before the addition.
    assert torch.allclose(features, outputs["conv4"] + outputs["conv4_2"])


def test_resnet9_refuses_images_its_pools_cannot_take():
    with pytest.raises(ValueError, match="too small"):
        build_encoder("resnet9", image_size=8)
    assert isinstance(build_encoder("resnet9", image_size=28, width=2).backbone, ResNet9)


def _vit():
    torch.manual_seed(0)
    return build_encoder("vit_tiny", image_size=8, patch_size=4, embed_dim=8, depth=2, heads=2).eval()


def test_vit_part_hooks_read_the_branches_of_a_manual_block_forward():
    encoder = _vit()
    parts = encoder.named_parts()
    assert list(parts) == ["block0.attn", "block0.mlp", "block1.attn", "block1.mlp"]
    captured, block_io = {}, {}
    for name, module in parts.items():
        module.register_forward_hook(lambda _m, _i, out, name=name: captured.__setitem__(name, out))
    block = encoder.backbone.blocks[1]
    block.register_forward_pre_hook(lambda _m, args: block_io.__setitem__("x", args[0]))
    block.register_forward_hook(lambda _m, _i, out: block_io.__setitem__("out", out))
    with torch.no_grad():
        encoder.forward_features(torch.randn(3, 3, 8, 8))
        x = block_io["x"]
        attn = block.attn(block.norm1(x))          # ls1, drop_path1 are identities
        mlp = block.mlp(block.norm2(x + attn))     # ls2, drop_path2 likewise
    assert torch.allclose(captured["block1.attn"], attn)
    assert torch.allclose(captured["block1.mlp"], mlp)
    assert torch.allclose(block_io["out"], x + attn + mlp)


def test_vit_part_units_read_positive_parts_through_taps_that_release():
    import copy

    encoder = _vit()
    plain = copy.deepcopy(encoder)  # the same weights without hooks: the reference forward
    images = torch.randn(3, 3, 8, 8)
    layers, units, release = measured_modules(encoder, "parts", out_layers="l.parquet", out_units="u.parquet")
    assert list(layers) == list(encoder.named_parts())
    assert list(units) == ["block0.attn", "block0.mlp", "block0.mlp.fc1", "block0.mlp.act",
                           "block1.attn", "block1.mlp", "block1.mlp.fc1", "block1.mlp.act"]
    captured, block_io = {}, {}
    for name, module in units.items():
        module.register_forward_hook(lambda _m, _i, out, name=name: captured.__setitem__(name, out))
    block = plain.backbone.blocks[0]
    block.register_forward_pre_hook(lambda _m, args: block_io.__setitem__("x", args[0]))
    with torch.no_grad():
        tapped = encoder.forward_features(images)
        reference = plain.forward_features(images)
        x = block_io["x"]
        attn = block.attn(block.norm1(x))
        hidden = block.mlp.fc1(block.norm2(x + attn))
    assert torch.equal(tapped, reference)  # the taps read; they change nothing the network computes
    assert torch.allclose(captured["block0.attn"], attn.clamp_min(0))
    assert torch.allclose(captured["block0.mlp.fc1"], hidden.clamp_min(0))
    assert torch.allclose(captured["block0.mlp.act"], nn.functional.gelu(hidden))  # raw GELU, as the core reads
    assert units["block0.mlp.act"] is encoder.backbone.blocks[0].mlp.act
    release()
    captured.clear()
    with torch.no_grad():
        encoder.forward_features(torch.randn(1, 3, 8, 8))
    assert "block0.mlp.fc1" not in captured and "block0.mlp.act" in captured  # taps no longer fed


def test_named_parts_refuses_layer_scale_and_non_vits():
    from timm.models.vision_transformer import VisionTransformer

    from sslmem.models import Encoder

    scaled = Encoder("vit_tiny", VisionTransformer(img_size=8, patch_size=4, embed_dim=8, depth=1, num_heads=2,
                                                   num_classes=0, init_values=0.1), 8)
    with pytest.raises(ValueError, match="ls1 is not an identity"):
        scaled.named_parts()
    with pytest.raises(ValueError, match="not a ViT"):
        build_encoder("resnet9", image_size=32, width=2).named_parts()
    assert part_of("block3.mlp.fc1") == (3, "mlp_hidden")
    assert part_of("block0.attn") == (0, "attn")
    with pytest.raises(ValueError):
        part_of("layer1.0")


def test_point_unitmem_is_the_best_unit_a_point_is_the_argmax_of():
    units = pd.DataFrame({"unitmem": [0.5, 0.7, np.nan, 0.2], "argmax_point_id": [1, 1, 2, 3]})
    assert point_unitmem(units, [1, 2, 3, 4]).tolist() == [0.7, 0.0, 0.2, 0.0]


def test_groups_are_ranked_by_the_other_pairs_and_extremes_are_reproducible():
    pair_m = pd.DataFrame({0: [0.1, 0.9, 0.5, 0.3], 1: [0.4, 0.2, 0.8, 0.0]}, index=[10, 11, 12, 13])
    score, ranking = ranking_scores(pair_m, 0)
    assert ranking == "other_pairs" and score.tolist() == [0.4, 0.2, 0.8, 0.0]
    score, ranking = ranking_scores(pair_m[[0]], 0)
    assert ranking == "same_pair" and score.tolist() == [0.1, 0.9, 0.5, 0.3]
    high, low = extremes(pd.Series([0.4, 0.2, 0.8, 0.0], index=[10, 11, 12, 13]), 1)
    assert high.tolist() == [12] and low.tolist() == [13]
    with pytest.raises(ValueError, match="overlap"):
        extremes(pd.Series([1.0, 2.0, 3.0]), 2)


def test_top_unit_shares_count_where_an_encoders_most_memorising_units_sit():
    keys = {"dataset": "d", "setup": "s", "method": "m", "arch": "a", "seed": 0}
    units = pd.DataFrame([{**keys, "layer_index": i, "layer": f"l{i}", "unitmem": value}
                          for i, values in enumerate([[0.9, 0.1, 0.1], [0.8, 0.7, np.nan, 0.1]]) for value in values])
    shares = top_unit_shares(units, fraction=0.5)  # 6 defined units: the top 3 are 0.9 (l0), 0.8 and 0.7 (l1)
    assert shares["top_unit_share"].tolist() == pytest.approx([1 / 3, 2 / 3])
    assert shares["unit_share"].tolist() == pytest.approx([3 / 7, 4 / 7])
    assert math.isclose(shares["top_unit_share"].sum(), 1.0)


@pytest.mark.parametrize("change, needles", [
    ({"vit_parts": {"setups": ["simclr-resnet18"]}}, ["studies.localization.vit_parts.setups", "not a ViT"]),
    ({"atypical": {"setups": ["simclr-resnet9"], "n": 11, "planted": False}}, ["studies.localization.atypical.n"]),
    ({"atypical": {"setups": ["nope"], "n": 2, "planted": False}}, ["studies.localization.atypical.setups", "nope"]),
    ({"setups": [{"method": "simclr", "arch": "resnet18", "datasets": ["digits"]}]},
     ["studies.localization.setups[0]", "experiment.setups"]),
    ({"setups": [{"method": "simclr", "arch": "resnet9", "datasets": ["digits"]}]}, []),
])
def test_bad_localization_settings_are_named_before_any_job(tmp_path, change, needles):
    import yaml

    from fakedata import write_tiny_fashion_mnist
    from sslmem.config import ConfigError
    from sslmem.plan import resolve_settings

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["common"]["data"]["roots"]["fashion_mnist"] = str(write_tiny_fashion_mnist(tmp_path))
    raw["presets"]["test"]["studies"]["localization"].update(change)
    if not needles:  # a valid change: the study's own setup is found by name
        settings = resolve_settings(raw, "test")
        assert any(entry["name"] == "simclr-resnet9" for entry in settings["derived_setups"])
        return
    with pytest.raises(ConfigError) as error:
        resolve_settings(raw, "test")
    assert all(needle in str(error.value) for needle in needles), str(error.value)


@pytest.mark.slow
def test_study_localization_builds_its_tables_on_the_test_preset(built_test_workflow, tmp_path):
    from tests.workflow_copy import copy_built_workflow, snakemake

    copy_built_workflow(built_test_workflow, tmp_path)
    snakemake(tmp_path, "study_localization")
    results = tmp_path / "runs/test/results"
    resnet9 = pd.read_csv(results / "localization_resnet9.csv")
    assert set(resnet9["dataset"]) == {"fashion_mnist", "digits"}
    for _, group in resnet9.groupby("dataset"):
        assert group.sort_values("layer_index")["layer"].tolist() == PAPER_LAYERS
        assert group.loc[group["is_last_layer"], "layer"].tolist() == ["conv4_2"]
    assert (results / "localization_resnet9_fig.png").stat().st_size > 0
    parts = pd.read_csv(results / "localization_vit_parts.csv")
    assert set(parts["part"]) == {"attn", "mlp", "mlp_hidden", "mlp_gelu"}
    assert parts.loc[parts["part"].isin(["attn", "mlp"]), "layermem"].notna().all()
    # Read as positive parts, no hidden unit lacks a UnitMem unless it never fires.
    hidden = parts[parts["part"] == "mlp_hidden"]
    assert (hidden["n_undefined_units"] <= parts.loc[parts["part"] == "mlp_gelu", "n_undefined_units"].to_numpy()).all()
    test = pd.read_csv(results / "localization_vit_parts_test.csv")
    assert set(test["measure"]) == {"layermem", "unitmem"} and "all" in set(test["block"].astype(str))
    atypical = pd.read_csv(results / "localization_atypical.csv")
    assert {"top_vs_bottom_sslmem", "planted_vs_typical", "kendall_tau_sslmem_unitmem"} <= set(atypical["comparison"])
    resnet9_rows = atypical[(atypical["setup"] == "simclr-resnet9")
                            & (atypical["comparison"] == "top_vs_bottom_sslmem")]
    assert set(resnet9_rows["ranking"]) == {"other_pairs"} and (resnet9_rows["n_seeds"] == 2).all()
