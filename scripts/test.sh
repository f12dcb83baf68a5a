#!/usr/bin/env bash
# The tests: set up (reusing what exists), then run pytest on every core, one test file per worker
# (pytest-xdist, --dist loadfile: a file's module fixtures and its order stay in one process; the end-to-end
# tests spend much of their time waiting on Snakemake's subprocesses, which another file's tests fill).
# Extra arguments go to pytest, e.g. `-m slow`, or `-n 0` for one process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec python -m pytest -n auto --dist loadfile "$@"
