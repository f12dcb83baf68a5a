"""params.yaml validation: every bad setting is refused before any compute, with a message that names the key,
the bad value and what is allowed — in Python (`config.resolve`), on the command line (`sslmem check`) and in
Snakemake (which must fail before scheduling a single job)."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sslmem import cli, config
from sslmem.config import ConfigError, cache, registry, rules, schema_messages
from sslmem.config.rules import sizes, subsets
from sslmem.data import catalog, datasets
from sslmem.plan import load_settings, resolve_settings

from fakedata import write_tiny_fashion_mnist

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"
DELETE = object()




@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path, monkeypatch):
    """config.load keeps its validation cache in ./.sslmem-cache/: each test gets its own, not the repo's."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return write_tiny_fashion_mnist(tmp_path_factory.mktemp("fashion_mnist"))


@pytest.fixture
def raw(tiny_root) -> dict:
    """The real params.yaml, with the Fashion-MNIST root pointed at a tiny copy (so no machine needs the data)."""
    loaded = yaml.safe_load(PARAMS.read_text())
    loaded["common"]["data"]["roots"]["fashion_mnist"] = str(tiny_root)
    return loaded


def edit(raw: dict, dotted: str, value) -> None:
    if dotted in ("presets.test.experiment.datasets", "presets.test.experiment.setups"):
        # The test preset's downstream probe and studies name its dataset and a setup: a test that replaces
        # those replaces them too (each has tests of its own).
        test = raw["presets"]["test"]
        test.get("probe", {}).pop("downstream", None)
        test.pop("studies", None)
        test.get("report", {}).pop("table12", None)  # it names the supervised setup
        test.get("report", {}).pop("classmem", None)  # so does it
        test.get("measure", {}).pop("table8", None)  # it names a setup and its dataset
    *parents, last = dotted.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value


