"""Downstream probes: every encoder is probed on its own dataset and on probe.downstream.<dataset>.

The resize helper on hand-made images, the settings rule and root check, the probe rule's fingerprint, the probe
stage on one tiny encoder (a SimCLR ResNet18 of width 8, one epoch on a tiny Fashion-MNIST, probed on it and on
scikit-learn's digits; seconds on a CPU), and the readers that keep table1 and the metrics on the own dataset.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from sslmem import cli, config
from sslmem.artifacts import PROBE_COLUMNS
from sslmem.config import ConfigError, RunSpec
from sslmem.data.catalog import dataset_info
from sslmem.data.datasets import resize_images
from sslmem.pipeline.common import load_images_at
from sslmem.report.metrics import metrics_from_tables
from sslmem.report.readers import read_probes
from sslmem.report.significance import table2
from sslmem.report.summaries import subset_summary, table1
from sslmem.plan import resolve_settings, load_settings

from fakedata import NAMES_NO_OTHER_SETUP, write_tiny_fashion_mnist
from tests.test_report import IDENTITIES, inputs  # noqa: F401 (fixture)

pytest.importorskip("sklearn.datasets")  # digits ships inside scikit-learn

REPO = Path(__file__).resolve().parents[1]
SPEC = RunSpec("fashion_mnist", "simclr", "resnet18", 0, "f")
LABEL = "simclr-resnet18 f0"
# Preset `test` made tinier: one SimCLR encoder, one epoch; probed on fashion_mnist and on digits.
OVERRIDES = config.deep_merge(NAMES_NO_OTHER_SETUP, {
    "experiment": {"setups": [{"method": "simclr", "arch": "resnet18"}], "seeds": [0]},
    "splits": {"pool_size": 100},
    "training": {"device": "cpu", "progress": False, "num_threads": 1, "amp": False},
    "methods": {"simclr": {"epochs": 1, "warmup_epochs": 0, "batch_size": 32}},
    "archs": {"resnet18": {"width": 8}},
    "measure": {"num_views": 2, "batch_size": 64},
    "probe": {"epochs": 10, "warmup_epochs": 1, "batch_size": 64, "downstream": {"fashion_mnist": ["digits"]}},
    "report": {"table11": []},
})


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path, monkeypatch):
    """config.load keeps its validation cache in ./.sslmem-cache/: each test gets its own, not the repo's."""
    monkeypatch.chdir(tmp_path)


# ------------------------------------------------------------------------------------------------ resize


def test_resize_gives_the_size_asked_for_as_uint8():
    images = torch.randint(0, 256, (5, 3, 96, 96), dtype=torch.uint8)
    for size in (32, 28, 120):
        resized = resize_images(images, size)
        assert resized.shape == (5, 3, size, size) and resized.dtype == torch.uint8


def test_a_constant_image_stays_constant_when_shrunk_or_grown():
    for value in (0, 77, 255):
        flat = torch.full((2, 3, 96, 96), value, dtype=torch.uint8)
        assert torch.equal(resize_images(flat, 32), torch.full((2, 3, 32, 32), value, dtype=torch.uint8))
        small = torch.full((1, 1, 8, 8), value, dtype=torch.uint8)
        assert torch.equal(resize_images(small, 28), torch.full((1, 1, 28, 28), value, dtype=torch.uint8))


