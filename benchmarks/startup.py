"""A job's fixed cost: how long the workflow's jobs take before doing any work, measured here.

Every Snakemake job is one `sslmem <verb>` process, so its start-up (imports, loading and validating params.yaml)
is paid by each of the run's ~80 jobs, and once more by every `snakemake` invocation that plans the DAG. Prints
the median wall time of each command over --repeats runs and its ratio to the target:

* `sslmem check` (always validates the whole params.yaml; no target, shown for reference);
* one table job, `sslmem report table2` on score files (target: under 2 s);
* `snakemake -n` with nothing to do (target: under 5 s; run it after the workflow has finished).

Usage (repository root, after a run of the workflow so that results/scores exists):

    .venv/bin/python benchmarks/startup.py [--repeats 5] [--preset default]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(command: list[str], repeats: int) -> float:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--preset", default=None, help="preset (default: params.yaml's)")
    args = parser.parse_args()
    preset = ["--preset", args.preset] if args.preset else []
    scores = sorted(str(path.relative_to(REPO)) for path in (REPO / "results/scores").rglob("*.parquet"))
    if not scores:
        raise SystemExit("no results/scores/**/*.parquet: run the workflow first (bash scripts/reproduce.sh)")
    out = str(Path(tempfile.mkdtemp(prefix="sslmem-startup-")) / "table2.csv")  # never over results/
    rows = [
        ("sslmem check", ["sslmem", *preset, "check"], None),
        ("table job (sslmem report table2)",
         ["sslmem", *preset, "report", "table2", "--input", "score_paths", *scores, "--out", out], 2.0),
        ("snakemake -n (nothing to do)",
         ["snakemake", "--profile", "workflow/profiles/default", "-n", "-q", "rules",
          *(["--config", f"preset={args.preset}"] if args.preset else [])], 5.0),
    ]
    print(f"{'command':40s} {'median s':>9s} {'target s':>9s} {'ratio':>7s}   ({args.repeats} runs, {os.cpu_count()} cpus)")
    for label, command, target in rows:
        seconds = timed(command, args.repeats)
        ratio = f"{seconds / target:7.2f}" if target else "      -"
        print(f"{label:40s} {seconds:9.2f} {target or float('nan'):9.1f} {ratio}")


if __name__ == "__main__":
    main()