def fails_with(raw: dict, preset: str, *needles: str) -> str:
    with pytest.raises(ConfigError) as error:
        resolve_settings(raw, preset)
    message = str(error.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in message:\n{message}"
    return message


# Each row: id, edits to params.yaml (dotted key → value), and what the message must contain. Edits under
# `common.` go through the schema check of the file; edits under `presets.test.` through the check of the merged
# settings; both must name the key.
MISSING_ROOT = "/nonexistent/sslmem-test/fashion-mnist"
BAD_PARAMS = [
    ("unknown method", {"presets.test.experiment.setups": [{"method": "byol", "arch": "resnet18"}]},
     ["experiment.setups.0.method", "'byol'", "'simclr'", "'mae'"]),
    ("unknown method (common)", {"common.experiment.setups": [{"method": "byol", "arch": "resnet18"}]},
     ["common.experiment.setups.0.method", "'byol'", "'simclr'"]),
    ("unknown arch", {"presets.test.experiment.setups": [{"method": "simclr", "arch": "resnet34"}]},
     ["experiment.setups.0.arch", "'resnet34'", "'resnet18'"]),
    ("unknown dataset", {"presets.test.experiment.datasets": ["mnist"]},
     ["experiment.datasets.0", "'mnist'", "'fashion_mnist'"]),
    ("fractions sum to 0.9", {"presets.test.splits.fractions": {"shared": 0.7, "candidate": 0.1, "independent": 0.1}},
     ["splits.fractions", "0.9", "must sum to 1"]),
    ("negative epochs", {"presets.test.methods.simclr.epochs": -1},
     ["methods.simclr.epochs", "-1", "minimum of 1"]),
    ("negative epochs (common)", {"common.methods.simclr.epochs": -1},
     ["common.methods.simclr.epochs", "-1", "minimum of 1"]),
    ("batch_size 1", {"presets.test.methods.simclr.batch_size": 1},
     ["methods.simclr.batch_size", "1 is less than the minimum of 2"]),
    ("typo'd key", {"presets.test.training.checkpoint_evry": 2},
     ["training", "unknown key 'checkpoint_evry'; did you mean 'checkpoint_every'?"]),
    ("typo'd key (common)", {"common.training.checkpoint_evry": 2},
     ["common.training", "unknown key 'checkpoint_evry'; did you mean 'checkpoint_every'?"]),
    ("typo'd recipe key", {"presets.test.methods.simclr.lrr": 0.1},
     ["methods.simclr", "unknown key 'lrr'; did you mean 'lr'?"]),
    ("typo'd top-level key", {"presset": "test"},
     ["<top level>", "unknown key 'presset'; did you mean 'preset'?"]),
    ("mae on resnet18", {"presets.test.experiment.setups": [{"method": "mae", "arch": "resnet18"}]},
     ["experiment.setups[0]", "'mae' needs a ViT backbone", "'resnet18'"]),
    ("patch_size not dividing 28px", {"presets.test.archs.vit_tiny.patch_size": 5},
     ["archs.vit_tiny.patch_size", "5 does not divide", "28px", "fashion_mnist"]),
    ("missing dataset root", {"presets.test.data.roots.fashion_mnist": MISSING_ROOT},
     ["data.roots.fashion_mnist", MISSING_ROOT, "apt-get install dataset-fashion-mnist"]),
    ("warmup > epochs", {"presets.test.methods.simclr.warmup_epochs": 5},
     ["methods.simclr.warmup_epochs", "5 exceeds epochs=2"]),
    ("probe warmup > epochs", {"presets.test.probe.warmup_epochs": 5},
     ["probe.warmup_epochs", "5 exceeds probe.epochs=2"]),
    ("unknown pairing", {"presets.test.measure.pairing": "clean-vs-clean"},
     ["measure.pairing", "'clean-vs-clean'", "'augmented-pairs'", "'clean-vs-augmented'"]),
    ("unknown coupling", {"presets.test.training.coupling": "crn"},
     ["training.coupling", "'crn'", "'common-random-numbers'", "'independent'"]),
    ("CRN with |S_C| != |S_I| fractions",
     {"presets.test.splits.fractions": {"shared": 0.8, "candidate": 0.12, "independent": 0.08}},
     ["training.coupling", "splits.fractions.candidate (0.12)", "splits.fractions.independent (0.08)"]),
    ("CRN with |S_C| != |S_I| after rounding",
     {"presets.test.splits.pool_size": 205,
      "presets.test.splits.fractions": {"shared": 0.7, "candidate": 0.15, "independent": 0.15}},
     ["splits.pool_size", "205", "|S_C|=31", "|S_I|=30"]),
    ("an odd pool halved by the studies", {"presets.test.splits.pool_size": 201},
     ["studies.halves", "'fashion_mnist' has 201 points, an odd number", "no in/out score"]),
    ("CRN with |S_C| != |S_I| on a whole training split",
     {"presets.test.experiment.datasets": ["svhn"], "presets.test.splits.pool_size": None,
      "presets.test.experiment.setups": [{"method": "simclr", "arch": "resnet18"}]},
     ["splits.pool_size", "null (all 73257 training images of svhn)", "|S_C|=7326", "|S_I|=7325"]),
    ("pool larger than the dataset",
     {"presets.test.experiment.datasets": ["svhn"], "presets.test.splits.pool_size": 80000},
     ["splits.pool_size", "80000 exceeds the 73257 training images of svhn"]),
    # STL-10's pool is drawn from its 100000 unlabelled images, not its 5000 labelled ones.
    ("pool larger than STL-10's unlabelled split",
     {"presets.test.experiment.datasets": ["stl10"], "presets.test.splits.pool_size": 100010},
     ["splits.pool_size", "100010 exceeds the 100000 images of stl10's 'unlabeled' split (its training pool)"]),
    ("supervised setup on STL-10's unlabelled pool",
     {"presets.test.experiment.datasets": ["fashion_mnist", "stl10"],
      "presets.test.experiment.setups": [{"method": "simclr", "arch": "resnet18"},
                                         {"name": "sup-e1", "method": "supervised", "arch": "resnet18"}],
      "presets.test.report.table11": []},
     ["experiment.setups[1]", "setup 'sup-e1' trains supervised on labels", "training pool of stl10",
      "unlabelled 'unlabeled' split", "leave stl10 out of the setup's datasets (e.g. datasets: ['fashion_mnist'])"]),
    ("pool too small", {"presets.test.splits.pool_size": 10},
     ["splits.fractions.candidate", "pool_size=10", "fewer than 2 points"]),
    ("num_views 1", {"presets.test.measure.num_views": 1},
     ["measure.num_views", "1 is less than the minimum of 2"]),
    ("unknown device", {"presets.test.training.device": "tpu"},
     ["training.device", "'tpu'", "'cuda'"]),
    ("unknown optimizer", {"presets.test.methods.simclr.optimizer": "adam"},
     ["methods.simclr.optimizer", "'adam'", "'adamw'"]),
    ("lr 0", {"presets.test.methods.simclr.lr": 0},
     ["methods.simclr.lr", "0 is less than or equal to the minimum of 0"]),
    ("duplicate seeds", {"presets.test.experiment.seeds": [0, 0]},
     ["experiment.seeds", "[0, 0] has non-unique elements"]),
    ("crop_scale reversed", {"presets.test.augmentations.simclr.crop_scale": [0.9, 0.1]},
     ["augmentations.simclr.crop_scale", "[0.9, 0.1]", "low <= high"]),
    ("hue > 0.5", {"presets.test.augmentations.simclr.jitter": [0.4, 0.4, 0.4, 0.6]},
     ["augmentations.simclr.jitter", "0.6", "<= 0.5"]),
    ("odd resnet width", {"presets.test.archs.resnet18.width": 7},
     ["archs.resnet18.width", "7", "even"]),
    ("embed_dim not divisible by heads", {"presets.test.archs.vit_tiny.embed_dim": 100},
     ["archs.vit_tiny.embed_dim", "100", "heads=3"]),
    ("decoder_dim not divisible by heads", {"presets.test.methods.mae.decoder_dim": 130},
     ["methods.mae.decoder_dim", "130", "decoder_heads=4"]),
    ("augment not in augmentations", {"presets.test.methods.simclr.augment": "byol"},
     ["methods.simclr.augment", "'byol'", "'mae'", "'simclr'"]),
    ("arch without an archs entry",
     {"presets.test.experiment.setups": [{"method": "simclr", "arch": "resnet18"}],
      "common.archs.resnet18": DELETE, "presets.test.archs.resnet18": DELETE},
     ["experiment.setups[0].arch", "'resnet18' has no entry under `archs`"]),
    ("method without a recipe", {"common.methods.simclr": DELETE, "presets.test.methods.simclr": DELETE},
     ["experiment.setups[0].method", "'simclr' has no recipe under `methods`"]),
    ("alpha >= 1", {"presets.test.stats.alpha": 1.5},
     ["stats.alpha", "1.5"]),
    # Named setups with their own recipe, seeds and datasets.
    ("two setups with one name",
     {"presets.test.experiment.setups": [{"method": "simclr", "arch": "resnet18"},
                                         {"method": "simclr", "arch": "resnet18", "recipe": {"epochs": 1}}]},
     ["experiment.setups[1]", "'simclr-resnet18' is already used by experiment.setups[0]", "distinct `name`"]),
    ("setup on a dataset outside experiment.datasets",
     {"presets.test.experiment.setups": [{"method": "simclr", "arch": "resnet18", "datasets": ["cifar10"]}]},
     ["experiment.setups[0].datasets", "['cifar10'] not in experiment.datasets", "['fashion_mnist']"]),
    ("typo'd key in a setup's recipe",
     {"presets.test.experiment.setups": [{"method": "simclr", "arch": "resnet18", "recipe": {"epoch": 1}}]},
     ["experiment.setups.0.recipe", "merged over methods.simclr", "unknown key 'epoch'; did you mean 'epochs'?"]),
    ("bad value in a setup's recipe",
     {"presets.test.experiment.setups": [{"method": "simclr", "arch": "resnet18", "recipe": {"epochs": 0}}]},
     ["experiment.setups.0.recipe", "epochs", "0 is less than the minimum of 1"]),
    ("setup recipe warmup > epochs",
     {"presets.test.experiment.setups": [{"method": "simclr", "arch": "resnet18", "recipe": {"epochs": 1, "warmup_epochs": 3}}]},
     ["experiment.setups[0].recipe.warmup_epochs", "3 exceeds epochs=1"]),
    ("setup name with a slash",
     {"presets.test.experiment.setups": [{"name": "simclr/e1", "method": "simclr", "arch": "resnet18"}]},
     ["experiment.setups.0.name", "'simclr/e1' does not match"]),
    ("table11 naming an unknown setup", {"presets.test.report.table11": ["supervised-resnet50-e10"]},
     ["report.table11", "'supervised-resnet50-e10' is not a setup", "'supervised-resnet18-e1'"]),
    ("adamw without betas", {"common.methods.mae.betas": DELETE},
     ["methods.mae.betas", "optimizer adamw needs betas"]),
    ("lars without a trust coefficient", {"presets.test.methods.simclr.optimizer": "lars",
                                          "common.methods.simclr.trust_coefficient": DELETE},
     ["methods.simclr.trust_coefficient", "optimizer lars needs trust_coefficient"]),
    ("probe lars without a trust coefficient", {"presets.test.probe.optimizer": "lars",
                                                "common.probe.trust_coefficient": DELETE},
     ["probe.trust_coefficient", "optimizer lars needs trust_coefficient"]),
    ("probe role h", {"presets.test.probe.roles": ["h"]},
     ["probe.roles.0", "'h'"]),
    ("probe roles without f", {"presets.test.probe.roles": ["g"]},
     ["probe.roles", "leaves out f", "table1"]),
    ("supervised head smaller than the dataset's classes",
     {"presets.test.experiment.setups": [
         {"name": "sup-5", "method": "supervised", "arch": "resnet18", "recipe": {"num_classes": 5}}],
      "presets.test.report.table11": []},
     ["experiment.setups[0].recipe.num_classes", "5 is fewer than the 10 classes of fashion_mnist"]),
    ("a method's own mistake is not blamed on a setup that only changes lr",
     {"presets.test.experiment.setups": [{"method": "simclr", "arch": "resnet18", "recipe": {"lr": 0.2}}],
      "presets.test.methods.simclr.warmup_epochs": 5, "presets.test.report.table11": []},
     ["methods.simclr.warmup_epochs", "5 exceeds epochs=2"]),
    # Studies: named before any training (the test preset's pool of 200 has halves of 100).
    ("removal k not smaller than half A",
     {"presets.test.studies.removal.runs": [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "k": [10, 100]}]},
     ["studies.removal.runs[0].k", "[100] not smaller than half A", "100 points"]),
    ("removal of an unknown setup",
     {"presets.test.studies.removal.runs": [{"setup": "simclr-resnet50", "datasets": ["fashion_mnist"], "k": [10]}]},
     ["studies.removal.runs[0].setup", "'simclr-resnet50' is not a setup"]),
    ("removal on a dataset without a split",
     {"presets.test.studies.removal.runs": [{"setup": "simclr-resnet18", "datasets": ["cifar10"], "k": [10]}]},
     ["studies.removal.runs[0].datasets", "['cifar10'] not in experiment.datasets"]),
    ("coreset of nothing",
     {"presets.test.studies.coreset.runs": [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "keep": [0]}]},
     ["studies.coreset.runs.0.keep.0", "less than or equal to the minimum of 0"]),
    ("coreset of the whole half",
     {"presets.test.studies.coreset.runs": [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "keep": [1.0]}]},
     ["studies.coreset.runs.0.keep.0", "greater than or equal to the maximum of 1"]),
    ("coreset fractions naming the same encoders",
     {"presets.test.studies.coreset.runs": [
         {"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "keep": [0.501, 0.499]}]},
     ["studies.coreset.runs[0].keep", "distinct whole percents"]),
    ("a privacy budget of zero",
     {"presets.test.studies.privacy.runs": [{"setup": "mae-vit_tiny", "datasets": ["fashion_mnist"], "epsilons": [0]}]},
     ["studies.privacy.runs.0.epsilons.0", "less than or equal to the minimum of 0"]),
    ("a delta of one", {"presets.test.studies.privacy.delta": 1.0},
     ["studies.privacy.delta: 1.0 is not allowed; expected a number in (0, 1) or null (δ = 1/(2N)"]),
    ("a clipping norm of zero", {"presets.test.studies.privacy.max_grad_norm": 0}, ["studies.privacy.max_grad_norm"]),
    ("DP-SGD for a contrastive method",
     {"presets.test.studies.privacy.runs": [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "epsilons": [8]}]},
     ["studies.privacy.runs[0] (simclr-resnet18)", "couples the samples of a batch"]),
    ("a private core setup of a contrastive method",
     {"presets.test.experiment.setups": [{"method": "simclr", "arch": "resnet18", "recipe": {"privacy": {
         "epsilon": 8, "delta": None, "max_grad_norm": 1.0, "accountant": "rdp", "noise_seed": 0,
         "max_physical_batch_size": 8}}}], "presets.test.report.table11": []},
     ["experiment.setups[0].recipe.privacy", "couples the samples of a batch"]),
    ("DP-SGD together with the alignment regulariser",
     {"presets.test.studies.privacy.runs": [{"setup": "mae-vit_tiny", "datasets": ["fashion_mnist"], "epsilons": [8],
                                              "recipe": {"align_regularizer": 0.1}}]},
     ["studies.privacy.runs[0]", "privacy and align_regularizer together are not supported"]),
    ("a private run of an unknown setup",
     {"presets.test.studies.privacy.runs": [{"setup": "mae-vit_base", "datasets": ["fashion_mnist"], "epsilons": [8]}]},
     ["studies.privacy.runs[0].setup", "'mae-vit_base'"]),
    ("a mask ratio outside (0, 1)",
     {"presets.test.studies.augmentations.variants": {"mask100": {"mask_ratio": 1.0}},
      "presets.test.studies.augmentations.runs": [{"setup": "mae-vit_tiny", "datasets": ["fashion_mnist"],
                                                   "variants": ["mask100"]}]},
     ["'mask100'", "mask_ratio must lie in (0, 1)"]),
    ("an unknown augmentation variant",
     {"presets.test.studies.augmentations.runs": [{"setup": "mae-vit_tiny", "datasets": ["fashion_mnist"],
                                                   "variants": ["mask60"]}]},
     ["'mask60' is not in studies.augmentations.variants"]),
    ("a variant naming an unknown augmentation family",
     {"presets.test.studies.augmentations.variants": {"blur": {"augment": "train_blur"}},
      "presets.test.studies.augmentations.runs": [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"],
                                                   "variants": ["blur"]}]},
     ["'blur'", "augment 'train_blur' is not a family"]),
    ("a regulariser strength of one",
     {"presets.test.studies.regularizer.runs": [{"setup": "mae-vit_tiny", "datasets": ["fashion_mnist"], "lambdas": [1.0]}]},
     ["studies.regularizer.runs.0.lambdas.0"]),
    ("private seeds the setup does not have",
     {"presets.test.studies.privacy.runs": [
         {"setup": "mae-vit_tiny", "datasets": ["fashion_mnist"], "epsilons": [8], "seeds": [5]}]},
     ["studies.privacy.runs[0].seeds", "[5]"]),
]


