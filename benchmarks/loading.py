"""Loading benchmark (not a test): peak memory and images/s of one training epoch read from an image folder.

Writes a synthetic ImageNet-style folder (`train/<class>/<name>.JPEG`, small JPEGs of smooth colour gradients
with noise) of each size, then, for each size in a fresh Python process (so that each peak is its own), loads
the split as the workflow does (`load_split("image_folder", ...)`: the file table only), and runs one epoch as
the training loop reads it: the default sampler's batches (`ShuffledBatches`), each batch decoded by index
(`images[slots]`, DataLoader workers: `data.loader_workers` of params.yaml unless --workers), then SimCLR's
training augmentation (two views, on the main process, from the step's generator, as `train_step` draws them).

Peak memory is sampled every 0.1 s over the process and its DataLoader workers: the sum of their proportional
set sizes (PSS: a page shared by n processes counts 1/n; what the node actually holds) and, for reference, the
sum of their resident set sizes (RSS counts shared pages in every process). The last line is the ratio of the
peaks of the largest and the smallest folder: reading by index keeps it near 1 (the file table grows by tens of
bytes per image); `--eager` adds rows that first decode the whole split into one tensor (what the loader did
before), whose memory grows with the folder.

After each step the measured process hands its freed heap memory back to the system (glibc's malloc_trim;
`--malloc trim`, the default). Without it (`--malloc default`) glibc, having raised its mmap threshold after the
first large free, serves the augmentation's float tensors (13 MB each at batch 256 and 64 px, a few dozen per
step, on the CPU here) from its heap, whose resident high-water mark drifts from step to step: a peak that
grows with the number of steps run, whatever reads the images (an in-memory tensor too), and that is noise for
this comparison. `--malloc mmap` fixes the threshold instead (MALLOC_MMAP_THRESHOLD_=1 MiB: each large tensor
mapped and unmapped; the same peaks, much more system time).

    python benchmarks/loading.py --sizes 20000 40000
    python benchmarks/loading.py --sizes 20000 40000 --workers 2 --eager
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

CLASSES = 100


def write_folder(root: Path, count: int, width: int, height: int, reuse: Path | None = None) -> None:
    """`count` JPEGs in `root/train/<class>/`, spread over CLASSES classes; files already written under `reuse`
    (a larger folder of the same images) are hard-linked instead of written again."""
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for index in range(count):
        class_dir = root / "train" / f"n{index % CLASSES:08d}"
        if index < CLASSES:
            class_dir.mkdir(parents=True, exist_ok=True)
        path = class_dir / f"img_{index:07d}.JPEG"
        source = reuse / "train" / class_dir.name / path.name if reuse is not None else None
        if source is not None and source.exists():
            os.link(source, path)
            continue
        a, b, c = rng.uniform(0, 255, 3)
        base = np.stack([(x * a / width + b) % 256, (y * b / height + c) % 256, (x + y + a) % 256], axis=-1)
        pixels = np.clip(base + rng.normal(0, 12, base.shape).astype(np.float32), 0, 255).astype(np.uint8)
        Image.fromarray(pixels, "RGB").save(path, quality=90)


class PeakMemory:
    """Samples the memory of this process and its children (the DataLoader workers) in a thread."""

    def __init__(self, interval: float = 0.1):
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak_pss = self.peak_rss = 0
        self.peak_processes = 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        import psutil

        pss = rss = 0
        processes = [self.process, *self.process.children(recursive=True)]
        for process in processes:
            try:
                info = process.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            pss += getattr(info, "pss", info.rss)
            rss += info.rss
        self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
        self.peak_processes = max(self.peak_processes, len(processes))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()


def heap_trimmer():
    """glibc's malloc_trim(0) (give freed heap memory back to the system), or a no-op elsewhere."""
    import ctypes
    import ctypes.util

    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0)


def child(args: argparse.Namespace) -> dict:
    """One size, in its own process: load the split, one epoch of reading + augmentation; numbers as JSON."""
    import torch

    from sslmem.augment import AugmentSpec, BatchAugment, make_generator
    from sslmem.data.datasets import load_split
    from sslmem.training.data import ShuffledBatches

    torch.set_num_threads(args.threads)
    trim = heap_trimmer() if args.malloc == "trim" else (lambda: None)
    with PeakMemory() as memory:
        started = time.perf_counter()
        split = load_split("image_folder", args.root, "train", image_size=args.image_size, num_workers=args.workers)
        listed = time.perf_counter() - started
        augment = BatchAugment(AugmentSpec.from_settings(args.augmentation), args.image_size,
                               split.info.mean, split.info.std)
        device = torch.device("cpu")
        batches = ShuffledBatches(len(split), args.batch_size, (0,), device)
        seen, checksum = 0, 0.0
        epoch_started = time.perf_counter()
        images = split.images[:] if args.eager else split.images  # --eager: the whole split decoded first, as before
        for batch_index, slots in enumerate(batches(0)):
            batch = images[slots]
            generator = make_generator(device, 0, 0, batch_index)
            views = [augment(batch, generator) for _ in range(2)]  # SimCLR's two views, as train_step draws them
            checksum += float(views[0][:, :, 0, 0].sum())
            seen += len(slots)
            del batch, views
            trim()
        epoch = time.perf_counter() - epoch_started
    return {
        "images": len(split), "listed_s": listed, "decoded_whole": args.eager, "epoch_s": epoch,
        "images_per_s": seen / epoch, "peak_pss_mb": memory.peak_pss / 2**20, "peak_rss_mb": memory.peak_rss / 2**20,
        "processes": memory.peak_processes,
        "maxrss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10,
        "resident_table_kb": split.images.resident_bytes / 2**10, "checksum": checksum,
    }


