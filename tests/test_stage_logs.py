"""The align and probe jobs print progress and timing lines a person can follow in their Snakemake logs
(stdout and stderr go to the rule's log file), and every option of `sslmem` documents itself in --help.

One SimCLR ResNet18 of width 8 is trained for one epoch on a tiny Fashion-MNIST (150 training images, a pool
of 100), so the file runs in seconds on a CPU.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from sslmem import config
from sslmem.cli import build_parser
from sslmem.config import RunSpec
from sslmem.pipeline.align import run_align
from sslmem.pipeline.probe import run_probe
from sslmem.pipeline.split import run_split
from sslmem.pipeline.train import run_train
from sslmem.pipeline.training_set import protocol_training_set
from sslmem.plan import load_settings

from fakedata import NAMES_NO_OTHER_SETUP, write_tiny_fashion_mnist

REPO = Path(__file__).resolve().parents[1]
SPEC = RunSpec("fashion_mnist", "simclr", "resnet18", 0, "f")
LABEL = "simclr-resnet18 f0"
PROBE_EPOCHS = 25  # more than the probe's PROGRESS_LINES, so its epoch lines are thinned
POINTS = 40  # scored points: 10 each of S_C, S_S (sample), S_I and S_E with a pool of 100
OVERRIDES = config.deep_merge(NAMES_NO_OTHER_SETUP, {
    "experiment": {"setups": [{"method": "simclr", "arch": "resnet18"}], "seeds": [0]},
    "splits": {"pool_size": 100},
    "training": {"device": "cpu", "progress": False, "num_threads": 1, "amp": False},
    "methods": {"simclr": {"epochs": 1, "warmup_epochs": 0, "batch_size": 32}},
    "archs": {"resnet18": {"width": 8}},
    "measure": {"num_views": 2, "batch_size": 8},  # 5 batches of the 40 points
    "probe": {"epochs": PROBE_EPOCHS, "warmup_epochs": 1, "batch_size": 32},
    "report": {"table11": []},
})
PROGRESS_LINE = re.compile(rf"^{LABEL} align: (\d+)/{POINTS} images, \d+ img/s, ETA \d+:\d\d:\d\d$")
EPOCH_LINE = re.compile(
    rf"^{LABEL} probe fashion_mnist epoch (\d+)/{PROBE_EPOCHS}: loss \d+\.\d{{4}}, train acc [01]\.\d{{4}}, "
    r"lr \S+, \d+ img/s, ETA \d+:\d\d:\d\d$"
)


class Env:
    """A params file, a split and one trained encoder, shared by the tests of this file."""

    def __init__(self, base: Path):
        raw = yaml.safe_load((REPO / "params.yaml").read_text())
        raw["preset"] = "test"
        raw["common"]["data"]["roots"]["fashion_mnist"] = str(
            write_tiny_fashion_mnist(base / "fashion-mnist", num_train=150, num_test=60)
        )
        raw["presets"]["test"] = config.deep_merge(raw["presets"]["test"], OVERRIDES)
        raw["presets"]["test"]["probe"].pop("downstream", None)  # the own dataset only (downstream: its own tests)
        self.params = base / "params.yaml"
        self.params.write_text(yaml.safe_dump(raw, sort_keys=False))
        self.settings = load_settings(self.params)
        self.split = base / "splits" / "fashion_mnist.csv"
        run_split(self.settings, "fashion_mnist", self.split)
        self.checkpoint = base / "checkpoints" / "f0.pt"
        self.training_set = protocol_training_set(self.split, "f", base / "training_sets" / "f0.csv")
        run_train(self.settings, SPEC, self.training_set, self.checkpoint, base / "train_logs" / "f0.csv",
                  base / "resume" / "f0.pt")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    torch.set_num_threads(1)
    return Env(tmp_path_factory.mktemp("stage_logs"))


def lines_of(text: str) -> list[str]:
    assert "\r" not in text, "progress must be whole lines (a log file shows carriage-return bars as one line)"
    return text.splitlines()


def seconds_in(line: str, pattern: str) -> float:
    match = re.fullmatch(pattern, line)
    assert match, f"{line!r} does not match {pattern!r}"
    return float(match.group(1))


# ------------------------------------------------------------------------------------------------ align


def test_align_log_shows_progress_per_batch_group_and_the_total_time(env, tmp_path):
    """Through the CLI, its output redirected to a file as Snakemake's `log:` does."""
    log = tmp_path / "align.log"
    command = [str(Path(sys.executable).parent / "sslmem"), "--params", str(env.params), "align",
               "--checkpoint", str(env.checkpoint), "--split", str(env.split), "--out", str(tmp_path / "f0.parquet"),
               "--layers-out", str(tmp_path / "layers.parquet"), "--units-out", str(tmp_path / "units.parquet")]
    with log.open("w") as handle:
        subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=True, timeout=300)
    lines = [line for line in lines_of(log.read_text()) if line.startswith(f"{LABEL} align:")]
    assert lines[0].startswith(f"{LABEL} align: {POINTS} images (S_C 10, S_S 10, S_I 10, S_E 10), 2 views, batch 8, ")
    assert re.search(r", \d+ layers, \d+ unit layers, on cpu$", lines[0]) and ", 0 layers" not in lines[0]
    done = [int(PROGRESS_LINE.match(line).group(1)) for line in lines[1:-1]]
    assert done == [8, 16, 24, 32, 40], lines  # 5 batches of 8: one line each (fewer than PROGRESS_LINES)
    assert seconds_in(lines[-1], rf"{LABEL} align: done, {POINTS} images in (\d+\.\d) s") > 0
    assert len(pd.read_parquet(tmp_path / "f0.parquet")) == POINTS