@pytest.mark.parametrize("edits, needles", [row[1:] for row in BAD_PARAMS], ids=[row[0] for row in BAD_PARAMS])
def test_bad_params_are_refused_with_a_clear_message(raw, edits, needles):
    for key, value in edits.items():
        edit(raw, key, value)
    message = fails_with(raw, "test", *needles)
    # Neither a bad value nor a typo drowns in the schema's "Unevaluated properties ... were unexpected" noise,
    # which lists every valid key of a recipe once one of its values is bad.
    assert "Unevaluated properties" not in message and "Additional properties" not in message


def test_unknown_preset(raw):
    fails_with(raw, "nope", "preset", "'nope'", "'default'", "'paper'", "'test'")


def test_equal_fractions_or_independent_coupling_pass(raw):
    edit(raw, "presets.test.splits.pool_size", 1000)
    edit(raw, "presets.test.splits.fractions", {"shared": 0.7, "candidate": 0.15, "independent": 0.15})
    assert resolve_settings(raw, "test")["splits"]["fractions"]["candidate"] == 0.15
    # Unequal fractions are fine when f and g draw independently.
    edit(raw, "presets.test.splits.fractions", {"shared": 0.8, "candidate": 0.12, "independent": 0.08})
    edit(raw, "presets.test.training.coupling", "independent")
    resolve_settings(raw, "test")


