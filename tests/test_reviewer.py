"""The reviewer's path: results published with DVC, pulled into a fresh clone, checked and reported.

In a temporary git repository holding the project's files (params.yaml's preset set to `test`, dvc.yaml cut to
the stages the report needs: each study stage works the same way and is built end to end by its own test, and
building them all here cost CI a quarter of an hour), `dvc repro` builds every stage and `dvc push` fills the repository's default remote (.dvc/config: ../sslmem-dvc-remote). A
fresh `git clone` then pulls the results over HTTP (the remote folder served read-only on 127.0.0.1) and checks
what README/docs/cluster.md promise a reviewer:

* `dvc status` and `dvc repro` find nothing to do;
* after `snakemake ... --touch` (restored files get new modification times in arbitrary order, and Snakemake
  reruns a job whose input is newer than its output whatever `rerun-triggers` says), Snakemake has nothing
  to do either, without any .snakemake/ metadata;
* `snakemake --report report.html` builds the report from the pulled files;
* a second clone that pulls only results/scores rebuilds table2 from the scores alone, with no checkpoint.

The tests of the marked section share one published repository and one clone and run in file order.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


# --- report captions (fast) ---------------------------------------------------------------------------------


def squash(text: str) -> str:
    return " ".join(text.split())


def test_report_rst_renders_without_warnings():
    from docutils.core import publish_parts
    from jinja2 import Environment

    from sslmem.studies.plugins import load_results

    captions = [{"caption": result.caption_rst()} for result in load_results().values()]
    for path in sorted((REPO / "workflow/report").glob("*.rst")):
        for params in captions:  # result.rst renders each result's caption
            context = {"config": {"preset": "test"}, "params": params}
            text = Environment().from_string(path.read_text()).render(snakemake=context)
            # halt_level 2: any docutils warning raises
            publish_parts(text, writer="html", settings_overrides={"halt_level": 2, "report_level": 5})


# --- publish with DVC, pull into a clone --------------------------------------------------------------------

needs_tools = pytest.mark.skipif(
    not FASHION_MNIST.exists() or shutil.which("git") is None,
    reason="needs Fashion-MNIST (scripts/setup.sh) and git",
)


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # dvc, snakemake, sslmem of this venv
    env.update(
        GIT_AUTHOR_NAME="sslmem test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="sslmem test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
        DVC_NO_ANALYTICS="1",
        SSLMEM_PROFILE="default",
    )
    return env


def run(*command: str, cwd: Path, timeout: int = 900) -> str:
    result = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout)
    out = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}) in {cwd}:\n{out[-6000:]}")
    return out


def _dep_path(dep) -> str:
    return dep if isinstance(dep, str) else next(iter(dep))


def report_stages(stages: dict) -> set[str]:
    """`report` and every stage whose outputs it needs, transitively (a dep inside an output folder counts)."""
    outs = {_dep_path(out): name for name, stage in stages.items() for out in stage.get("outs", [])}
    needed, frontier = {"report"}, ["report"]
    while frontier:
        for dep in stages[frontier.pop()].get("deps", []):
            path = Path(_dep_path(dep))
            for out, producer in outs.items():
                if producer not in needed and (path == Path(out) or Path(out) in path.parents):
                    needed.add(producer)
                    frontier.append(producer)
    return needed


def keep_report_stages(dvc_yaml: Path) -> None:
    import yaml

    pipeline = yaml.safe_load(dvc_yaml.read_text())
    keep = report_stages(pipeline["stages"])
    assert {"settings", "splits", "train", "align", "score", "probe", "report"} <= keep, keep
    pipeline["stages"] = {name: stage for name, stage in pipeline["stages"].items() if name in keep}
    dvc_yaml.write_text(yaml.safe_dump(pipeline, sort_keys=False))


def copy_project(dest: Path) -> None:
    """What a checkout holds that the pipeline and DVC need, with params.yaml's preset set to `test`."""
    dest.mkdir()
    for name in ("Snakefile", "params.yaml", "dvc.yaml", ".gitignore", "results/.gitignore"):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("workflow", "scripts", "src"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore, symlinks=True)
    for link in ("profiles", "slurm"):  # the workflow profile (applied without --profile) and the Slurm one
        (dest / link).symlink_to((REPO / link).readlink())
    (dest / ".dvc").mkdir()
    for name in ("config", ".gitignore"):
        shutil.copy(REPO / ".dvc" / name, dest / ".dvc" / name)
    params = (dest / "params.yaml").read_text()
    assert "\npreset: default\n" in params
    # The test preset as the root preset of this project: its files at the top (results/), as the default preset's
    # are in the repository, and dvc.yaml written for it, as a user who switches presets does (`sslmem dvc-yaml`).
    (dest / "params.yaml").write_text(params.replace("\npreset: default\n", "\npreset: test\nroot_preset: test\n"))
    run("sslmem", "--params", "params.yaml", "dvc-yaml", cwd=dest)
    keep_report_stages(dest / "dvc.yaml")


