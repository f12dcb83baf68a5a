"""Reliability of the per-point score per CPU-minute: which setting makes a point's score reproducible cheapest.

Each setting is the default preset with a few keys changed (pool size, epochs, width, views, representation,
rounds of halves, coupling); for each, the halves study (K = 2 x rounds encoders on random halves of the pool,
every pool point in half of them) runs in a temporary copy of the workflow, and the script prints from its
results/reliability.csv the split-half reliability of the trained points and of the placebo control, the mean
correlation between two single rounds, the rounds Spearman–Brown says would reach 0.7, and the CPU minutes the
jobs took (Snakemake's benchmark files): reliability per CPU-minute is the ratio to compare. A CSV with one row
per setting goes to --out.

Usage (repository root; each setting takes minutes on 2 cores):

    .venv/bin/python benchmarks/reliability_scale.py --out results/benchmarks/reliability_scale.csv \\
        --setting "default:" \\
        --setting "pool250-e200:splits.pool_size=250,methods.simclr.epochs=200,methods.simclr.warmup_epochs=10"

A setting is `name:key=value,...` with dotted keys into the default preset (values read as YAML); `rounds=R`
sets the number of pairs of halves (default 3). `--measure "name:measure.num_views=20"` (repeatable) scores
each setting's encoders again with measurement keys changed: nothing is retrained, so measurement variants
cost only their alignments.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from sslmem.io import atomic_to_csv

REPO = Path(__file__).resolve().parents[1]
# What a setting runs: the workflow, params.yaml and the sslmem sources, copied once when the script starts
# (snapshot()), so that editing the repository while the settings run (hours) changes none of them.
SOURCE = REPO
BIN = Path(sys.executable).parent
SETUP = "simclr-resnet18"


def parse_setting(text: str) -> tuple[str, dict]:
    name, _, assignments = text.partition(":")
    changes = {}
    for item in filter(None, assignments.split(",")):
        key, _, value = item.partition("=")
        changes[key.strip()] = yaml.safe_load(value)
    return name, changes


def put(tree: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[last] = value


def scale_params(changes: dict) -> dict:
    """params.yaml with preset `scale`: the default preset, the halves study alone on SimCLR, `changes` applied."""
    params = yaml.safe_load((SOURCE / "params.yaml").read_text())
    preset = copy.deepcopy(params["presets"]["default"])
    changes = dict(changes)
    rounds = int(changes.pop("rounds", 3))
    preset["studies"] = {
        "halves": {"seeds": []},
        # The halves study ranks what removal ranks; removal's own retrains are not built (study_halves only).
        "removal": {"seeds": list(range(rounds)), "runs": [{"setup": SETUP, "datasets": ["fashion_mnist"], "k": [1]}]},
        "coreset": {"runs": []},
    }
    for key, value in changes.items():
        put(preset, key, value)
    params["presets"]["scale"] = preset
    params["preset"] = "scale"
    return params


def cpu_minutes(results: Path) -> float:
    files = list((results / "benchmarks").rglob("*.tsv"))
    return sum(float(pd.read_csv(file, sep="\t")["cpu_time"].sum()) for file in files) / 60


def snapshot(into: Path) -> Path:
    """Copy what the settings run (Snakefile, workflow/, params.yaml, src/) into `into`; jobs import sslmem from
    the copy (PYTHONPATH comes before the editable install's path)."""
    for item in ("Snakefile", "params.yaml"):
        (into / item).write_bytes((REPO / item).read_bytes())
    for item in ("workflow", "src"):
        subprocess.run(["cp", "-r", str(REPO / item), str(into / item)], check=True)
    return into


def snakemake_halves(work: Path, params: dict, cores: int, name: str) -> None:
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", PYTHONPATH=str(SOURCE / "src"))
    done = subprocess.run(["snakemake", "--profile", "workflow/profiles/default", "--cores", str(cores),
                           "study_halves", "--config", "preset=scale"], cwd=work, env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"setting {name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def reliability_row(work: Path, name: str, changes: dict, wall: float) -> dict:
    table = pd.read_csv(work / "results/reliability.csv").set_index("points")
    return {
        "setting": name, "changes": ";".join(f"{k}={v}" for k, v in changes.items()),
        "encoders": int(table.loc["trained", "encoders"]), "n_points": int(table.loc["trained", "n_points"]),
        "r_one_round": table.loc["trained", "r_one_round"], "split_half_full": table.loc["trained", "split_half_full"],
        "control_r_one_round": table.loc["placebo", "r_one_round"],
        "control_split_half_full": table.loc["placebo", "split_half_full"],
        "rounds_for_0_7": table.loc["trained", "rounds_for_0_7"], "cpu_minutes": cpu_minutes(work / "results"),
        "wall_minutes": wall,
    }


def run_setting(name: str, changes: dict, measures: list[tuple[str, dict]], cores: int) -> list[dict]:
    """The setting's row, then one per measurement variant: the same encoders (training settings unchanged, so
    Snakemake retrains nothing) aligned and scored again with the variant's keys; its CPU minutes are the
    training's plus its own alignments' (each rerun job overwrites its benchmark file)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix=f"scale-{name}-") as tmp:
        work = Path(tmp)
        (work / "Snakefile").write_bytes((SOURCE / "Snakefile").read_bytes())
        subprocess.run(["cp", "-r", str(SOURCE / "workflow"), str(work / "workflow")], check=True)
        for variant, extra in [(name, {}), *((f"{name}+{m}", more) for m, more in measures)]:
            started = time.perf_counter()
            snakemake_halves(work, scale_params({**changes, **extra}), cores, variant)
            rows.append(reliability_row(work, variant, {**changes, **extra}, (time.perf_counter() - started) / 60))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", action="append", required=True, help="name:key=value,... (see the docstring)")
    parser.add_argument("--measure", action="append", default=[],
                        help="name:key=value,... a measurement variant (measure.* keys) run on each setting's encoders")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", default=None, help="CSV of the rows (appended to when it exists)")
    args = parser.parse_args()
    global SOURCE
    with tempfile.TemporaryDirectory(prefix="scale-source-") as source:
        SOURCE = snapshot(Path(source))
        for text in args.setting:
            name, changes = parse_setting(text)
            for row in run_setting(name, changes, [parse_setting(m) for m in args.measure], args.cores):
                report(row, args.out)


def report(row: dict, out: str | None) -> None:
    print(f"{row['setting']}: K={row['encoders']} r(one round) {row['r_one_round']:+.3f} "
          f"(control {row['control_r_one_round']:+.3f}), split-half (all) {row['split_half_full']:+.3f} "
          f"(control {row['control_split_half_full']:+.3f}), {row['cpu_minutes']:.1f} CPU min "
          f"-> r per CPU-minute {row['r_one_round'] / row['cpu_minutes']:+.4f}", flush=True)
    if out:
        path = Path(out)
        previous = pd.read_csv(path) if path.exists() else None
        frame = pd.concat([previous, pd.DataFrame([row])]) if previous is not None else pd.DataFrame([row])
        atomic_to_csv(frame, path)


if __name__ == "__main__":
    main()