def test_stl10_pool_fits_its_unlabelled_split_and_supervised_runs_elsewhere(raw):
    """The paper's 50k STL-10 pool (App. A) fits: it is drawn from the 100k unlabelled images. A supervised setup
    may share the experiment with STL-10 when it runs only on datasets with a labelled pool."""
    edit(raw, "presets.test.experiment.datasets", ["fashion_mnist", "stl10"])
    edit(raw, "presets.test.experiment.setups", [
        {"method": "simclr", "arch": "resnet18"},
        {"name": "sup-e1", "method": "supervised", "arch": "resnet18", "datasets": ["fashion_mnist"]},
    ])
    edit(raw, "presets.test.report.table11", [])
    edit(raw, "presets.test.splits.pool_size", {"fashion_mnist": 200, "stl10": 50000})
    settings = resolve_settings(raw, "test", check_roots=False)
    assert config.pool_size_for(settings, "stl10") == 50000
    assert {(r.setup, r.dataset) for r in config.experiment_runs(settings) if r.method == "supervised"} == {
        ("sup-e1", "fashion_mnist")}
    paper = resolve_settings(raw, "paper", check_roots=False)
    assert config.pool_size_for(paper, "stl10") == 50000


def test_stl10_root_check_names_the_unlabelled_file(raw, tmp_path):
    """The root rule checks the files of the pool split too: STL-10's unlabeled_X.bin, with where to get it."""
    edit(raw, "presets.test.experiment.datasets", ["stl10"])
    edit(raw, "presets.test.experiment.setups", [{"method": "simclr", "arch": "resnet18"}])
    edit(raw, "presets.test.report.table11", [])
    folder = tmp_path / "stl10" / "stl10_binary"
    folder.mkdir(parents=True)
    for name in ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"):
        (folder / name).write_bytes(b"")
    edit(raw, "presets.test.data.roots", {"stl10": str(tmp_path / "stl10")})
    fails_with(raw, "test", "data.roots.stl10", "'unlabeled' split not found", str(folder / "unlabeled_X.bin"),
               "stl10_binary.tar.gz")
    (folder / "unlabeled_X.bin").write_bytes(b"")
    resolve_settings(raw, "test")


