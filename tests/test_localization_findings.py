"""The localization findings table (`sslmem.report.localization_findings`): verdicts from hand-made test rows, and
the whole table from small hand-made source tables."""

from __future__ import annotations

import pandas as pd
import pytest

from sslmem.report.localization_findings import FINDINGS_COLUMNS, findings_table, verdict


@pytest.mark.parametrize("significant, direction, n_seeds, expected", [
    ([True, True], [True, True], 3, "holds"),
    ([True, False], [True, True], 3, "holds in part"),
    ([False, False], [True, True], 3, "direction only"),
    ([False, False], [True, False], 3, "does not hold"),
    ([True], [True], 1, "untested"),
])
def test_verdicts(significant, direction, n_seeds, expected):
    assert verdict(significant, direction, n_seeds) == expected


def write(path, rows) -> str:
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def sources(tmp_path) -> dict:
    """One setup per source; every test row of 3 seeds (the localization results' columns)."""
    base = {"dataset": "fashion_mnist", "alpha": 0.01}
    resnet9 = [{**base, "setup": "simclr-resnet9", "layer_index": i, "layer": f"conv{i}", "layermem": value,
                "n_pairs": 3, "top_unit_share": share, "unit_share": 0.25}
               for i, (value, share) in enumerate([(0.1, 0.0), (0.2, 0.2), (0.3, 0.3), (0.4, 0.5)])]
    classmem = [{**base, "setup": setup, "supervised": supervised, "fraction_unitmem_above_classmem": share}
                for setup, supervised, share in [("simclr-resnet18", False, 0.9), ("supervised-resnet18", True, 0.3)]]
    atypical = [{**base, "setup": "simclr-resnet18", "comparison": "top_vs_bottom_sslmem", "measure": "unitmem",
                 "layer": layer, "effect": effect, "p_value": p, "holds": p < 0.01, "n_seeds": 3}
                for layer, effect, p in [("layer1", 0.2, 0.001), ("layer2", 0.1, 0.2)]]
    vit = [{**base, "setup": "mae-vit_tiny", "measure": "unitmem", "block": "all", "mean_mlp": 0.5, "mean_attn": 0.6,
            "mean_diff": -0.1, "p_value": 0.9, "holds": False, "n_seeds": 3}]
    conditions = [{**base, "setup": "mae-vit_tiny", "condition": "privacy", "comparison": "eps inf vs eps 8",
                   "statistic": float("nan"), "mean_difference": 0.02, "p_value": float("nan"), "n_seeds": 1,
                   "direction_holds": True, "significant": False}]
    finetune = [{**base, "setup": "simclr-resnet18", "comparison": "most_vs_least", "layers_a": "layer1",
                 "layers_b": "layer4", "top1_a_mean": 70.0, "top1_b_mean": 71.0, "p_value": 0.9, "n_seeds": 3,
                 "direction_holds": False, "significant": False}]
    pruning = [{**base, "setup": "simclr-resnet18", "comparison": "top_vs_random", "fraction": 0.1,
                "top1_a_mean": 60.0, "top1_b_mean": 65.0, "p_value": 0.004, "n_seeds": 3, "direction_holds": True,
                "significant": True}]
    names = {"resnet9_csv": resnet9, "classmem_csv": classmem, "atypical_csv": atypical, "vit_test_csv": vit,
             "conditions_csv": conditions, "finetune_csv": finetune, "pruning_csv": pruning}
    return {key: write(tmp_path / f"{key}.csv", rows) for key, rows in names.items()}


def test_the_table_gives_each_finding_its_verdict(tmp_path):
    table = findings_table(**sources(tmp_path), out=tmp_path / "findings.csv", alpha=0.01)
    assert list(table.columns) == FINDINGS_COLUMNS
    assert pd.read_csv(tmp_path / "findings.csv").shape == table.shape
    by = table.set_index("finding")["verdict"].to_dict()
    # LayerMem rises over the 4 layers in order: ρ = 1, exact p = 2/24 (two-sided): the direction, not significant.
    assert by["depth"] == "direction only"
    assert table.set_index("finding").loc["depth", "p_min"] == pytest.approx(2 / 24)
    assert by["spread"] == "descriptive: does not fit"  # the first layer holds none of the top units
    assert by["points_not_classes"] == "descriptive: fits"  # SSL 90 % of units above ClassMem, supervised 30 %
    assert by["atypical"] == "holds in part" and by["vit_mlp"] == "does not hold"
    assert by["privacy"] == "untested" and "one seed: the paper's direction" in table.set_index("finding").loc[
        "privacy", "ours"]
    assert by["finetune"] == "does not hold" and by["pruning"] == "holds"
