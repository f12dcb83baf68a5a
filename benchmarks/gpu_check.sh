#!/usr/bin/env bash
# The prepared GPU check: run it whenever a GPU is at hand (about 8 minutes on one H100) and put what it prints,
# with the GPU's name, in docs/cluster.md. It prints
#   1. training images/s of sslmem's step against a plain PyTorch loop of the same model and loss (ratio), and
#      scoring against the bare forward passes of as many views (ratio)          benchmarks/throughput.py
#   2. a DP-SGD step against an ordinary step of the same model and batch (ratio)  benchmarks/privacy_step.py
#   3. Table 2 at paper scale on the whole of Fashion-MNIST (preset gpu_check: S_C = S_I = 6000 points, three
#      f/g pairs), its p-values over points and over pairs                       snakemake results/table2.csv
#
#   bash benchmarks/gpu_check.sh            # on a GPU
#   bash benchmarks/gpu_check.sh --smoke    # the same steps on the CPU at toy sizes (the test preset): CI runs it
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
smoke=false
[ "${1:-}" = "--smoke" ] && smoke=true

if $smoke; then
  device=cpu preset=test
  throughput=(--device cpu --width 8 --image-size 28 --batch-size 32 --steps 3 --warmup 1 --score-points 64
              --score-batch 32 --repeats 1)
  privacy=(--device cpu --batch 8 --repeats 2)
else
  device=cuda preset=gpu_check
  python -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device: run with --smoke")'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  throughput=(--device cuda --width 64 --image-size 32 --batch-size 512 --steps 50 --warmup 5
              --score-points 20000 --score-batch 2048 --repeats 3)
  privacy=(--device cuda --batch 256 --repeats 10)
fi

echo "== 1. training and scoring throughput ($device)"
python benchmarks/throughput.py "${throughput[@]}"
echo "== 2. DP-SGD step vs ordinary step ($device)"
python benchmarks/privacy_step.py "${privacy[@]}"
echo "== 3. Table 2 on preset $preset (its files in $(python -c "from sslmem.artifacts import preset_root; print(preset_root('$preset'))")/)"
start=$(date +%s)
snakemake --profile workflow/profiles/default --cores all results/table2.csv --config preset="$preset" >/dev/null
echo "built in $(( $(date +%s) - start )) s"
python - "$preset" <<'PY'
import sys

import pandas as pd

from sslmem.artifacts import preset_root

table = pd.read_csv(f"{preset_root(sys.argv[1])}/results/table2.csv")
table = table[table["estimate"] == "ensemble"] if "estimate" in table else table
columns = [c for c in ("setup", "hypothesis", "n_1", "n_2", "p_value", "n_pairs", "pair_p", "mixed_p", "claim_holds")
           if c in table]
print(table[columns].to_string(index=False))
PY
