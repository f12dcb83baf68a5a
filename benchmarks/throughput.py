"""Throughput benchmarks (not tests): print ratios against plain PyTorch references measured in the same run.

1. Training: images/s of sslmem's training step (batched per-sample augmentation on the device + the method's
   loss) vs a plain reference loop of the same model and loss fed by torchvision transforms in a DataLoader
   (per-image augmentation). Target: ratio >= 1.0.
2. Scoring: time of `measure_alignment` vs the bare forward passes of the same number of views (inputs
   prepared beforehand). Target: ratio <= 1.2.
3. Peak memory (CUDA: max allocated; CPU: max resident set size).

    python benchmarks/throughput.py                     # CPU, small sizes
    python benchmarks/throughput.py --device cuda --batch-size 512 --image-size 32 --steps 50
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
import torch.nn.functional as F

from sslmem.augment import AugmentSpec, BatchAugment, make_generator
from sslmem.measures.alignment import measure_alignment
from sslmem.methods import build_method
from sslmem.models import build_encoder

SIMCLR_RECIPE = {"temperature": 0.5, "projection_dim": 128, "projection_hidden_dim": 512}
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_loader(images: torch.Tensor, batch_size: int, image_size: int):
    """torchvision's per-image SimCLR pipeline in a DataLoader, as a plain PyTorch project would write it."""
    from torchvision.transforms import v2

    transform = v2.Compose(
        [
            v2.ToDtype(torch.float32, scale=True),
            v2.RandomResizedCrop(image_size, scale=(0.08, 1.0), antialias=False),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
            v2.Normalize(MEAN, STD),
        ]
    )

    class TwoViews(torch.utils.data.Dataset):
        def __len__(self):
            return images.shape[0]

        def __getitem__(self, index):
            image = images[index]
            return transform(image), transform(image)

    return torch.utils.data.DataLoader(TwoViews(), batch_size=batch_size, shuffle=True, drop_last=True)


def train_throughput(args, device: torch.device) -> tuple[float, float]:
    images = torch.randint(0, 256, (args.batch_size * args.steps, 3, args.image_size, args.image_size), dtype=torch.uint8)

    def fresh_method():
        torch.manual_seed(0)
        encoder = build_encoder(args.arch, args.image_size, width=args.width)
        return build_method("simclr", encoder, SIMCLR_RECIPE).to(device)

    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    # Reference: per-image torchvision transforms on the CPU, batches moved to the device.
    method = fresh_method()
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1, momentum=0.9)
    loader = reference_loader(images, args.batch_size, args.image_size)
    seen, started = 0, None
    for step, (view1, view2) in enumerate(loader):
        if step == args.warmup:
            synchronize(device)
            started, seen = time.perf_counter(), 0
        view1, view2 = view1.to(device, non_blocking=True), view2.to(device, non_blocking=True)
        with autocast:
            loss = method.loss([view1, view2], None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += view1.shape[0]
    synchronize(device)
    reference = seen / (time.perf_counter() - started)

    # sslmem: the dataset lives on the device, augmentations are drawn per sample in batches there.
    method = fresh_method()
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1, momentum=0.9)
    augment = BatchAugment(AugmentSpec(), args.image_size, MEAN, STD)
    on_device = images.to(device)
    seen, started = 0, None
    for step in range(args.steps):
        if step == args.warmup:
            synchronize(device)
            started, seen = time.perf_counter(), 0
        index = torch.randint(0, on_device.shape[0], (args.batch_size,), device=device)
        generator = make_generator(device, 0, step)
        views = method.make_views(on_device[index], generator, augment)
        with autocast:
            loss = method.loss(views, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += args.batch_size
    synchronize(device)
    ours = seen / (time.perf_counter() - started)
    return ours, reference


@torch.no_grad()
def scoring_overhead(args, device: torch.device) -> tuple[float, float]:
    torch.manual_seed(0)
    encoder = build_encoder(args.arch, args.image_size, width=args.width).to(device).eval()
    images = torch.randint(0, 256, (args.score_points, 3, args.image_size, args.image_size), dtype=torch.uint8)
    augment = BatchAugment(AugmentSpec(), args.image_size, MEAN, STD)
    views = 5
    # Bare forward passes over the same number of already-prepared inputs.
    inputs = [
        torch.randn(views * min(args.score_batch, args.score_points - s), 3, args.image_size, args.image_size, device=device)
        for s in range(0, args.score_points, args.score_batch)
    ]
    def bare_forwards():
        for batch in inputs:
            F.normalize(encoder.representation(batch).float(), dim=1)

    def sslmem_scoring():
        measure_alignment(encoder.representation, images, augment, num_views=views, pairing="augmented-pairs",
                          batch_size=args.score_batch, seed=0, device=device)

    def timed(fn):
        synchronize(device)
        started = time.perf_counter()
        fn()
        synchronize(device)
        return time.perf_counter() - started

    encoder.representation(inputs[0])  # warm-up
    # Alternate the two and keep each one's best time: robust to other load on the machine.
    bare, scoring = float("inf"), float("inf")
    for _ in range(args.repeats):
        bare = min(bare, timed(bare_forwards))
        scoring = min(scoring, timed(sslmem_scoring))
    return scoring, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--score-points", type=int, default=1000)
    parser.add_argument("--score-batch", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3, help="scoring: alternate runs, keep the best of each")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; {args.arch} width {args.width}, {args.image_size}px, batch {args.batch_size}")

    ours, reference = train_throughput(args, device)
    print(f"train  sslmem {ours:9.1f} img/s | reference loop {reference:9.1f} img/s | ratio {ours / reference:5.2f}x  (target >= 1.0)")
    scoring, bare = scoring_overhead(args, device)
    print(f"score  sslmem {scoring:9.3f} s     | bare forwards  {bare:9.3f} s     | ratio {scoring / bare:5.2f}x  (target <= 1.2)")
    if device.type == "cuda":
        print(f"peak   {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB allocated on the GPU")
    else:
        print(f"peak   {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB resident (CPU)")


if __name__ == "__main__":
    main()
