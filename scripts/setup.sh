#!/usr/bin/env bash
# Set up everything the workflow and the tests need, reusing what is already there:
#   1. a Python 3.11 virtual environment in .venv with torch 2.14.1 + torchvision 0.29.1 and this package
#      (pinned in pyproject.toml, exact versions from requirements.lock), re-installed only when either changes;
#   2. the default dataset, Fashion-MNIST, from Debian's package dataset-fashion-mnist (no download at run time).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "[setup] Python 3.11 is required (torch 2.14.1 wheels on this machine are for 3.11); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
VENV=.venv
STAMP="$VENV/.sslmem-installed"
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing torch 2.14.1, torchvision 0.29.1 and sslmem[test] into $VENV (first time: several minutes)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -c requirements.lock "torch==2.14.1" "torchvision==0.29.1" 2>&1 \
    | grep -v "^WARNING: Location" || true
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -c requirements.lock -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import torch, torchvision, timm, snakemake, dvc, sslmem" \
    || { echo "[setup] install failed: see pip's output above" >&2; exit 1; }
  echo "$want" > "$STAMP"
else
  echo "[setup] $VENV is up to date"
fi

FMNIST=/usr/share/datasets/fashion-mnist
if [ ! -f "$FMNIST/train-images-idx3-ubyte.gz" ]; then
  echo "[setup] installing Debian package dataset-fashion-mnist (Fashion-MNIST into $FMNIST)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if ! { $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
         || { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; }; then
    echo "[setup] could not install dataset-fashion-mnist; install it, or put the four IDX files of" >&2
    echo "        Fashion-MNIST in a folder and set data.roots.fashion_mnist in params.yaml" >&2
    exit 1
  fi
fi
echo "[setup] ready"