def test_yaml_syntax_error_is_a_config_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("preset: test\ncommon: {data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(path)
    with pytest.raises(ConfigError, match="params file not found"):
        config.load(tmp_path / "missing.yaml")


# ------------------------------------------------------------------------------------- the real params.yaml


def real_presets() -> list[str]:
    return sorted(yaml.safe_load(PARAMS.read_text())["presets"])


@pytest.mark.parametrize("preset", real_presets())
def test_every_preset_of_params_yaml_is_valid_apart_from_data(preset, monkeypatch):
    """Each preset passes the schema and every rule; the dataset roots are checked (but may be absent here)."""
    checked = []
    # The roots are checked through the torch-free catalog (sslmem.data.datasets re-exports its check_root).
    monkeypatch.setattr(catalog, "check_root", lambda name, root, split="train": checked.append(name))
    settings = config.load(PARAMS, preset=preset)
    assert settings["preset"] == preset
    downstream = [name for names in settings["probe"]["downstream"].values() for name in names]
    # roots were looked at: of the datasets trained on and of those probed downstream
    assert sorted(set(checked)) == sorted({*settings["experiment"]["datasets"], *downstream})
    # and the rules hold without the root check, too
    config.check_rules(settings, check_roots=False)


@pytest.mark.skipif(not datasets.FASHION_MNIST_SYSTEM_ROOT.is_dir(), reason="dataset-fashion-mnist not installed")
def test_default_and_test_presets_resolve_for_real_on_this_machine():
    for preset in ("default", "test"):
        assert config.load(PARAMS, preset=preset)["experiment"]["datasets"] == ["fashion_mnist"]


def test_overrides_are_validated_too(tmp_path):
    # `snakemake --config preset=...` / dvc -S overrides go through the same checks.
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        config.load(PARAMS, overrides={"preset": "nope"})


# ---------------------------------------------------------------------------------------------- sslmem check


def write_params(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize("before_verb", [True, False])
def test_sslmem_check_bad_params_exit_2_with_one_line(raw, tmp_path, capsys, before_verb):
    edit(raw, "presets.test.training.coupling", "crn")
    params = str(write_params(tmp_path / "params.yaml", raw))
    argv = ["--params", params, "--preset", "test", "check"]
    code = cli.main(argv if before_verb else ["check", *argv[:4]])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("sslmem check: error:")
    assert "training.coupling" in lines[0] and "'crn'" in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_sslmem_check_rule_error_and_yaml_error(raw, tmp_path, capsys):
    edit(raw, "presets.test.methods.simclr.warmup_epochs", 5)
    params = write_params(tmp_path / "params.yaml", raw)
    assert cli.main(["--params", str(params), "--preset", "test", "check"]) == 2
    assert "methods.simclr.warmup_epochs: 5 exceeds epochs=2" in capsys.readouterr().err
    params.write_text("preset: [unclosed\n")
    assert cli.main(["--params", str(params), "check"]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_sslmem_check_good_params(raw, tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml", raw)
    assert cli.main(["--params", str(params), "--preset", "test", "check"]) == 0
    assert "params OK: preset 'test'" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------- Snakemake


def snakemake_copy(tmp_path: Path, raw: dict) -> Path:
    workdir = tmp_path / "workflow-copy"
    workdir.mkdir()
    shutil.copy(REPO / "Snakefile", workdir / "Snakefile")
    shutil.copytree(REPO / "workflow", workdir / "workflow")
    write_params(workdir / "params.yaml", raw)
    return workdir


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(bin_dir / "snakemake"), *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "key, value, needles",
    [
        # caught by the schema in the Snakefile's validate()
        ("common.training.coupling", "crn", ["coupling", "'crn'"]),
        # caught by sslmem's cross-field rules (workflow/rules/common.smk)
        ("presets.default.splits.fractions", {"shared": 0.8, "candidate": 0.12, "independent": 0.08},
         ["training.coupling", "splits.fractions.candidate (0.12)"]),
    ],
    ids=["schema", "rule"],
)
def test_snakemake_refuses_bad_params_before_any_job(raw, tmp_path, key, value, needles):
    edit(raw, key, value)
    workdir = snakemake_copy(tmp_path, raw)
    # A real run (not -n): if validation were missing, the split job would run and create results/.
    result = run_snakemake(workdir, "--cores", "1", "results/splits/fashion_mnist.csv")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for needle in needles:
        assert needle in output, output
    assert not (workdir / "results").exists(), output


def test_snakemake_dry_run_with_good_params_lists_jobs(raw, tmp_path):
    workdir = snakemake_copy(tmp_path, raw)
    result = run_snakemake(workdir, "-n")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for rule in ("split", "train", "align", "score"):
        assert f"rule {rule}:" in output or f"\n{rule} " in output, output
    assert not (workdir / "results").exists()


def test_setups_run_on_their_own_seeds_and_datasets_with_their_own_recipe(raw):
    raw["presets"]["test"]["experiment"].update(
        datasets=["fashion_mnist", "cifar10"], seeds=[0, 1],
        setups=[
            {"method": "simclr", "arch": "resnet18"},
            {"name": "simclr-resnet18-e5", "method": "simclr", "arch": "resnet18", "seeds": [7],
             "datasets": ["cifar10"], "recipe": {"epochs": 5, "lr": 0.2}},
        ],
    )
    raw["presets"]["test"]["report"]["table11"] = ["simclr-resnet18-e5"]
    raw["presets"]["test"]["report"]["table12"] = {"setups": []}  # no supervised setup left to compare
    raw["presets"]["test"]["report"]["classmem"] = {"setups": []}  # it names the supervised setup too
    raw["presets"]["test"].pop("studies")  # they name the MAE setup
    settings = resolve_settings(raw, "test", check_roots=False)
    runs = config.experiment_runs(settings)
    assert [(r.dataset, r.setup, r.seed, r.role) for r in runs] == [
        ("fashion_mnist", "simclr-resnet18", 0, "f"), ("fashion_mnist", "simclr-resnet18", 0, "g"),
        ("fashion_mnist", "simclr-resnet18", 1, "f"), ("fashion_mnist", "simclr-resnet18", 1, "g"),
        ("cifar10", "simclr-resnet18", 0, "f"), ("cifar10", "simclr-resnet18", 0, "g"),
        ("cifar10", "simclr-resnet18", 1, "f"), ("cifar10", "simclr-resnet18", 1, "g"),
        ("cifar10", "simclr-resnet18-e5", 7, "f"), ("cifar10", "simclr-resnet18-e5", 7, "g"),
    ]
    plain = config.RunSpec.for_setup(settings, "cifar10", "simclr-resnet18", 0, "f")
    longer = config.RunSpec.for_setup(settings, "cifar10", "simclr-resnet18-e5", 0, "f")
    plain_recipe, own_recipe = plain.training_settings(settings)["recipe"], longer.training_settings(settings)["recipe"]
    assert (own_recipe["epochs"], own_recipe["lr"]) == (5, 0.2)
    assert {k: v for k, v in own_recipe.items() if k not in ("epochs", "lr")} == {
        k: v for k, v in plain_recipe.items() if k not in ("epochs", "lr")
    }
    assert plain_recipe == settings["methods"]["simclr"]
    # The name alone does not change the weights: a renamed setup without a recipe hashes like the plain one.
    assert plain.training_settings(settings) == config.RunSpec(
        "cifar10", "simclr", "resnet18", 0, "f").training_settings(settings)
    with pytest.raises(ConfigError, match="'simclr-resnet18-e5' does not run on dataset 'fashion_mnist'"):
        config.RunSpec.for_setup(settings, "fashion_mnist", "simclr-resnet18-e5", 7, "f")
    with pytest.raises(ConfigError, match="no setup named 'byol-resnet18'"):
        config.RunSpec.for_setup(settings, "cifar10", "byol-resnet18", 0, "f")


def test_paper_preset_plans_table11_setups_on_cifar10_only(raw):
    settings = resolve_settings(raw, "paper", check_roots=False)
    runs = config.experiment_runs(settings)
    table11 = settings["report"]["table11"]
    assert table11 == ["supervised-resnet50-e100", "dino-resnet50-e100", "dino-resnet50-e300", "supervised-resnet50-e10"]
    assert {r.dataset for r in runs if r.setup in table11} == {"cifar10"}
    assert {r.dataset for r in runs if r.setup == "dino-resnet50"} == {"cifar10", "svhn", "stl10"}
    assert [config.setup_recipe(settings, name)["epochs"] for name in table11] == [100, 100, 300, 10]
    # Table 1's DINO keeps Table 6's 600 epochs; the Table 11 variants change only epochs and warm-up.
    assert config.setup_recipe(settings, "dino-resnet50")["epochs"] == 600
    # 4 Table 1 setups x 3 datasets + 4 on ImageNet + 2 more Table 15 backbones, 4 Table 11 setups and Table 5's
    # 1000-epoch MAE on CIFAR10, 3 seeds, f and g.
    assert len(runs) == (4 * 3 + 4 + 2 + 4 + 1) * 3 * 2


def test_a_setup_name_cannot_be_borrowed_by_another_method(raw):
    settings = resolve_settings(raw, "test", check_roots=False)
    with pytest.raises(ConfigError, match="'supervised-resnet18-e1' is supervised on resnet18, but this run is simclr"):
        config.RunSpec("fashion_mnist", "simclr", "resnet18", 0, "f", "supervised-resnet18-e1").training_settings(settings)


def test_paper_identities_hold_method_arch_epochs_and_representation(raw):
    settings = resolve_settings(raw, "paper", check_roots=False)
    identities = config.paper_identities(settings)
    supervised = identities["supervised-resnet50-e10"]
    assert (supervised["method"], supervised["arch"], supervised["epochs"]) == ("supervised", "resnet50", 10)
    assert supervised["representation"] == "encoder" and supervised["length_only"]
    assert supervised["arch_options"] == {"cifar10": {"width": 64}}
    assert identities["dino-resnet50-e300"]["epochs"] == 300
    mae = identities["mae-vit_tiny"]
    assert mae["recipe"] == {"optimizer": "adamw", "lr": 1.2e-3, "batch_size": 2048}
    assert mae["arch_options"]["stl10"]["patch_size"] == 6 and mae["arch_options"]["cifar10"]["patch_size"] == 2
    # A recipe that changes more than the training length is not the paper's run.
    raw["presets"]["test"]["experiment"]["setups"].append(
        {"name": "simclr-lr", "method": "simclr", "arch": "resnet18", "recipe": {"lr": 0.2}})
    assert not config.paper_identities(resolve_settings(raw, "test", check_roots=False))["simclr-lr"]["length_only"]


def test_representation_per_method_and_per_setup(raw):
    raw["presets"]["test"]["measure"]["representation"] = {"default": "encoder", "simclr": "projection"}
    raw["presets"]["test"]["experiment"]["setups"].append(
        {"name": "simclr-enc", "method": "simclr", "arch": "resnet18", "representation": "encoder"})
    settings = resolve_settings(raw, "test", check_roots=False)
    assert config.setup_representation(settings, "simclr-resnet18") == "projection"
    assert config.setup_representation(settings, "simclr-enc") == "encoder"
    assert config.setup_representation(settings, "mae-vit_tiny") == "encoder"
    assert config.setup_representation(settings, "supervised-resnet18-e1") == "encoder"


@pytest.mark.parametrize("preset", ["default", "paper", "test"])
def test_no_preset_scores_the_supervised_classifier(raw, preset):
    """App. B.3 removes the classification layer: under every preset a supervised setup scores its encoder."""
    settings = resolve_settings(raw, preset, check_roots=False)
    supervised = [config.setup_name(s) for s in settings["experiment"]["setups"] if s["method"] == "supervised"]
    assert supervised and all(config.setup_representation(settings, name) == "encoder" for name in supervised)


@pytest.mark.parametrize("where, value", [
    ("default", {"default": "projection"}),             # the default reaching the supervised setup
    ("method", {"default": "encoder", "supervised": "projection"}),
    ("setup", None),
])
def test_scoring_the_supervised_head_is_refused_naming_the_key(raw, where, value):
    if value is not None:
        raw["presets"]["test"]["measure"]["representation"] = value
    else:
        raw["presets"]["test"]["experiment"]["setups"][2]["representation"] = "projection"
    expected = {"default": r"measure\.representation\.default", "method": r"measure\.representation\.supervised",
                "setup": r"experiment\.setups\[2\]\.representation"}[where]
    with pytest.raises(ConfigError, match=expected + ".*no projection head"):
        resolve_settings(raw, "test", check_roots=False)


# ------------------------------------------------------------------------------- names come from the registries


@pytest.mark.parametrize(
    "enum, registry_name",
    [("method_name", "sslmem.methods.METHODS"), ("arch_name", "sslmem.models.ARCHS"),
     ("dataset_name", "sslmem.data.datasets.DATASETS")],
)
def test_schema_enums_name_exactly_the_registries(enum, registry_name):
    schema = yaml.safe_load((REPO / "src/sslmem/params.schema.yaml").read_text())
    in_schema = schema["$defs"][enum]["enum"]
    module, name = registry_name.rsplit(".", 1)
    known = list(getattr(importlib.import_module(module), name))
    only_schema, only_registry = sorted(set(in_schema) - set(known)), sorted(set(known) - set(in_schema))
    assert not only_schema and not only_registry, (
        f"params.schema.yaml $defs.{enum}.enum and {registry_name} differ: only in the schema {only_schema}, "
        f"only in the registry {only_registry}; add or remove the name in the schema"
    )
    assert len(in_schema) == len(set(in_schema)), f"$defs.{enum}.enum names a value twice: {in_schema}"


def test_the_dataset_catalog_and_the_loaders_are_one_registry():
    assert list(catalog.CATALOG) == list(datasets.DATASETS)
    assert all(datasets.DATASETS[name].info is entry.info for name, entry in catalog.CATALOG.items())
    assert datasets.check_root is catalog.check_root and datasets.DatasetNotFoundError is catalog.DatasetNotFoundError


# ----------------------------------------------------------------------------------------- validation cache


@pytest.fixture
def validations(monkeypatch) -> list:
    """The presets that config.load validated fully (a cache hit adds nothing)."""
    module = sys.modules["sslmem.config.load"]  # `config.load` is the function; the module is sslmem.config.load
    real, calls = module.resolve, []

    def counting(raw, preset=None, check_roots=True, **extra):
        calls.append(preset)
        return real(raw, preset, check_roots, **extra)

    monkeypatch.setattr(module, "resolve", counting)
    return calls


def cache_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / cache.CACHE_DIR_NAME).glob("settings-*.json"))


def test_a_cache_hit_returns_what_a_full_validation_returns(raw, tmp_path, validations):
    params = write_params(tmp_path / "params.yaml", raw)
    fresh = config.resolve(raw, "test")
    first = config.load(params, preset="test")
    assert cache_files(tmp_path)
    second = config.load(params, preset="test")
    assert validations == ["test"]
    assert first == second == fresh
    assert json.dumps(second) == json.dumps(fresh)  # the same key order, too
    second["experiment"]["seeds"].append(99)  # each load gets its own copy
    assert config.load(params, preset="test") == fresh
    # The file's own preset (params.yaml's `preset:`) asked by name or left to the file: one validation.
    own = raw["preset"]
    assert config.load(params, check_roots=False) == config.load(params, preset=own, check_roots=False)
    assert validations == ["test", None]


def test_the_cache_misses_when_params_preset_or_overrides_change(raw, tmp_path, validations):
    params = write_params(tmp_path / "params.yaml", raw)
    config.load(params, preset="test")
    edit(raw, "presets.test.experiment.seeds", [3, 4])
    write_params(params, raw)
    assert config.load(params, preset="test")["experiment"]["seeds"] == [3, 4]
    assert config.load(params, preset="paper", check_roots=False)["preset"] == "paper"
    overrides = {"presets": {"test": {"experiment": {"seeds": [9]}}}}
    assert config.load(params, preset="test", overrides=overrides)["experiment"]["seeds"] == [9]
    assert validations == ["test", "test", "paper", "test"]
    # and each of them is a hit now
    config.load(params, preset="test")
    config.load(params, preset="paper", check_roots=False)
    config.load(params, preset="test", overrides=overrides)
    assert len(validations) == 4


def test_a_cache_file_that_fails_validation_is_never_written(raw, tmp_path):
    edit(raw, "presets.test.methods.simclr.warmup_epochs", 5)
    params = write_params(tmp_path / "params.yaml", raw)
    for _ in range(2):
        with pytest.raises(ConfigError, match="methods.simclr.warmup_epochs: 5 exceeds epochs=2"):
            config.load(params, preset="test")
    assert cache_files(tmp_path) == []


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda record: "",
        lambda record: json.dumps(record)[:-40],  # cut short
        lambda record: "[]",
        lambda record: json.dumps({**record, "key": "0" * 64}),
        lambda record: json.dumps({**record, "format": 0}),
        # a value changed by hand (or a flipped bit) without the digest: not trusted either
        lambda record: json.dumps(record).replace('"seeds": [0]', '"seeds": [7]'),
    ],
    ids=["empty", "truncated", "not a record", "other key", "other format", "tampered settings"],
)
def test_a_corrupt_cache_file_is_ignored_and_revalidated(raw, tmp_path, validations, corrupt):
    params = write_params(tmp_path / "params.yaml", raw)
    good = config.load(params, preset="test")
    assert good["experiment"]["seeds"] == [0]
    [cached] = cache_files(tmp_path)
    record = json.loads(cached.read_text())
    assert corrupt(record) != cached.read_text()
    cached.write_text(corrupt(record))
    assert config.load(params, preset="test") == good
    assert validations == ["test", "test"]
    assert json.loads(cached.read_text()) == record  # rewritten intact
    assert config.load(params, preset="test") == good and len(validations) == 2