def test_align_prints_a_line_per_group_of_batches_when_there_are_many(env, tmp_path, capsys):
    settings = config.deep_merge(env.settings, {"measure": {"batch_size": 1}})  # 40 batches → every 4th
    run_align(settings, env.checkpoint, env.split, tmp_path / "f0.parquet")
    lines = [line for line in lines_of(capsys.readouterr().out) if PROGRESS_LINE.match(line)]
    assert [int(PROGRESS_LINE.match(line).group(1)) for line in lines] == list(range(4, POINTS + 1, 4))


def test_align_output_does_not_depend_on_the_progress_lines(env, tmp_path, monkeypatch):
    """The files are the same bytes whether or not the progress callback runs (only the log changes)."""
    from sslmem.pipeline import align

    run_align(env.settings, env.checkpoint, env.split, tmp_path / "with.parquet", tmp_path / "with_layers.parquet")
    monkeypatch.setattr(align, "batch_progress", lambda *args: None)
    run_align(env.settings, env.checkpoint, env.split, tmp_path / "without.parquet", tmp_path / "without_layers.parquet")
    assert (tmp_path / "with.parquet").read_bytes() == (tmp_path / "without.parquet").read_bytes()
    assert (tmp_path / "with_layers.parquet").read_bytes() == (tmp_path / "without_layers.parquet").read_bytes()


# ------------------------------------------------------------------------------------------------ probe


def test_probe_log_shows_features_epochs_accuracies_and_the_total_time(env, tmp_path, capsys):
    out = tmp_path / "f0.csv"
    run_probe(env.settings, env.checkpoint, out)
    lines = [line for line in lines_of(capsys.readouterr().out) if line.startswith(f"{LABEL} probe")]
    result = pd.read_csv(out).iloc[0]
    features = rf"{LABEL} probe fashion_mnist: features \(150, \d+\) train, \(60, \d+\) test, \d+\.\d s, on cpu"
    assert re.fullmatch(features, lines[0])
    epochs = [int(EPOCH_LINE.match(line).group(1)) for line in lines if EPOCH_LINE.match(line)]
    assert epochs == [1, *range(2, PROBE_EPOCHS, 2), PROBE_EPOCHS]  # every 2nd, and always the first and last
    linear = next(line for line in lines if "linear top-1" in line)
    assert linear.startswith(f"{LABEL} probe fashion_mnist: linear top-1 {result.top1:.4f} (60 test images), ")
    knn = next(line for line in lines if "kNN top-1" in line)
    assert knn.startswith(f"{LABEL} probe fashion_mnist: kNN top-1 {result.knn_top1:.4f} (k=")
    assert seconds_in(lines[-1], rf"{LABEL} probe: done, fashion_mnist top-1 {result.top1:.4f}, "
                                 rf"kNN {result.knn_top1:.4f}, (\d+\.\d) s") >= 0


def test_probe_accuracy_does_not_depend_on_the_epoch_callback():
    """The per-epoch row reads what the steps computed; the classifier, so its accuracy, is the same."""
    from sslmem.evaluation.probe import linear_probe

    generator = torch.Generator().manual_seed(0)
    train_x, test_x = torch.randn(96, 12, generator=generator), torch.randn(40, 12, generator=generator)
    train_y, test_y = (train_x[:, 0] > 0).long(), (test_x[:, 0] > 0).long()
    options = dict(num_classes=2, epochs=4, warmup_epochs=1, batch_size=16, optimizer="sgd", lr=0.1,
                   weight_decay=0.0, seed=0)
    rows: list[dict] = []
    with_rows = linear_probe(train_x, train_y, test_x, test_y, after_epoch=rows.append, **options)
    assert with_rows == linear_probe(train_x, train_y, test_x, test_y, **options)
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    assert all(0.0 <= row["train_top1"] <= 1.0 and row["loss"] > 0 and row["seconds"] >= 0 for row in rows)


# ------------------------------------------------------------------------------------------------ --help


def every_parser(parser: argparse.ArgumentParser, name: str = "sslmem"):
    """(name, parser) for `sslmem` and each of its verbs."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for verb, subparser in action.choices.items():
                yield from every_parser(subparser, f"{name} {verb}")


def test_every_option_and_verb_has_a_help_string():
    """argparse.SUPPRESS counts as help: it hides an option on purpose (train's --stop-after-epochs, for tests)."""
    undocumented = []
    for name, parser in every_parser(build_parser()):
        for action in parser._actions:
            if not (action.help or "").strip():
                undocumented.append(f"{name}: {'/'.join(action.option_strings) or action.dest}")
            if isinstance(action, argparse._SubParsersAction):
                undocumented += [f"{name}: verb {verb.dest}" for verb in action._choices_actions
                                 if not (verb.help or "").strip()]
    assert not undocumented, f"options without help=: {undocumented}"
    verbs = dict(every_parser(build_parser()))
    assert len(verbs) > 10 and "sslmem align" in verbs and "sslmem probe" in verbs
