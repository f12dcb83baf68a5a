"""Cross-stage sizes: a size of params.yaml that a later stage draws from a subset of the split must fit in that
subset, and is checked when the settings are loaded, not by the align job after every encoder has trained.

Checked here, against the sizes the split stage will draw (:mod:`~sslmem.config.rules.subsets`):

- measure.shared_sample (null: |S_C|) against |S_S| of every split an align job samples: the core split of each
  dataset encoders are aligned on, and each overlap level's own split (align draws that many S_S points without
  replacement);
- measure.unitmem.subset: its scored points (of S_S: the shared sample) number at least 2, since UnitMem compares a
  unit's most activating point with the others;
- studies.planted.count against |S_E| (as many unseen control images go there) and against the source split
  (2 x count distinct images are drawn from it).

Checked by other rules: splits.pool_size and splits.counts against the pool split, splits.extra_size against the
test split (:mod:`.splits`); report.table4.public_size and report.classmem.points_per_class (:mod:`.report`);
studies.removal.k, studies.planted.count < |S_C| and the overlap levels' own subsets (the study modules' rules).
Not checked: sizes of image_folder's subsets when splits.pool_size is null (only the folder tells: the split stage
checks them), the classes' sizes in a drawn split (the classmem job checks them before any forward pass), and
sizes a stage clips to what there is (probe.train_size and test_size, report.table12.top_k, the galleries' sizes,
a training batch larger than its training set).
"""

from __future__ import annotations

from typing import Mapping

from sslmem.config.base import ConfigError
from sslmem.config.plan import experiment_runs
from sslmem.config.registry import cross_field_rule
from sslmem.config.rules.setups import STUDIES_FOR_STUDIES_ONLY
from sslmem.config.rules.subsets import SubsetSizes, core_sizes, level_sizes, preset_of, split_size, split_subsets

# What makes a subset's scored points more, for the unitmem message.
_ENLARGE = {"S_S": "measure.shared_sample", "S_C": "splits.fractions or splits.counts",
            "S_I": "splits.fractions or splits.counts", "S_E": "splits.extra_size"}


@cross_field_rule
def check_scored_subsets(settings: Mapping) -> None:
    """measure.shared_sample fits in S_S, and measure.unitmem.subset holds 2 scored points or more, in every split
    an align job scores."""
    for sizes in _aligned_splits(settings):
        _check_shared_sample(settings, sizes)
        _check_unitmem_subset(settings, sizes)


@cross_field_rule
def check_planted_sizes(settings: Mapping) -> None:
    """studies.planted.count: as many unseen control images as planted ones go to S_E (so fewer than |S_E|), and
    2 x count distinct images come from the source split."""
    planted = settings["studies"].get("planted")
    if not planted or not planted["runs"]:
        return
    count, source, source_split = planted["count"], planted["source"]["dataset"], planted["source"]["split"]
    available = split_size(source, source_split)
    if available is not None and 2 * count > available:
        raise ConfigError(f"studies.planted.count: {count} planted images and as many controls are {2 * count} "
                          f"distinct images of the {source_split!r} split of {source}, which has {available} "
                          f"({preset_of(settings)}); use at most {available // 2}")
    datasets = {dataset for run in planted["runs"] for dataset in run["datasets"]}
    for dataset in (d for d in settings["experiment"]["datasets"] if d in datasets):
        sizes = split_subsets(settings, dataset)
        if sizes is None or count >= sizes.candidate:
            continue  # unknown sizes; or too many for S_C, which the planted study's own rule names
        if count >= sizes.extra:
            raise ConfigError(f"studies.planted.count: {count} unseen control images go to S_E, but |S_E| = "
                              f"{sizes.extra} on {dataset} in {preset_of(settings)}; use fewer than {sizes.extra}, or "
                              f"a larger S_E (splits.extra_size). {sizes.note()}")


def _aligned_splits(settings: Mapping) -> list[SubsetSizes]:
    """Every split whose scored points an align job samples: the core split of each dataset a core encoder or a
    scored study aligns on, then each overlap level's split."""
    aligned = {run.dataset for run in experiment_runs(settings)}
    for study, config in settings["studies"].items():
        # removal, coreset and halves align on the whole pool (no sample of S_S); the others on the scored points.
        if study not in STUDIES_FOR_STUDIES_ONLY and isinstance(config, Mapping):
            aligned |= {dataset for run in config.get("runs", []) for dataset in run.get("datasets", [])}
    # None: image_folder's whole folder, whose size only its files tell.
    core = [split_subsets(settings, dataset) for dataset in settings["experiment"]["datasets"] if dataset in aligned]
    return [sizes for sizes in core if sizes is not None] + _overlap_level_splits(settings)


def _overlap_level_splits(settings: Mapping) -> list[SubsetSizes]:
    """The split of every valid level of studies.overlap (|S_S| the level's share of the core pool, |S_C| = |S_I|
    the rest of f's training set): its S_S can be smaller than the core's, or than its own S_C. Levels outside
    (0, 1) or with an empty subset are left to the overlap study's rule, which names them."""
    runs = (settings["studies"].get("overlap") or {}).get("runs", [])
    if not runs:
        return []
    splits = []
    for index, run in enumerate(runs):
        for dataset in (d for d in run.get("datasets", []) if d in settings["experiment"]["datasets"]):
            core = core_sizes(settings, dataset)
            for level in run.get("overlaps", []):
                if core is None or not 0 < float(level) < 1:
                    continue
                sizes = level_sizes(core, level)
                if min(sizes.shared, sizes.candidate) < 1:
                    continue
                splits.append(SubsetSizes(
                    sizes.shared, sizes.candidate, sizes.independent, sizes.extra,
                    f"the split of overlap level {level} on {dataset}",
                    f"studies.overlap.runs[{index}].overlaps: {level} of the core pool of {core.pool}"))
    return splits


def _check_shared_sample(settings: Mapping, sizes: SubsetSizes) -> None:
    value, preset = settings["measure"]["shared_sample"], preset_of(settings)
    if value is None and sizes.candidate > sizes.shared:
        raise ConfigError(f"measure.shared_sample: null scores as many points of S_S as S_C has, {sizes.candidate}, "
                          f"but |S_S| = {sizes.shared} in {sizes.split} ({preset}); set measure.shared_sample to at "
                          f"most {sizes.shared}, or make S_S at least as large as S_C. {sizes.note()}")
    if value is not None and value > sizes.shared:
        raise ConfigError(f"measure.shared_sample: {value} points of S_S are scored, but |S_S| = {sizes.shared} in "
                          f"{sizes.split} ({preset}); use at most {sizes.shared}, or null (as many as S_C). "
                          f"{sizes.note()}")


def _check_unitmem_subset(settings: Mapping, sizes: SubsetSizes) -> None:
    subset = settings["measure"]["unitmem"]["subset"]
    sample = settings["measure"]["shared_sample"]
    scored = (sample if sample is not None else sizes.candidate) if subset == "S_S" else sizes.of(subset)
    if scored < 2:
        raise ConfigError(f"measure.unitmem.subset: {subset!r} has {scored} scored point(s) in {sizes.split} "
                          f"({preset_of(settings)}); UnitMem compares each unit's most activating point with the "
                          f"others, so it needs at least 2: choose another subset or enlarge it ({_ENLARGE[subset]}). "
                          f"{sizes.note()}")
