"""A `studies_only` setup: trained only by the studies that rank the pool by halves (removal, coreset, halves) and
shown by the galleries; no f/g pairs of its own, no row in the core tables. Anything else that names it is
refused before any compute, since it would wait for scores that are never made."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sslmem import config
from sslmem.config import ConfigError
from sslmem.studies import halves
from sslmem.plan import resolve_settings

from fakedata import write_tiny_fashion_mnist

REPO = Path(__file__).resolve().parents[1]
STUDY_SETUP = {"name": "simclr-resnet18-e4", "method": "simclr", "arch": "resnet18", "studies_only": True,
               "recipe": {"epochs": 4}}


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # config.load's validation cache goes to ./.sslmem-cache/


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return write_tiny_fashion_mnist(tmp_path_factory.mktemp("fashion_mnist"))


@pytest.fixture
def raw(tiny_root) -> dict:
    """The real params.yaml's test preset with a studies_only setup that removal ranks."""
    loaded = yaml.safe_load((REPO / "params.yaml").read_text())
    loaded["common"]["data"]["roots"]["fashion_mnist"] = str(tiny_root)
    test = loaded["presets"]["test"]
    test["experiment"]["setups"] = [*test["experiment"]["setups"], STUDY_SETUP]
    test["studies"]["removal"]["runs"] = [{"setup": "simclr-resnet18-e4", "datasets": ["fashion_mnist"], "k": [10]}]
    test["studies"]["dense"]["runs"] = [{"setup": "simclr-resnet18-e4", "datasets": ["fashion_mnist"], "k": [10]}]
    return loaded


def test_studies_only_setup_has_no_core_encoders_but_the_studies_train_it(raw):
    settings = resolve_settings(raw, "test")
    core = {run.setup for run in config.experiment_runs(settings)}
    assert "simclr-resnet18-e4" not in core and "simclr-resnet18" in core
    ranked = halves.ranked_pairs(settings)
    assert ("fashion_mnist", "simclr-resnet18-e4") in ranked
    half_runs = [run for run in halves.runs(settings) if run.setup == "simclr-resnet18-e4"]
    assert {run.role for run in half_runs} == {"half_a", "half_b"}
    # Its own recipe, not the core setup's.
    assert half_runs[0].training_settings(settings)["recipe"]["epochs"] == 4


def test_galleries_may_show_a_studies_only_setup_the_halves_rank(raw):
    raw["presets"]["test"].setdefault("report", {})["galleries"] = {"setups": ["simclr-resnet18-e4"]}
    resolve_settings(raw, "test")


@pytest.mark.parametrize("where, edit", [
    ("report.table11", lambda test: test.setdefault("report", {}).update(table11=["simclr-resnet18-e4"])),
    ("studies.planted.runs", lambda test: test["studies"].update(
        planted={"runs": [{"setup": "simclr-resnet18-e4", "datasets": ["fashion_mnist"]}]})),
    ("measure.table8.runs", lambda test: test.setdefault("measure", {}).update(
        table8={"runs": [{"setup": "simclr-resnet18-e4", "datasets": ["fashion_mnist"]}]})),
])
def test_a_core_consumer_naming_a_studies_only_setup_is_refused(raw, where, edit):
    edit(raw["presets"]["test"])
    with pytest.raises(ConfigError, match=rf"{where}.*'simclr-resnet18-e4' is studies_only"):
        resolve_settings(raw, "test")


def test_galleries_of_a_studies_only_setup_no_study_ranks_is_refused(raw):
    raw["presets"]["test"]["studies"]["removal"]["runs"] = []
    raw["presets"]["test"]["studies"]["coreset"]["runs"] = []
    raw["presets"]["test"]["studies"]["dense"]["runs"] = []
    raw["presets"]["test"].setdefault("report", {})["galleries"] = {"setups": ["simclr-resnet18-e4"]}
    with pytest.raises(ConfigError, match="report.galleries.setups: 'simclr-resnet18-e4' is studies_only"):
        resolve_settings(raw, "test")


def test_every_setup_studies_only_is_refused(raw):
    for setup in raw["presets"]["test"]["experiment"]["setups"]:
        setup["studies_only"] = True
    raw["presets"]["test"].pop("report", None)
    raw["presets"]["test"].pop("measure", None)
    raw["presets"]["test"]["studies"] = {"removal": raw["presets"]["test"]["studies"]["removal"]}
    with pytest.raises(ConfigError, match="every setup is studies_only"):
        resolve_settings(raw, "test")


def test_allpoints_verb_ranks_a_studies_only_setup_and_refuses_an_unknown_one(raw, tmp_path, capsys):
    from sslmem import cli

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    base = ["--params", str(params), "--preset", "test", "allpoints", "--dataset", "fashion_mnist",
            "--inout", str(tmp_path / "absent.parquet"), "--out", str(tmp_path / "ranked.parquet")]
    assert cli.main([*base, "--setup", "nowhere-resnet18"]) == 2
    assert "no setup 'nowhere-resnet18'" in capsys.readouterr().err
    # Past the setup check: the halves study ranks it, so what stops it is the missing score file.
    with pytest.raises(FileNotFoundError):
        cli.main([*base, "--setup", "simclr-resnet18-e4"])
