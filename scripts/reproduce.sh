#!/usr/bin/env bash
# The main job, which checks itself: set up (reusing what exists), recompute the default preset (the root preset,
# whose results are committed in results/) in a folder of its own, runs/reproduce/, with the repository's Snakefile
# and a copy of params.yaml (the same jobs, the same commands), then compare every number of the committed tables
# with the recomputed ones (`sslmem verify`), print the verdict and write it to runs/reproduce/verification.csv (one
# row per table) and verification.txt. The committed results/ are read, never written.
# Exit status: 0 when every recomputed number is identical or within report.verify_tolerance, 1 otherwise.
#
#   bash scripts/reproduce.sh                  the check: every default target (~15 CPU-minutes on 2 cores)
#   bash scripts/reproduce.sh study_privacy    the same plus other targets (extra arguments go to Snakemake)
#   bash scripts/reproduce.sh -n               what the check would run (a dry run: no verdict)
#   bash scripts/reproduce.sh --incremental    daily work: what is missing or stale, for params.yaml's preset (the
#                                              default's in results/), no check; e.g. `--incremental
#                                              results/table2.csv` or `--incremental --config preset=test`
# A second check reuses what the first recomputed in runs/reproduce/ where nothing it depends on changed; delete
# runs/reproduce/ to recompute everything.
set -euo pipefail
cd "$(dirname "$0")/.."
incremental=false
dry_run=false
snakemake_args=()
for arg in "$@"; do
  case "$arg" in
    --incremental) incremental=true ;;
    -n|--dry-run|--dryrun) dry_run=true; snakemake_args+=("$arg") ;;
    *) snakemake_args+=("$arg") ;;
  esac
done
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
if [ "$incremental" = true ]; then
  exec snakemake --profile workflow/profiles/default --cores all ${snakemake_args[@]+"${snakemake_args[@]}"}
fi

repo=$PWD
work=runs/reproduce
root_preset=$(python -c 'import yaml; print(yaml.safe_load(open("params.yaml")).get("root_preset", "default"))')
mkdir -p "$work"
cp params.yaml "$work/params.yaml"
# Relative dataset roots of params.yaml stay relative to the repository (sslmem.data.catalog.resolve_root).
# --config goes last: it takes every following word as a setting.
(cd "$work" && SSLMEM_PROJECT_DIR="$repo" snakemake --snakefile "$repo/Snakefile" \
  --profile "$repo/workflow/profiles/default" --cores all ${snakemake_args[@]+"${snakemake_args[@]}"} \
  --config preset="$root_preset")
if [ "$dry_run" = true ]; then
  echo "[reproduce] dry run: nothing recomputed, so nothing verified"
  exit 0
fi
exec sslmem --preset "$root_preset" verify --reference results --candidate "$work/results" \
  --out "$work/verification.csv"