def test_resize_stays_in_the_uint8_range_on_hard_edges():
    """A 0/255 checkerboard overshoots with plain bicubic; bilinear with antialiasing, rounded and clamped, stays
    within 0..255, and shrinking averages the squares towards the middle grey."""
    checker = ((torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2 * 255).to(torch.uint8)
    images = checker.expand(1, 3, 32, 32)
    grown, shrunk = resize_images(images, 96).int(), resize_images(images, 8).int()
    assert grown.min() >= 0 and grown.max() <= 255 and grown.min() < 128 < grown.max()
    assert (shrunk - 128).abs().max() <= 2  # 4x4 blocks of half black, half white


def test_an_image_of_the_size_asked_for_is_returned_untouched():
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    assert resize_images(images, 32) is images


# -------------------------------------------------------------------------------------------- settings


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return write_tiny_fashion_mnist(tmp_path_factory.mktemp("fashion_mnist"), num_train=150, num_test=60)


@pytest.fixture
def raw(tiny_root) -> dict:
    """The real params.yaml, Fashion-MNIST's root pointed at a tiny copy."""
    loaded = yaml.safe_load((REPO / "params.yaml").read_text())
    loaded["common"]["data"]["roots"]["fashion_mnist"] = str(tiny_root)
    return loaded


def with_downstream(raw: dict, downstream: dict) -> dict:
    raw["presets"]["test"]["probe"]["downstream"] = downstream
    return raw


@pytest.mark.parametrize("downstream, message", [
    ({"fashion_mnist": ["digitz"]}, "probe.downstream.fashion_mnist: 'digitz' is not a dataset; known: ["),
    ({"fashion_mnist": ["fashion_mnist"]}, "probe.downstream.fashion_mnist: 'fashion_mnist' is the encoders' own"),
    ({"cifar10": ["digits"]}, "probe.downstream.cifar10: 'cifar10' is not a dataset of experiment.datasets"),
])
def test_a_bad_downstream_list_is_refused_naming_the_key(raw, downstream, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_settings(with_downstream(raw, downstream), "test", check_roots=False)


def test_a_downstream_dataset_needs_a_root(raw):
    del raw["common"]["data"]["roots"]["svhn"]
    with pytest.raises(ConfigError, match=re.escape("probe.downstream.fashion_mnist: 'svhn' has no root in data.roots")):
        resolve_settings(with_downstream(raw, {"fashion_mnist": ["digits", "svhn"]}), "test", check_roots=False)


def test_downstream_roots_are_checked_with_the_dataset_roots(raw, tmp_path, capsys):
    raw["common"]["data"]["roots"]["cifar10"] = str(tmp_path / "no-cifar10")
    with_downstream(raw, {"fashion_mnist": ["digits", "cifar10"]})
    settings = resolve_settings(raw, "test", check_roots=False)  # the names are fine; the files are not there
    assert config.probe_downstream(settings, "fashion_mnist") == ["digits", "cifar10"]
    assert config.probe_downstream(settings, "cifar10") == []
    message = r"data.roots.cifar10 \(probed through probe.downstream\): cifar10 'train' split not found"
    with pytest.raises(ConfigError, match=message):
        resolve_settings(raw, "test")
    # `sslmem check`, and the probe job before it opens its checkpoint, refuse the same settings.
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    for verb in (["check"], ["probe", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "p.csv")]):
        assert cli.main(["--params", str(params), "--preset", "test", *verb]) == 2
        assert f"sslmem {verb[0]}: error: data.roots.cifar10 (probed through" in capsys.readouterr().err


def test_the_default_preset_probes_fashion_mnist_encoders_on_digits(raw):
    settings = resolve_settings(raw, "default")  # roots checked: the tiny Fashion-MNIST and scikit-learn's digits
    assert config.probe_downstream(settings, "fashion_mnist") == ["digits"]
    assert "downstream" not in config.probe_recipe(settings, "simclr")  # where, not how: not part of the recipe


def fingerprint_of(settings: dict, dataset: str) -> str:
    """The probe job's fingerprint (the hash of the settings slice it reads, sslmem.jobs.encoders.probe_settings)
    for a SimCLR encoder trained on `dataset`."""
    from sslmem.config import fingerprint
    from sslmem.jobs.encoders import probe_settings

    runs = type("Runs", (), {"spec": lambda self, w, study=None: RunSpec(w.dataset, "simclr", "resnet18", 0, "f")})()
    wildcards = type("Wildcards", (), {"dataset": dataset})()
    return fingerprint(probe_settings(settings, runs, wildcards))


def test_the_probe_fingerprint_holds_this_datasets_downstream_list_only(raw):
    base = resolve_settings(with_downstream(raw, {"fashion_mnist": ["digits"]}), "test", check_roots=False)
    other = config.deep_merge(base, {"probe": {"downstream": {"fashion_mnist": ["digits"], "cifar10": ["stl10"]}}})
    none = config.deep_merge(base, {"probe": {"downstream": {"fashion_mnist": []}}})
    assert fingerprint_of(base, "fashion_mnist") == fingerprint_of(other, "fashion_mnist")  # another dataset's list
    assert fingerprint_of(base, "fashion_mnist") != fingerprint_of(none, "fashion_mnist")
    assert fingerprint_of(base, "cifar10") != fingerprint_of(other, "cifar10")


# ------------------------------------------------------------------------------------------- probe stage


def test_a_downstream_dataset_is_loaded_at_the_encoders_size(raw):
    settings = resolve_settings(raw, "test", check_roots=False)
    digits = load_images_at(settings, "digits", "train", 32, 3)
    assert digits.images.shape == (1352, 3, 32, 32) and digits.info.image_size == 32
    fashion = load_images_at(settings, "fashion_mnist", "test", 32, 3)  # 28 px resized
    assert fashion.images.shape == (60, 3, 32, 32) and fashion.images.dtype == torch.uint8
    with pytest.raises(ValueError, match="the encoder takes 1"):
        load_images_at(settings, "fashion_mnist", "test", 32, 1)


class Env:
    """A params file, a split and one trained encoder."""

    def __init__(self, base: Path, tiny_root: Path):
        from sslmem.pipeline.split import run_split
        from sslmem.pipeline.train import run_train
        from sslmem.pipeline.training_set import protocol_training_set

        loaded = yaml.safe_load((REPO / "params.yaml").read_text())
        loaded["preset"] = "test"
        loaded["common"]["data"]["roots"]["fashion_mnist"] = str(tiny_root)
        loaded["presets"]["test"] = config.deep_merge(loaded["presets"]["test"], OVERRIDES)
        self.params = base / "params.yaml"
        self.params.write_text(yaml.safe_dump(loaded, sort_keys=False))
        self.settings = load_settings(self.params)
        self.split = base / "splits" / "fashion_mnist.csv"
        run_split(self.settings, "fashion_mnist", self.split)
        self.checkpoint = base / "checkpoints" / "f0.pt"
        self.training_set = protocol_training_set(self.split, "f", base / "training_sets" / "f0.csv")
        run_train(self.settings, SPEC, self.training_set, self.checkpoint, base / "train_logs" / "f0.csv",
                  base / "resume" / "f0.pt")


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_root) -> Env:
    torch.set_num_threads(1)
    return Env(tmp_path_factory.mktemp("downstream"), tiny_root)


