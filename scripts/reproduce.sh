#!/usr/bin/env bash
# The main job: set up (reusing what exists), then build every default target of the workflow with the
# preset named in params.yaml (default: the small CPU run on Fashion-MNIST). Extra arguments go to Snakemake,
# e.g. `bash scripts/reproduce.sh results/table2.csv` or `bash scripts/reproduce.sh --config preset=test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec snakemake --profile workflow/profiles/default --cores all "$@"