def test_dataset_roots_are_checked_on_every_load_even_from_the_cache(raw, tiny_root, tmp_path):
    root = tmp_path / "fashion-mnist-copy"
    shutil.copytree(tiny_root, root)
    edit(raw, "common.data.roots.fashion_mnist", str(root))
    params = write_params(tmp_path / "params.yaml", raw)
    config.load(params, preset="test")
    shutil.rmtree(root)
    with pytest.raises(ConfigError, match="data.roots.fashion_mnist: fashion_mnist 'train' split not found"):
        config.load(params, preset="test")
    assert config.load(params, preset="test", check_roots=False)["preset"] == "test"


def test_a_cache_hit_imports_neither_torch_nor_timm_nor_jsonschema(raw, tmp_path):
    params = write_params(tmp_path / "params.yaml", raw)
    config.load(params, preset="test")
    code = (
        "import sys; from sslmem import config; "
        f"settings = config.load({str(params)!r}, preset='test'); "
        "print(settings['preset'], sorted(m for m in ('torch', 'timm', 'jsonschema', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["test", "[]"], result.stdout


def test_sslmem_check_validates_fully_and_refreshes_the_cache(raw, tmp_path, capsys, monkeypatch, validations):
    params = write_params(tmp_path / "params.yaml", raw)
    config.load(params, preset="test")
    reads, real_read = [], cache.read
    monkeypatch.setattr(cache, "read", lambda key: reads.append(key) or real_read(key))
    for _ in range(2):
        assert cli.main(["--params", str(params), "--preset", "test", "check"]) == 0
    assert "params OK: preset 'test'" in capsys.readouterr().out
    assert reads == [] and validations == ["test", "test", "test"]
    for cached in cache_files(tmp_path):
        cached.unlink()
    assert cli.main(["--params", str(params), "--preset", "test", "check"]) == 0
    # from the file `sslmem check` wrote, for the jobs (which load with the study plugins' validators)
    assert load_settings(params, preset="test")["preset"] == "test"
    assert len(reads) == 1 and len(validations) == 4


def test_a_study_registers_its_own_cross_field_rule(raw, monkeypatch):
    monkeypatch.setattr(registry, "_RULES", list(registry._RULES))
    key_before = cache.settings_key(b"preset: test", "test", None)

    @rules.cross_field_rule
    def check_my_study(settings):
        if len(settings["experiment"]["seeds"]) < 3:
            raise ConfigError(f"experiment.seeds: {settings['experiment']['seeds']}; my study needs 3 seeds")

    fails_with(raw, "test", "experiment.seeds: [0]; my study needs 3 seeds")
    registered = rules.registered_rules()
    settings_rules = [rule.check for rule in registered if not rule.reads_files]
    assert settings_rules[-1] == check_my_study
    # The rules that read files (the dataset roots, a study's source files) run after every settings rule.
    first_file_rule = min(index for index, rule in enumerate(registered) if rule.reads_files)
    assert all(rule.reads_files for rule in registered[first_file_rule:])
    assert rules.check_dataset_roots in [rule.check for rule in registered[first_file_rule:]]
    # The study's source is part of the cache key, so editing its rule invalidates validated settings.
    assert cache.settings_key(b"preset: test", "test", None) != key_before


def test_split_counts_must_pair_candidates_with_independents_under_coupling(raw):
    raw["presets"]["test"]["splits"]["counts"] = {"fashion_mnist": {"shared": 100, "candidate": 20, "independent": 30}}
    with pytest.raises(ConfigError, match=r"splits.counts.fashion_mnist: candidate \(20\) must equal independent \(30\)"):
        resolve_settings(raw, "test", check_roots=False)


def test_split_counts_larger_than_the_training_split_are_refused(raw):
    raw["presets"]["test"]["splits"]["counts"] = {"fashion_mnist": {"shared": 59000, "candidate": 1000,
                                                                     "independent": 1000}}
    with pytest.raises(ConfigError, match="adds up to 61000 points, more than the 60000 training images"):
        resolve_settings(raw, "test", check_roots=False)


def test_probe_settings_per_method_merge_over_the_probe(raw):
    raw["presets"]["test"]["probe"]["per_method"] = {"simclr": {"lr": 4.8}}
    settings = resolve_settings(raw, "test", check_roots=False)
    assert config.probe_recipe(settings, "simclr")["lr"] == 4.8
    assert config.probe_recipe(settings, "mae")["lr"] == settings["probe"]["lr"]
    assert "per_method" not in config.probe_recipe(settings, "mae")


@pytest.mark.parametrize("per_method, message", [
    ({"mae": {"optimizer": "adamw"}}, r"probe.per_method.mae.betas: missing; optimizer adamw needs betas"),
    ({"mae": {"warmup_epochs": 500}}, r"probe.per_method.mae: warmup_epochs 500 exceeds epochs"),
])
def test_probe_settings_per_method_are_validated_merged(raw, per_method, message):
    raw["presets"]["test"]["probe"]["per_method"] = per_method
    with pytest.raises(ConfigError, match=message):
        resolve_settings(raw, "test", check_roots=False)


# ------------------------------------------------------------------------- schema errors: what is allowed, in words


@pytest.mark.parametrize("key, value, needles", [
    # A oneOf: each alternative in words, with what null means there.
    ("presets.test.splits.pool_size", -5,
     ["presets.test.splits.pool_size: -5 is not allowed; expected a positive integer, null (the whole dataset), or a "
      "mapping dataset → positive integer"]),
    ("common.splits.pool_size", -5, ["common.splits.pool_size: -5 is not allowed; expected a positive integer"]),
    ("presets.test.studies.privacy.delta", 1,
     ["studies.privacy.delta: 1 is not allowed; expected a number in (0, 1) or null (δ = 1/(2N), N the training-set "
      "size)"]),
    # An enum among the alternatives (a key of a mapping, checked by propertyNames).
    ("presets.test.measure.representation", {"default": "encoder", "byol": "encoder"},
     ["measure.representation: key 'byol' is not allowed; expected 'default' or a method (one of 'simclr', 'mae', "
      "'dino', 'vicreg', 'simsiam', 'supervised')"]),
    # A mapping where a mapping may stand: what is wrong inside it, at its own key.
    ("presets.test.splits.pool_size", {"fashion_mnist": -5},
     ["splits.pool_size.fashion_mnist: -5 is not allowed; expected a positive integer or null (the whole dataset)"]),
    ("presets.test.splits.pool_size", {"mnist": 200}, ["splits.pool_size: key 'mnist' is not one of ['fashion_mnist'"]),
    ("presets.test.report.table4.datasets", "cifar10",
     ["report.table4.datasets: 'cifar10' is not allowed; expected null (every dataset each setup trains on) or a "
      "non-empty list whose items are each a dataset (one of 'fashion_mnist'"]),
    ("presets.test.methods.dino.local_crop_size", 0,
     ["methods.dino.local_crop_size: 0 is not allowed; expected a positive integer (pixels, a multiple of a ViT's "
      "patch size) or a number in (0, 1) (a fraction of the global crop size)"]),
    ("presets.test.measure.shared_sample", 0,
     ["measure.shared_sample: 0 is not allowed; expected a positive integer or null (as many as S_C)"]),
])
def test_schema_alternatives_are_named_in_the_message(raw, key, value, needles):
    edit(raw, key, value)
    message = fails_with(raw, "test", *needles)
    assert "not valid under any of the given schemas" not in message


@pytest.mark.parametrize("schema, words", [
    ({"type": "integer", "minimum": 1}, "a positive integer"),
    ({"type": "integer", "minimum": 0}, "a non-negative integer"),
    ({"type": "integer", "minimum": 8}, "an integer of at least 8"),
    ({"type": "number", "exclusiveMinimum": 0}, "a positive number"),
    ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, "a number in (0, 1)"),
    ({"type": "number", "minimum": -1, "maximum": 1}, "a number in [-1, 1]"),
    ({"type": "number", "maximum": 360}, "a number of at most 360"),
    ({"enum": ["mean", "median"]}, "one of 'mean', 'median'"),
    ({"const": "default"}, "'default'"),
    ({"type": "string", "pattern": "^[a-z]+$"}, "a string matching ^[a-z]+$"),
    ({"type": "array", "items": {"type": "boolean"}}, "a list whose items are each true or false"),
    ({"type": "object", "propertyNames": {"$ref": "#/$defs/name"}, "additionalProperties": {"type": "integer"}},
     "a mapping thing → integer"),
    ({"oneOf": [{"type": "null", "description": "none"}, {"$ref": "#/$defs/name"}]},
     "null (none) or a thing (one of 'x', 'y')"),
])
def test_schema_alternatives_in_words(schema, words):
    root = {"$defs": {"name": {"title": "thing", "enum": ["x", "y"]}}}
    assert schema_messages.describe(schema, root) == words