def snakemake(*args: str, cwd: Path) -> str:
    """The documented command; --config goes last (it takes every following word, targets included)."""
    return run("snakemake", "--profile", "workflow/profiles/default", "--cores", "all", *args, "--config", "preset=test",
               cwd=cwd)


@pytest.fixture(scope="module")
def published(tmp_path_factory, built_test_workflow) -> Path:
    """tmp/project: git repository after `dvc repro` + commit + `dvc push` to tmp/sslmem-dvc-remote.

    The project starts with the session's trained test-preset encoders (conftest.built_test_workflow: the same
    jobs, settings and commands, built by the fixture every end-to-end study test shares), copied with their
    times: `dvc repro` runs every stage's command, Snakemake finds the training done and computes the rest here,
    recording each job's settings (which `dvc exp run` below relies on). What this module tests is publishing and
    pulling, not training again (that cost CI about a minute)."""
    root = tmp_path_factory.mktemp("reviewer")
    project = root / "project"
    copy_project(project)
    for trained in ("splits", "training_sets", "checkpoints", "train_logs"):
        shutil.copytree(built_test_workflow / "runs/test/results" / trained, project / "results" / trained)
    run("git", "init", "-q", "-b", "main", cwd=project)
    run("git", "add", "-A", cwd=project)
    run("git", "commit", "-q", "-m", "project", cwd=project)
    out = run("dvc", "repro", cwd=project, timeout=1800)
    assert "Running stage 'report'" in out
    run("git", "add", "-A", cwd=project)
    run("git", "commit", "-q", "-m", "results", cwd=project)
    run("dvc", "push", cwd=project)
    assert (root / "sslmem-dvc-remote" / "files" / "md5").is_dir()  # the committed default remote
    return project


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def http_remote(published):
    """The DVC remote folder served read-only over HTTP on loopback; stopped at teardown."""
    port = free_port()
    log = open(published.parent / "http.log", "w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "--directory",
            str(published.parent / "sslmem-dvc-remote"),
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("the HTTP server did not start")
                time.sleep(0.2)
        yield {"url": f"http://127.0.0.1:{port}", "log": published.parent / "http.log"}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def clone_and_pull(published: Path, http_remote: dict, name: str, *targets: str) -> Path:
    clone = published.parent / name
    run("git", "clone", "-q", str(published), str(clone), cwd=published.parent)
    assert not (clone / ".snakemake").exists() and not (clone / "results/scores").exists()
    run("dvc", "remote", "add", "--local", "-d", "web", http_remote["url"], cwd=clone)
    run("dvc", "pull", *targets, cwd=clone)
    return clone


@pytest.fixture(scope="module")
def clone(published, http_remote) -> Path:
    return clone_and_pull(published, http_remote, "clone")


@needs_tools
@pytest.mark.reviewer
def test_pull_comes_over_http_and_restores_every_output(clone, http_remote):
    assert "GET /files/md5/" in http_remote["log"].read_text()
    for name in ("table1.csv", "table2.csv", "table16.csv", "subsets.csv", "fig2a.png", "fig2c.png", "metrics.json"):
        assert (clone / "results" / name).is_file(), name
    assert list((clone / "results/checkpoints").rglob("*.pt"))


@needs_tools
@pytest.mark.reviewer
def test_dvc_finds_nothing_to_do_in_the_clone(clone):
    assert "Data and pipelines are up to date" in run("dvc", "status", cwd=clone)
    out = run("dvc", "repro", cwd=clone)
    assert "Data and pipelines are up to date" in out and "Running stage" not in out


@needs_tools
@pytest.mark.reviewer
def test_snakemake_finds_nothing_to_do_after_touch(clone):
    """Plain `snakemake`, no flags: the workflow profile applies by itself, the preset is params.yaml's."""
    assert not (clone / ".snakemake").exists()
    run("snakemake", "--touch", cwd=clone)
    shutil.rmtree(clone / ".snakemake")  # the check does not rest on metadata that --touch may have written
    out = run("snakemake", "-n", cwd=clone)
    assert "workflow specific profile" in out and "Nothing to be done" in out, out[-3000:]
    assert "Data and pipelines are up to date" in run("dvc", "status", cwd=clone)


@needs_tools
@pytest.mark.reviewer
def test_report_from_pulled_results(clone):
    snakemake("--report", "report.html", cwd=clone)
    html = (clone / "report.html").read_text()
    from sslmem.studies.plugins import load_results

    for result in load_results().values():
        if not result.default:
            continue  # a study's results are in the report of its own target (rule all has them with in_all)
        assert f"{result.name}." in html, result.name  # each table and figure ...
        assert result.caption.split(";")[0][:60] in html, result.name  # ... with its caption
    assert "with preset" in html  # the front page, workflow/report/workflow.rst


@needs_tools
@pytest.mark.reviewer
def test_table2_from_pulled_scores_alone(published, http_remote):
    """Only results/scores pulled (no checkpoints, no alignments): table2 is rebuilt, nothing is retrained."""
    scores_only = clone_and_pull(published, http_remote, "scores-only", "results/scores")
    assert not (scores_only / "results/checkpoints").exists() and not (scores_only / "results/align").exists()
    (scores_only / "results/table2.csv").unlink()  # in git (cache: false): removed to be rebuilt
    dry = snakemake("-n", "results/table2.csv", cwd=scores_only)
    assert "rule table2" in dry and "rule train" not in dry and "rule align" not in dry, dry[-3000:]
    snakemake("results/table2.csv", cwd=scores_only)
    rebuilt = pd.read_csv(scores_only / "results/table2.csv")
    pd.testing.assert_frame_equal(rebuilt, pd.read_csv(published / "results/table2.csv"))
    assert not (scores_only / "results/checkpoints").exists()


def metrics_files(tree) -> list[dict]:
    """Every `results/metrics.json` payload in DVC's JSON output, wherever DVC nests it."""
    found = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "results/metrics.json" and isinstance(value, dict) and "data" in value:
                found.append(value["data"])
            else:
                found += metrics_files(value)
    elif isinstance(tree, list):
        for value in tree:
            found += metrics_files(value)
    return found


@needs_tools
@pytest.mark.reviewer
def test_clone_shows_results_in_git_and_dvc_metrics_and_plots(published, clone):
    import json

    # The small results are in git: a clone without any pull has them.
    tracked = run("git", "ls-files", "results", cwd=published).split()
    for name in ("results/table1.csv", "results/metrics.json", "results/training_fig.png"):
        assert name in tracked, name
    metrics = json.loads((clone / "results/metrics.json").read_text())
    shown = metrics_files(json.loads(run("dvc", "metrics", "show", "--json", cwd=clone)))
    assert shown == [metrics], shown
    setup = metrics["fashion_mnist"]["simclr-resnet18"]
    assert {"sslmem", "m_candidates_minus_shared", "p_SC_le_SS", "probe_top1", "knn_top1"} <= set(setup)
    plots = run("dvc", "plots", "show", "--json", cwd=clone)
    for name in ("training_curves.csv", "training_fig.png", "fig2c.png"):
        assert name in plots, name


@needs_tools
@pytest.mark.reviewer
def test_dvc_exp_compares_metrics_between_two_runs(published):
    """In the workspace that ran the pipeline (Snakemake's records of each job's settings are there): one knob
    changed with `dvc exp run -S`, and `dvc exp show` lists the baseline's and the experiment's metrics. Last in
    the file: the experiment changes that workspace."""
    import json

    out = run("dvc", "exp", "run", "-S", "presets.test.measure.num_views=2", cwd=published, timeout=1800)
    assert "Running stage 'align'" in out, out[-3000:]
    table = json.loads(run("dvc", "exp", "show", "--json", cwd=published))
    payloads = metrics_files(table)
    assert len(payloads) >= 2, table
    values = {json.dumps(payload, sort_keys=True) for payload in payloads}
    assert len(values) >= 2, "the experiment's metrics equal the baseline's"