def test_the_probe_writes_the_own_row_then_one_per_downstream_dataset(env, tmp_path, capsys):
    from sslmem.pipeline.probe import run_probe

    out = tmp_path / "f0.csv"
    run_probe(env.settings, env.checkpoint, out)
    written = pd.read_csv(out)
    assert list(written.columns) == list(PROBE_COLUMNS)
    assert list(written.probe_dataset) == ["fashion_mnist", "digits"]
    assert set(written.dataset) == {"fashion_mnist"} and set(written.role) == {"f"}
    # preset test: train_size 300, test_size 200; the tiny Fashion-MNIST has only 150 and 60
    assert list(written.train_size) == [150, 300] and list(written.test_size) == [60, 200]
    assert written.top1.between(0, 1).all() and written.knn_top1.between(0, 1).all()
    # Random-image training leaves features digits can be told apart by: well above chance (0.1).
    assert written.set_index("probe_dataset").loc["digits", "top1"] > 0.3  # 0.565 here
    lines = capsys.readouterr().out.splitlines()
    features = [line for line in lines if ": features (" in line]
    assert [line.split(":")[0] for line in features] == [f"{LABEL} probe fashion_mnist", f"{LABEL} probe digits"]
    assert re.match(rf"{LABEL} probe digits: features \(300, \d+\) train, \(200, \d+\) test", features[1])
    assert any(line.startswith(f"{LABEL} probe digits epoch 10/10: ") for line in lines)
    assert re.fullmatch(rf"{LABEL} probe: done, fashion_mnist top-1 [01]\.\d{{4}}, kNN [01]\.\d{{4}}; "
                        rf"digits top-1 [01]\.\d{{4}}, kNN [01]\.\d{{4}}, \d+\.\d s", lines[-1])