# --------------------------------------------------------------- sizes that must fit the split, checked at load


def test_shared_sample_larger_than_s_s_is_refused_at_load(raw):
    """The default preset's |S_S| is 800 (pool 1000 × 0.8): 5000 would pass the schema, then fail in every align
    job after every encoder trained."""
    edit(raw, "presets.default.measure.shared_sample", 5000)
    fails_with(raw, "default", "measure.shared_sample: 5000 points of S_S are scored, but |S_S| = 800 in "
               "fashion_mnist's split (preset 'default'); use at most 800, or null (as many as S_C)",
               "splits.pool_size = 1000 × splits.fractions")


def test_a_null_shared_sample_needs_s_s_as_large_as_s_c(raw):
    edit(raw, "presets.test.splits.fractions", {"shared": 0.2, "candidate": 0.4, "independent": 0.4})
    edit(raw, "presets.test.report.classmem.setups", [])  # 10 of each class would not fit the 40 of S_S either
    edit(raw, "presets.test.studies.overlap.runs", [])
    fails_with(raw, "test", "measure.shared_sample: null scores as many points of S_S as S_C has, 80, but |S_S| = 40 "
               "in fashion_mnist's split (preset 'test'); set measure.shared_sample to at most 40")


def test_shared_sample_must_fit_every_overlap_level(raw):
    """150 fits the test preset's core S_S (160) but not that of its overlap level 0.7 (0.7 × 200 = 140)."""
    edit(raw, "presets.test.measure.shared_sample", 150)
    fails_with(raw, "test", "measure.shared_sample: 150 points of S_S are scored, but |S_S| = 140 in the split of "
               "overlap level 0.7 on fashion_mnist (preset 'test'); use at most 140",
               "studies.overlap.runs[0].overlaps: 0.7 of the core pool of 200")
    edit(raw, "presets.test.measure.shared_sample", None)
    edit(raw, "presets.test.studies.overlap.runs",
         [{"setup": "simclr-resnet18", "datasets": ["fashion_mnist"], "overlaps": [0.3]}])  # |S_S| 60, |S_C| 120
    fails_with(raw, "test", "measure.shared_sample: null scores as many points of S_S as S_C has, 120, but "
               "|S_S| = 60 in the split of overlap level 0.3 on fashion_mnist")


