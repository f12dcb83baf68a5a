"""``sslmem plan``: what each target costs before anything is submitted — its encoders (training jobs), all its
jobs, the images its training passes through (epochs × training-set size), and, given measured throughput per
(method, arch), the device-hours of its training.

Throughput comes from a CSV with columns method, arch, images_per_second (a row per pair, or the training logs'
rows, e.g. results/training_curves.csv: measured on the machine and at the sizes that trained them); without one
only the counts and images are printed. A (method, arch) the file does not have leaves its target's hours unknown.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sslmem.plan.resolve import Job, Resolver

TRAIN_VERB = "train"


@dataclass(frozen=True)
class TargetCost:
    target: str
    jobs: int
    encoders: int
    train_images: int | None  # None when a training set's size is known only from the files
    hours: float | None


def training_set_size(settings: Mapping, recipe, dataset: str, setup: str) -> int | None:
    """Points in a training set, from its recipe and the split sizes the settings give (None: unknown)."""
    from sslmem.studies import overlap

    core = overlap.core_sizes(settings, dataset)
    if recipe.kind == "protocol":
        if "studies/overlap/" in recipe.inputs.get("split", ""):
            return overlap.split_sizes_of(settings, dataset, setup).f_size
        return None if core is None else core.f_size
    if core is None:
        return None
    half = core.pool // 2
    if recipe.kind == "half":
        return half
    if recipe.kind == "drop":
        return half - int(recipe.options["count"])
    if recipe.kind == "keep":
        return int(round(float(recipe.options["fraction"]) * half))
    return None


def _encoder_images(plan, job: Job) -> int | None:
    from sslmem.config import setup_recipe

    wildcards = dict(job.wildcards)
    study = wildcards.get("study") or ("dynamics" if job.name == "dynamics_train" else None)
    w = type("W", (), wildcards)()
    recipe = plan.runs.training_set_recipe(w, study)
    size = training_set_size(plan.settings, recipe, wildcards["dataset"], wildcards["setup"])
    epochs = setup_recipe(plan.settings, wildcards["setup"])["epochs"]
    return None if size is None else size * int(epochs)


def read_throughput(path: str | None) -> dict[tuple[str, str], float]:
    """(method, arch) → training images/s, from a CSV with columns method, arch, images_per_second: one row per
    pair, or many (results/training_curves.csv: one per encoder and epoch), averaged."""
    if not path:
        return {}
    rates: dict[tuple[str, str], list[float]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("images_per_second") not in (None, "", "nan"):
                rates.setdefault((row["method"], row["arch"]), []).append(float(row["images_per_second"]))
    return {key: sum(values) / len(values) for key, values in rates.items()}


def target_cost(plan, resolver: Resolver, target: str, throughput: Mapping) -> TargetCost:
    from sslmem.config import find_setup

    # A named target, a registered result by its name (also a Snakemake rule), or a file.
    files = plan.targets.get(target) or ([plan.results[target].path] if target in plan.results else [target])
    jobs = resolver.jobs(files)
    trains = [job for job in jobs if job.kind.verb == TRAIN_VERB]
    images, seconds = 0, 0.0
    for job in trains:
        count = _encoder_images(plan, job)
        if count is None:
            images = None
            break
        images += count
        entry = find_setup(plan.settings, dict(job.wildcards)["setup"])
        rate = throughput.get((entry["method"], entry["arch"]))
        seconds = None if (seconds is None or rate is None) else seconds + count / rate
    hours = None if (not throughput or seconds is None or images is None) else seconds / 3600
    return TargetCost(target, len(jobs), len(trains), images, hours)


def print_plan(settings: Mapping, targets: Sequence[str], throughput_csv: str | None) -> None:
    from sslmem import plan as plans

    plan = plans.build(settings)
    resolver = Resolver(plan.kinds)
    throughput = read_throughput(throughput_csv)
    names = list(targets) or list(plan.targets)
    unknown = [name for name in names
               if name not in plan.targets and name not in plan.results and resolver.producer(name) is None]
    if unknown:
        from sslmem.config import ConfigError

        raise ConfigError(f"sslmem plan: {unknown} is neither a target ({sorted(plan.targets)}) nor a result "
                          f"(e.g. table1) nor a file a job of preset {plan.preset!r} makes (e.g. results/table1.csv)")
    print(f"preset {plan.preset!r}: {'throughput from ' + throughput_csv if throughput else 'no throughput file'}")
    print(f"{'target':<24} {'jobs':>6} {'encoders':>9} {'training images':>16} {'device-hours':>13}")
    for name in names:
        cost = target_cost(plan, resolver, name, throughput)
        images = "unknown" if cost.train_images is None else f"{cost.train_images:,}"
        hours = "-" if cost.hours is None else f"{cost.hours:,.1f}"
        print(f"{name:<24} {cost.jobs:>6} {cost.encoders:>9} {images:>16} {hours:>13}")
