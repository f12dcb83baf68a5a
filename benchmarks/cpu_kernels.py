"""CPU kernels' cost (not a test): a small SimCLR ResNet and a small MAE ViT trained for two epochs in a fresh process
per `training.cpu_kernels` mode (sslmem.cpu_kernels; the variables are read when torch loads), one thread each.
Prints each mode's seconds, the hash of the trained weights (pinned modes: the numbers any CPU with that
instruction set gives; native: this CPU's own) and the ratio to native.

    .venv/bin/python benchmarks/cpu_kernels.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from sslmem.cpu_kernels import CPU_KERNELS

TRAIN = """
import hashlib, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
torch.set_num_threads(1)
from sslmem import io as sio
from sslmem.augment import AugmentSpec
from sslmem.training import TrainData, TrainingOptions, TrainingSpec, train_encoder
method = sys.argv[1]
if method == "simclr":
    arch, arch_cfg = "resnet18", {"width": 16}
    recipe = {"optimizer": "sgd", "lr": 0.05, "weight_decay": 1e-4, "temperature": 0.5, "projection_dim": 32,
              "projection_hidden_dim": 64, "augment": "simclr"}
else:
    arch, arch_cfg = "vit_tiny", {"patch_size": 7, "embed_dim": 64, "depth": 2, "heads": 2}
    recipe = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05, "betas": [0.9, 0.95], "mask_ratio": 0.75,
              "decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2, "norm_pix_loss": True, "augment": "mae"}
recipe.update(epochs=2, warmup_epochs=0, batch_size=32, momentum=0.9)
spec = TrainingSpec(method=method, recipe=recipe, arch=arch, arch_cfg=arch_cfg, image_size=28, seed=0, role="f",
                    augment=AugmentSpec(crop_scale=(0.2, 1.0), jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8,
                                        grayscale_p=0.2), mean=(0.5,) * 3, std=(0.25,) * 3)
images = torch.randint(0, 256, (256, 3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
folder = Path(tempfile.mkdtemp())
options = TrainingOptions(device=torch.device("cpu"), out_path=folder / "x.pt", resume_path=folder / "r.pt",
                          meta={"params_hash": "a", "split_hash": "b"}, progress=False)
started = time.perf_counter()
train_encoder(spec, TrainData(images, np.arange(256), labels=None), options)
seconds = time.perf_counter() - started
weights = sio.load_checkpoint(folder / "x.pt")["model"]
digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in weights.values())).hexdigest()[:12]
print(seconds, digest, torch.backends.cpu.get_cpu_capability())
"""


def run(method: str, mode: str) -> tuple[float, str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CPU_KERNELS["avx2"]}
    out = subprocess.run([sys.executable, "-c", TRAIN, method], env={**env, **CPU_KERNELS[mode], "OMP_NUM_THREADS": "1"},
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[-3]), out[-2], out[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for method in ("simclr", "mae"):
        native = None
        for mode in CPU_KERNELS:
            runs = [run(method, mode) for _ in range(args.repeats)]
            seconds = statistics.median(r[0] for r in runs)
            native = native or seconds
            digests = sorted({r[1] for r in runs})
            print(f"{method:6s} {mode:10s} (torch dispatch {runs[0][2]:7s}) {seconds:6.2f} s  weights {digests}  "
                  f"ratio to native {seconds / native:.2f}x")


if __name__ == "__main__":
    main()
