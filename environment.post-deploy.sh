#!/usr/bin/env bash
# Run by Snakemake once in every conda environment it builds from environment.yml (`snakemake --sdm conda`;
# a file named <env>.post-deploy.sh beside the env file). The package itself is not installed into the
# environment (an editable install by a relative path breaks when Snakemake deploys the env elsewhere):
# this puts an `sslmem` command on the env's PATH that runs the package from the repository the job runs
# in, found by walking up from the job's working directory to the folder holding src/sslmem (the root for
# the default preset, two levels up from runs/<preset>/ for the others).
set -euo pipefail
: "${CONDA_PREFIX:?run inside the activated environment (Snakemake does)}"
cat > "$CONDA_PREFIX/bin/sslmem" <<'WRAPPER'
#!/usr/bin/env bash
dir=$PWD
while [ "$dir" != / ] && [ ! -f "$dir/src/sslmem/__init__.py" ]; do dir=$(dirname "$dir"); done
if [ ! -f "$dir/src/sslmem/__init__.py" ]; then
  echo "sslmem: no src/sslmem/ in $PWD or any folder above it; run jobs inside the sslmem repository" >&2
  exit 1
fi
PYTHONPATH="$dir/src${PYTHONPATH:+:$PYTHONPATH}" exec python -m sslmem.cli "$@"
WRAPPER
chmod +x "$CONDA_PREFIX/bin/sslmem"