def test_downstream_images_are_normalised_with_the_encoders_own_statistics(env, tmp_path, monkeypatch):
    from sslmem.pipeline import probe

    seen = []

    def record(context, dataset, train, test):
        seen.append((dataset, context.normalizer.mean.flatten().tolist(), tuple(train.images.shape[1:])))
        return {"probe_dataset": dataset, "train_size": 1, "test_size": 1, "top1": 0.5, "knn_top1": 0.5}

    monkeypatch.setattr(probe, "probe_dataset", record)
    probe.run_probe(env.settings, env.checkpoint, tmp_path / "f0.csv")
    own_mean = pytest.approx(list(dataset_info("fashion_mnist").mean))
    assert [(dataset, mean, shape) for dataset, mean, shape in seen] == [
        ("fashion_mnist", own_mean, (3, 28, 28)), ("digits", own_mean, (3, 28, 28))]


# ------------------------------------------------------------------------------------------- readers, tables


def add_digits_row(path: Path, top1: float) -> None:
    frame = pd.read_csv(path)
    downstream = frame.assign(probe_dataset="digits", top1=top1, train_size=1352, test_size=445)
    pd.concat([frame, downstream]).to_csv(path, index=False)


def test_table1_and_the_metrics_read_the_own_dataset_rows(inputs):  # noqa: F811
    root, scores, probes = inputs
    before = table1(scores, probes, root / "before.csv", n_boot=50, identities=IDENTITIES)
    for path in probes:
        add_digits_row(path, 0.05)  # far from every own accuracy: a mix would show
    after = table1(scores, probes, root / "table1.csv", n_boot=50, identities=IDENTITIES)
    pd.testing.assert_series_equal(after["probe_top1_mean"], before["probe_top1_mean"])
    assert list(after["n_probe_encoders"]) == list(before["n_probe_encoders"])
    table2(scores, root / "table2.csv", identities=IDENTITIES)
    subset_summary(scores, root / "subsets.csv", n_boot=50, identities=IDENTITIES)
    tree = metrics_from_tables(root / "table1.csv", root / "table2.csv", root / "subsets.csv", probes, root / "metrics.json")
    mae = json.loads((root / "metrics.json").read_text())["cifar10"]["mae-vit_tiny"]
    assert mae == tree["cifar10"]["mae-vit_tiny"]
    assert mae["probe_top1"] == pytest.approx(65.0)  # own dataset, f encoders: 60 % and 70 %
    assert mae["probe_top1_digits"] == pytest.approx(5.0)  # mean over the f encoders, in percent


def test_read_probes_names_a_file_without_probe_dataset_or_without_its_own_row(inputs):  # noqa: F811
    _, _, probes = inputs
    frame = pd.read_csv(probes[0])
    frame.drop(columns="probe_dataset").to_csv(probes[0], index=False)
    with pytest.raises(ValueError, match=rf"{re.escape(str(probes[0]))}: probe file has no probe_dataset column"):
        read_probes(probes)
    frame.assign(probe_dataset="digits").to_csv(probes[0], index=False)
    with pytest.raises(ValueError, match=rf"{re.escape(str(probes[0]))}: no row of the encoder's own dataset"):
        read_probes(probes)


def test_the_same_encoder_may_have_one_row_per_probed_dataset_but_not_two(inputs):  # noqa: F811
    _, _, probes = inputs
    add_digits_row(probes[0], 0.5)
    assert len(read_probes(probes)) == len(probes) + 1
    frame = pd.read_csv(probes[0])
    pd.concat([frame, frame.tail(1)]).to_csv(probes[0], index=False)  # a second digits row
    with pytest.raises(ValueError, match="more than one probe result on one dataset"):
        read_probes(probes)