def test_unitmem_needs_two_scored_points_of_its_subset(raw):
    edit(raw, "presets.test.measure.unitmem", {"subset": "S_S", "others": "mean"})
    edit(raw, "presets.test.measure.shared_sample", 1)
    fails_with(raw, "test", "measure.unitmem.subset: 'S_S' has 1 scored point(s) in fashion_mnist's split "
               "(preset 'test')", "needs at least 2", "(measure.shared_sample)")


def test_extra_size_must_fit_the_test_split(raw):
    edit(raw, "presets.test.splits.extra_size", 20000)
    fails_with(raw, "test", "splits.extra_size: 20000 points of S_E, but fashion_mnist's test split has 10000 images "
               "(preset 'test'); use at most 10000")
    # null means |S_C|: 0.2 of Fashion-MNIST's 60000 training images is 12000, more than its 10000 test images.
    edit(raw, "presets.test.splits.extra_size", None)
    edit(raw, "presets.test.splits.pool_size", None)
    edit(raw, "presets.test.splits.fractions", {"shared": 0.6, "candidate": 0.2, "independent": 0.2})
    fails_with(raw, "test", "splits.extra_size: null draws as many S_E points as S_C has, 12000, from fashion_mnist's "
               "test split of 10000 images (preset 'test'); set splits.extra_size to at most 10000",
               "all 60000 training images of fashion_mnist × splits.fractions")


def test_planted_count_must_fit_s_e_and_its_source(raw):
    edit(raw, "presets.test.splits.extra_size", 5)  # the test preset plants 5 among |S_C| = 20
    fails_with(raw, "test", "studies.planted.count: 5 unseen control images go to S_E, but |S_E| = 5 on fashion_mnist "
               "in preset 'test'; use fewer than 5")
    edit(raw, "presets.test.splits.extra_size", None)
    edit(raw, "presets.test.studies.planted.count", 700)  # 2 x 700 images of digits' 1352 training images
    fails_with(raw, "test", "studies.planted.count: 700 planted images and as many controls are 1400 distinct images "
               "of the 'train' split of digits, which has 1352 (preset 'test'); use at most 676")


def test_classmem_sample_names_the_split_and_preset(raw):
    edit(raw, "presets.test.report.classmem.points_per_class", 17)
    fails_with(raw, "test", "report.classmem.points_per_class: 17", "its S_S has 160; use at most 16",
               "preset 'test'", "Sizes of fashion_mnist's split: |S_S| = 160, |S_C| = 20, |S_I| = 20, |S_E| = 20")


def test_split_sizes_follow_the_split_stage_and_are_unknown_for_a_whole_image_folder(raw):
    settings = resolve_settings(raw, "test", check_roots=False)
    from sslmem.data.splits import split_sizes

    drawn = split_sizes(200, settings["splits"]["fractions"], None)
    known = subsets.split_subsets(settings, "fashion_mnist")
    assert (known.shared, known.candidate, known.independent, known.extra) == (
        drawn.shared, drawn.candidate, drawn.independent, drawn.extra)
    # splits.counts replace pool × fractions; extra_size replaces |S_C| for S_E.
    settings["splits"]["counts"] = {"fashion_mnist": {"shared": 50, "candidate": 7, "independent": 7}}
    settings["splits"]["extra_size"] = 9
    assert subsets.split_subsets(settings, "fashion_mnist").of("S_E") == 9
    assert subsets.split_subsets(settings, "fashion_mnist").of("S_S") == 50
    # An image folder's size is known only from its files: no size check there (the split stage checks it).
    settings["experiment"]["datasets"] = ["image_folder"]
    settings["splits"]["pool_size"] = None
    settings["measure"]["shared_sample"] = 10 ** 9
    assert subsets.split_subsets(settings, "image_folder") is None
    sizes.check_scored_subsets(settings)

