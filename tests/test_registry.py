"""The registry of results is the one place a table or figure is declared: the CLI, the Snakemake targets and
rules, the report's captions, DVC's outputs and the list of results (docs/results.md) follow it."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from sslmem import config
from sslmem.report.registry import Result
from sslmem.artifacts import preset_root
from sslmem.plan import load_settings
from sslmem.studies.plugins import input_set_names, load_results

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
PRESETS = sorted(yaml.safe_load((REPO / "params.yaml").read_text())["presets"])


def preset_settings(preset: str) -> dict:
    return load_settings(REPO / "params.yaml", preset=preset, check_roots=False)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_builder_takes_its_inputs_options_and_out(preset):
    settings = preset_settings(preset)
    for result in load_results().values():
        options = result.options(settings)
        json.dumps(options)  # the rule's settings fingerprint
        parameters = inspect.signature(result.builder_function()).parameters
        for argument in [*result.inputs, *options, "out"]:
            assert argument in parameters, f"{result.name}: {result.builder} has no parameter {argument!r}"


def test_results_have_distinct_files_and_known_inputs():
    results = load_results()
    paths = [result.path for result in results.values()]
    assert len(paths) == len(set(paths))
    for result in results.values():
        for source in result.inputs.values():
            assert source in input_set_names() or source in results


def test_a_bad_entry_is_refused_with_its_name():
    with pytest.raises(ValueError, match="Table 99"):
        Result(name="Table 99", kind="table", title="t", caption="c.", builder="m:f", inputs={})
    with pytest.raises(ValueError, match="kind 'plot'"):
        Result(name="t99", kind="plot", title="t", caption="c.", builder="m:f", inputs={})


def test_dvc_report_stage_outputs_are_the_registered_results():
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["report"]
    declared = [*stage["outs"], *stage.get("metrics", []), *stage.get("plots", [])]
    outs = [next(iter(out)) if isinstance(out, dict) else out for out in declared]
    assert sorted(outs) == sorted(result.path for result in load_results().values() if result.default)
    metrics = [next(iter(out)) for out in stage["metrics"]]
    assert metrics == [result.path for result in load_results().values() if result.kind == "metrics"]


def test_the_results_page_lists_every_result():
    page = (REPO / "docs/results.md").read_text()
    missing = [result.path for result in load_results().values() if f"`{Path(result.path).name}`" not in page]
    assert not missing, f"docs/results.md does not describe {missing} (section 'What each file in results/ means')"


# --- one toy study with one table: its module and its name in the plugin list ---------------------------------------------------------

TOY_STUDY = '''
"""A toy study for the registry test: mean m per setup, nothing else."""
from sslmem.report.registry import Result
from sslmem.studies import Study


def build(score_paths, out, estimate):
    from sslmem.io import atomic_to_csv
    from sslmem.report.readers import read_scores

    scores = read_scores(score_paths)
    table = scores[scores["estimate"] == estimate].groupby("setup", as_index=False)["m"].mean()
    atomic_to_csv(table, out)


def _no_training_set(settings, run):
    raise ValueError("the toy study trains nothing")


STUDY = Study(name="toy", runs=lambda settings: [], training_set=_no_training_set, results=("toytable",),
              probed=False)
RESULTS = [Result(
    name="toytable", kind="table", title="Toy table — mean m per setup", category="Toys",
    caption="The mean score of every setup, a toy for the registry test.",
    builder="sslmem.studies.toy:build", inputs={"score_paths": "scores"},
    options=lambda settings: {"estimate": "ensemble"}, default=False,
)]
'''


def fake_score_file(path: Path, setup: str, method: str, arch: str) -> None:
    import pandas as pd

    rows = [dict(dataset="fashion_mnist", setup=setup, method=method, arch=arch, representation="encoder",
                 estimate="ensemble", seed=-1,
                 point_id=i, source="train", subset=subset, label=0, align_f=1.0, align_g=1.0 + m, m_raw=m, m=m)
            for i, (subset, m) in enumerate([("S_C", 0.5), ("S_C", 0.3), ("S_S", 0.0), ("S_I", -0.1), ("S_E", 0.1)])]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)


@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")
def test_a_toy_table_added_through_the_registry_reaches_cli_snakemake_and_report(tmp_path):
    for name in ("Snakefile", "params.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "workflow", tmp_path / "workflow")
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (tmp_path / "src/sslmem/studies/toy.py").write_text(textwrap.dedent(TOY_STUDY))
    # A study is its module plus its name in the one explicit list of plugins.
    plugins = tmp_path / "src/sslmem/studies/plugins.py"
    listed = plugins.read_text().replace("augmentations, coreset,", "augmentations, toy, coreset,")
    assert listed.count("toy,") == 2
    plugins.write_text(listed)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "src"), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")

    def run(*command):
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout + done.stderr

    assert "toytable" in run(sys.executable, "-m", "sslmem.cli", "report", "--list")  # the CLI
    assert "toytable" in run("snakemake", "--list-rules", "--config", "preset=test")  # a Snakemake rule

    settings = preset_settings("test")
    out = tmp_path / preset_root("test")  # the test preset works in runs/test/
    for entry in settings["experiment"]["setups"]:
        name = config.setup_name(entry)
        fake_score_file(out / f"results/scores/fashion_mnist/{name}.parquet", name, entry["method"], entry["arch"])
    profile = ["--profile", "workflow/profiles/default", "--cores", "1"]
    run("snakemake", *profile, "results/toytable.csv", "--config", "preset=test")  # a Snakemake target
    table = (out / "results/toytable.csv").read_text()
    assert table.splitlines()[0] == "setup,m" and len(table.splitlines()) == 1 + len(settings["experiment"]["setups"])

    run("snakemake", *profile, "--report", "report.html", "results/toytable.csv", "--config", "preset=test")
    html = (out / "report.html").read_text()
    assert "toytable.csv" in html and "a toy for the registry test" in html  # in the report, with its caption


def test_the_paper_preset_plans_every_cell_of_table1_and_the_rows_of_table15():
    settings = preset_settings("paper")
    identities = config.paper_identities(settings)
    from sslmem.report.readers import load_paper_values, matches_paper_row

    runs = config.experiment_runs(settings)
    paper = load_paper_values()
    for table in ("table1", "table15"):
        for row in paper[table]:
            # Planned, and matched as the paper's run (recipe, backbone, epochs, encoder output).
            assert any(matches_paper_row(row, run.dataset, identities[run.setup]) for run in runs), (
                f"the paper preset does not train {table}'s row {row['method']} {row['arch']} {row['dataset']}")


@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="needs the workflow's tools (scripts/setup.sh)")
def test_the_paper_presets_dry_run_plans_imagenet_and_table15_without_the_data():
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    # --forcerun: the checkout's results/ holds the default preset's table1 and table15 (kept in git).
    done = subprocess.run(["snakemake", "-n", "results/table1.csv", "results/table15.csv",
                           "--forcerun", "table1", "table15", "--config", "preset=paper"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    planned = done.stdout + done.stderr
    for checkpoint in ("image_folder/mae-vit_base/f0.pt", "image_folder/simclr-resnet50-imagenet/f2.pt",
                       "cifar10/simclr-wide_resnet50_2/f0.pt", "cifar10/simclr-resnet18/g1.pt",
                       "stl10/dino-vit_tiny/f0.pt"):
        assert f"results/checkpoints/{checkpoint}" in planned, checkpoint
