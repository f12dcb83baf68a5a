#!/usr/bin/env bash
# Run Snakemake on targets with the executor profile chosen by the environment, not by the command line:
# dvc.yaml's stage commands call this script, and DVC hashes those commands, so they must stay the same
# whether the jobs run here or on Slurm.  SSLMEM_PROFILE=slurm dvc repro   runs every stage on the cluster.
# The preset is always params.yaml's (what DVC tracks), also under the slurm profile, whose own default is
# the paper preset.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/snakemake ]; then
  export PATH="$PWD/.venv/bin:$PATH"
fi
# The workflow's default profile (workflow/profiles/default) applies without a flag; an executor profile
# adds to it.
case "${SSLMEM_PROFILE:-default}" in
  default) profile=(--cores all) ;;   # local: all cores (the workflow profile sets none, see its comment)
  slurm) profile=(--profile workflow/profiles/slurm) ;;
  *) profile=(--profile "$SSLMEM_PROFILE") ;;
esac
preset=$(python -c 'import yaml; print(yaml.safe_load(open("params.yaml"))["preset"])')
# --config must come last: it takes every following word as a setting.
exec snakemake "${profile[@]}" "$@" --config preset="$preset"