def run_size(args: argparse.Namespace, root: Path, eager: bool) -> dict:
    command = [sys.executable, __file__, "--child", "--root", str(root), "--image-size", str(args.image_size),
               "--batch-size", str(args.batch_size), "--threads", str(args.threads),
               "--augmentation", json.dumps(args.augmentation)]
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    if eager:
        command.append("--eager")
    command += ["--malloc", args.malloc]
    env = dict(os.environ)
    if args.malloc == "mmap":
        env["MALLOC_MMAP_THRESHOLD_"] = str(2**20)
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def settings_defaults() -> tuple[int, dict]:
    """data.loader_workers and the simclr augmentation of params.yaml's default preset."""
    from sslmem.config import load

    settings = load(Path(__file__).resolve().parents[1] / "params.yaml", check_roots=False)
    return settings["data"]["loader_workers"], settings["augmentations"]["simclr"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 40000])
    parser.add_argument("--image-size", type=int, default=64, help="side of the decoded (and augmented) images")
    parser.add_argument("--file-size", type=int, nargs=2, default=[80, 64], metavar=("WIDTH", "HEIGHT"),
                        help="size of the JPEG files (resized and centre-cropped to --image-size when read)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: data.loader_workers)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the main process (augmentation)")
    parser.add_argument("--eager", action="store_true",
                        help="also rows that decode each split whole first, as the loader did (timed in the epoch)")
    parser.add_argument("--malloc", choices=["trim", "default", "mmap"], default="trim",
                        help="glibc heap handling in the measured processes (see the module docstring)")
    parser.add_argument("--keep", type=Path, default=None, help="write the folders here and keep them")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--augmentation", type=json.loads, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    workers, augmentation = settings_defaults()
    args.workers = workers if args.workers is None else args.workers
    args.augmentation = augmentation
    base = args.keep or Path(tempfile.mkdtemp(prefix="sslmem-loading-"))
    sizes = sorted(set(args.sizes))
    roots = {size: base / f"folder_{size}" for size in sizes}
    started = time.perf_counter()
    largest = sizes[-1]
    for size in reversed(sizes):  # the largest first: the smaller ones hard-link its files
        if not (roots[size] / "train").is_dir():
            write_folder(roots[size], size, *args.file_size, reuse=None if size == largest else roots[largest])
    print(f"folders: {', '.join(str(roots[size]) for size in sizes)} ({args.file_size[0]}x{args.file_size[1]} JPEGs, "
          f"{CLASSES} classes; written in {time.perf_counter() - started:.0f} s)")
    print(f"one epoch: batch {args.batch_size}, decoded to {args.image_size} px, SimCLR augmentation x2 views, "
          f"{args.workers} DataLoader workers, {args.threads} torch thread(s), cpu count {os.cpu_count()}, "
          f"--malloc {args.malloc}")
    modes = [False, True] if args.eager else [False]
    rows = {(size, eager): run_size(args, roots[size], eager) for eager in modes for size in sizes}

    header = (f"{'mode':<16}{'images':>8}{'peak PSS MB':>13}{'peak RSS MB':>13}{'processes':>11}"
              f"{'table KB':>10}{'list s':>8}{'epoch s':>9}{'images/s':>10}")
    print(header)
    print("-" * len(header))
    for (size, eager), row in rows.items():
        mode = "decoded whole" if eager else "by index"
        print(f"{mode:<16}{row['images']:>8}{row['peak_pss_mb']:>13.0f}{row['peak_rss_mb']:>13.0f}"
              f"{row['processes']:>11}{row['resident_table_kb']:>10.0f}{row['listed_s']:>8.1f}{row['epoch_s']:>9.1f}"
              f"{row['images_per_s']:>10.0f}")
    for eager in modes:
        small, large = rows[(sizes[0], eager)], rows[(largest, eager)]
        mode = "decoded whole" if eager else "by index"
        ratio = large["peak_pss_mb"] / small["peak_pss_mb"]
        print(f"{mode}: peak memory {largest}/{sizes[0]} images: PSS x{ratio:.3f}, "
              f"RSS x{large['peak_rss_mb'] / small['peak_rss_mb']:.3f}")
    if args.keep is None:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
