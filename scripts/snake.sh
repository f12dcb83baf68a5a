#!/usr/bin/env bash
# Run Snakemake on targets with the executor profile chosen by the environment, not by the command line:
# dvc.yaml's stage commands call this script, and DVC hashes those commands, so they must stay the same
# whether the jobs run here or on Slurm.  SSLMEM_PROFILE=slurm dvc repro   runs every stage on the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/snakemake ]; then
  export PATH="$PWD/.venv/bin:$PATH"
fi
case "${SSLMEM_PROFILE:-default}" in
  default) profile=workflow/profiles/default ;;
  slurm) profile=workflow/profiles/slurm ;;
  *) profile="$SSLMEM_PROFILE" ;;
esac
exec snakemake --profile "$profile" "$@"
