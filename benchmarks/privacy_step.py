"""DP-SGD's cost: one private training step against the ordinary step of the same model and batch, in one run.

Both steps train the same MAE (the preset's recipe and backbone) on the same batch of random images: the ordinary
step is the loop's batch loss and backward(); the private one computes every sample's gradient (vmap, in physical
batches of privacy.max_physical_batch_size), lets opacus' DPOptimizer clip each to the clipping norm and add noise,
then steps. Prints the median step time of each over --repeats steps (after one warm-up step), the peak memory of
each (CUDA: torch.cuda.max_memory_allocated; CPU: the growth of the process's peak RSS, a coarse bound) and the
ratios private / ordinary. Goal on a GPU: a ratio of at most 2. A third row times the private step with opacus'
secure noise (privacy.secure_mode), and its ratio to the ordinary private step.

Usage (repository root):

    .venv/bin/python benchmarks/privacy_step.py [--preset default] [--device cpu] [--batch 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from sslmem import config as sconfig
from sslmem.plan import load_settings
from sslmem.augment import AugmentSpec, BatchAugment, make_generator
from sslmem.models import build_encoder
from sslmem.training.optim import optimizer_for_recipe
from sslmem.training.privacy import PrivacySettings, build_method_for_recipe, per_sample_gradients


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(settings, device, privacy: dict | None):
    recipe = dict(sconfig.setup_recipe(settings, "mae-vit_tiny"))
    recipe.pop("privacy", None)
    if privacy:
        recipe["privacy"] = privacy
    torch.manual_seed(0)
    encoder = build_encoder("vit_tiny", image_size=28, **sconfig.arch_options(settings, "vit_tiny", "fashion_mnist"))
    method = build_method_for_recipe("mae", encoder, recipe).to(device)
    return method, optimizer_for_recipe(method, recipe), recipe


def timed_steps(step, repeats: int, device) -> tuple[float, float]:
    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = peak_rss_mb()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    memory = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else peak_rss_mb() - rss_before
    return statistics.median(seconds), memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(1) if device.type == "cpu" else None
    settings = load_settings("params.yaml", preset=args.preset, check_roots=False)
    study = settings["studies"]["privacy"]
    privacy = {"epsilon": 8.0, **{key: study[key] for key in
                                  ("delta", "max_grad_norm", "accountant", "noise_seed", "max_physical_batch_size")}}
    images = torch.randint(0, 256, (args.batch, 3, 28, 28), dtype=torch.uint8, device=device)
    augment = BatchAugment(AugmentSpec.from_settings(settings["augmentations"]["mae"]), 28, (0.5,) * 3, (0.25,) * 3)
    generator = make_generator(device, 0)

    method, optimizer, _ = build(settings, device, None)

    def ordinary_step():
        views = method.make_views(images, generator, augment)
        optimizer.zero_grad(set_to_none=True)
        method.loss_per_sample(views, generator).mean().backward()
        optimizer.step()

    private_method, private_base, recipe = build(settings, device, privacy)
    from opacus.optimizers import DPOptimizer

    dp_optimizer = DPOptimizer(private_base, noise_multiplier=1.0, max_grad_norm=privacy["max_grad_norm"],
                               expected_batch_size=args.batch)
    physical = PrivacySettings.from_recipe(privacy).max_physical_batch_size
    parameters = {name: p for name, p in private_method.named_parameters() if p.requires_grad}

    # privacy.secure_mode: opacus' secure noise (four draws per coordinate), seeded from OS entropy each step.
    secure_optimizer = DPOptimizer(optimizer_for_recipe(private_method, recipe), noise_multiplier=1.0,
                                   max_grad_norm=privacy["max_grad_norm"], expected_batch_size=args.batch,
                                   secure_mode=True)

    def private_step(dp_optimizer=dp_optimizer):
        views = private_method.make_views(images, generator, augment)
        noise = private_method.draw_randomness(views, generator)
        dp_optimizer.zero_grad(set_to_none=True)
        for start in range(0, args.batch, physical):
            part = slice(start, start + physical)
            grads, _ = per_sample_gradients(private_method, [v[part] for v in views], noise[part], {})
            for name, p in parameters.items():
                p.grad_sample = grads[name] if getattr(p, "grad_sample", None) is None else torch.cat(
                    [p.grad_sample, grads[name]])
        dp_optimizer.step()

    ordinary_s, ordinary_mb = timed_steps(ordinary_step, args.repeats, device)
    private_s, private_mb = timed_steps(private_step, args.repeats, device)
    secure_s, _ = timed_steps(lambda: private_step(secure_optimizer), args.repeats, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"device: {name}; MAE vit_tiny ({args.preset} preset), batch {args.batch}, physical {physical}")
    print(f"ordinary step: {ordinary_s * 1000:.1f} ms, peak memory +{ordinary_mb:.0f} MiB")
    print(f"private step:  {private_s * 1000:.1f} ms, peak memory +{private_mb:.0f} MiB")
    print(f"ratio private/ordinary: time {private_s / ordinary_s:.2f}x (goal on a GPU: <= 2), "
          f"memory {private_mb / max(ordinary_mb, 1e-9):.2f}x")
    print(f"secure-mode step: {secure_s * 1000:.1f} ms; ratio secure/private: time {secure_s / private_s:.2f}x")


if __name__ == "__main__":
    main()
