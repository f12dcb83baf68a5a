"""The overlap of f's and g's training sets (SSLMem App. A, "Disjoint subsets between f and g"; Table 7).

The paper trains f on S_S ∪ S_C and g on S_S ∪ S_I with S_S 80 % of the data sets' initial size (CIFAR10: 40k of
50k) and S_C, S_I 10 % each, and checks that choice by repeating Table 1 (SimCLR ResNet50, CIFAR10) at 70 % (35k/10k/
10k) and 85 % (42.5k/2.5k/2.5k), keeping f's (and g's) training set at 45k in every row. Its claim: SSLMem does not
change with more overlap (85 %) but falls at 70 %.

Here each level of a run is a setup derived from the run's setup (:mod:`sslmem.studies.variants`, no recipe change,
named ``<setup>-overlap<percent>``) whose encoders train and are aligned on a split of its own
(``results/studies/overlap/splits/<dataset>/<setup>.csv``, :attr:`Study.split`). That split is the core split's draw
with other sizes (:func:`level_sizes`): the same dataset, split seed and pool permutation, |S_S| = level × P with P
the core's |S_S| + |S_C| + |S_I| (the paper's "initial size"; the percent is of it: 35k/50k = 70 %), |S_C| = |S_I| =
N_f − |S_S| with N_f the core's |S_S| + |S_C| (the paper's 45k), and the core's S_E. Because the pool is a prefix of
one permutation, the levels are nested: a level above the core's takes its S_S from the core's S_S and S_C, one below
it shrinks S_S and draws the extra S_I points beyond the core pool (so its total, 2 N_f − |S_S|, must fit in the
dataset's pool split: CIFAR10's 70 % row needs 55k of its 50k training images, which is why the paper preset cannot
build it). The core split is its own level: its row is the setup's core encoders.

A consequence of the one permutation: f's training set, S_S then S_C, is its first N_f points at every level, in the
same slot order, so every level's f is the core's f (bit for bit on one machine, with the same seed and recipe) and
its probe accuracy is the same in every row. The levels differ in g (which of f's points it replaces by S_I) and in
which of f's points are the candidates: a paired design over levels, at the cost of retraining identical f encoders
(the generic study rules train every f/g pair of a derived setup).

``results/table7.csv``: per (dataset, setup, level) the sizes, the overlap in percent, SSLMem (mean ± std over f/g
pairs of the per-pair mean m over S_C), m(S_C) − m(S_S) per pair (mean ± std) and the linear-probe top-1 of f, with
the paper's Table 7 beside a row only where the setup is the paper's run and the sizes are the paper's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from sslmem import artifacts
from sslmem.config.rules.subsets import Sizes, core_sizes, level_sizes  # noqa: F401 (the study's arithmetic)
from sslmem.report.registry import Result
from sslmem.report.results import identities
from sslmem.studies import TrainingSetRecipe, in_study, variants

NAME = "overlap"
# The tables and figures this study adds to the one registry (sslmem.studies.plugins.load_results).
RESULTS: list[Result] = []
LEVELS_KEY = "overlaps"
# One split per derived setup (not per dataset as the core's): each level has its own sizes.
LEVEL_SPLIT = in_study("results/splits/{dataset}/{setup}.csv", NAME)


def overlap_percent(sizes: Sizes, core: Sizes) -> float:
    """|S_S| as a percent of the core pool (the paper's column); the core's own: 100 × |S_S| / |pool|."""
    return 100.0 * sizes.shared / core.pool


def setup_name_of(setup: str, overlap: float) -> str:
    """simclr-resnet18 at 0.7 → simclr-resnet18-overlap70 (percent; 0.725 → overlap72.5)."""
    return f"{setup}-overlap{variants.level_label(round(100 * float(overlap), 6))}"


def overlap_setups(settings: Mapping) -> list[dict]:
    """One derived setup per (run, level): the run's setup under its own name, its recipe unchanged."""
    return variants.derived_setups(settings, NAME, LEVELS_KEY, setup_name_of, lambda settings, level: {})


def level_of(settings: Mapping, setup: str) -> dict:
    """The derived setup entry called `setup` (its `variant_of` and `level`), or a ConfigError naming the known ones."""
    from sslmem.config import ConfigError

    entries = {entry["name"]: entry for entry in overlap_setups(settings)}
    if setup not in entries:
        raise ConfigError(f"studies.overlap plans no setup {setup!r}; it derives {sorted(entries)}")
    return entries[setup]


def split_sizes_of(settings: Mapping, dataset: str, setup: str) -> Sizes:
    """The sizes of the split of one derived setup on one dataset (the overlap_split rule's arguments)."""
    from sslmem.config import ConfigError

    core = core_sizes(settings, dataset)
    if core is None:
        raise ConfigError(f"studies.overlap: the size of {dataset!r}'s pool is known only from its files; set "
                          f"splits.pool_size or splits.counts for it")
    return level_sizes(core, level_of(settings, setup)["level"])


def split_of(settings: Mapping, dataset: str, setup: str) -> str:
    """The split a level's encoders train and are aligned on (:attr:`Study.split`)."""
    return LEVEL_SPLIT.format(dataset=dataset, setup=setup)


def training_set(settings: Mapping, run) -> TrainingSetRecipe:
    """The protocol's f or g, from the level's own split (not the core split a variants study reads)."""
    return TrainingSetRecipe(kind="protocol", inputs={"split": split_of(settings, run.dataset, run.setup)},
                             options={"role": run.role})


def level_splits(settings: Mapping) -> list[str]:
    """The core split of every run dataset, then every level's split (table7 reads the sizes from the files)."""
    pairs = list(dict.fromkeys((dataset, entry["name"]) for entry in overlap_setups(settings)
                               for dataset in entry["datasets"]))
    core = [artifacts.SPLIT.format(dataset=dataset) for dataset in dict.fromkeys(d for d, _ in pairs)]
    return core + [split_of(settings, dataset, setup) for dataset, setup in pairs]


def table7_options(settings: Mapping) -> dict:
    levels = {entry["name"]: {"setup": entry["variant_of"], "overlap": entry["level"]}
              for entry in overlap_setups(settings)}
    return {"levels": levels, **identities(settings)}


def jobs(settings: Mapping, plan_runs) -> list:
    """One split per level: the core split's draw (dataset, split seed) with the level's sizes."""
    from sslmem.jobs.kinds import JobKind

    def sizes(w) -> str:
        # As `sslmem split --sizes` takes them: shared candidate independent extra.
        level = split_sizes_of(settings, w.dataset, w.setup)
        return f"{level.shared} {level.candidate} {level.independent} {level.extra}"

    return [JobKind(
        name="overlap_split", profile="split",
        outputs={"csv": LEVEL_SPLIT, "meta": LEVEL_SPLIT.removesuffix(".csv") + ".json"},
        params={"sizes": sizes},
        # What the split is a function of: the dataset, the split seed and the sizes (not the level's name).
        settings=lambda w: {"sizes": sizes(w), "split_seed": settings["experiment"]["split_seed"],
                            "dataset": w.dataset},
        sections=("data", "experiment", "splits", "studies"),
        command=("split --dataset {wildcards.dataset} --sizes {params.sizes} --setup {wildcards.setup}"
                 " --out {output.csv}"),
    )]


STUDY = dataclasses.replace(
    variants.variant_study(NAME, overlap_setups, results=("table7",), extra_input_sets={"overlap_splits": level_splits}),
    training_set=training_set,
    split=split_of,
    jobs=jobs,
)


RESULTS.append(Result(
    name="table7", kind="table", title="Table 7 — the overlap between f's and g's training sets",
    category="Studies", default=False,
    caption=("Per dataset, setup and overlap level (the size of S_S as a percent of the core pool; the core split's "
             "row is the setup's own encoders): the sizes of S_S and of S_C = S_I (f and g train on as many points at "
             "every level), SSLMem "
             "(mean m over S_C per f/g pair, mean ± std over pairs), m(S_C) − m(S_S) per pair (a pair's global "
             "offset removed) and linear-probe top-1 (%) of f; the paper's Table 7 beside a row only where it is the "
             "paper's run (SimCLR ResNet50, CIFAR10, 600 epochs) with the paper's sizes."),
    builder="sslmem.report.overlap:table7",
    inputs={"score_paths": "overlap_base_scores", "probe_paths": "overlap_base_probes", "level_score_paths": "overlap_scores",
            "level_probe_paths": "overlap_probes", "split_paths": "overlap_splits"},
    options=table7_options,
))


def _validators() -> tuple:
    from sslmem.config import ConfigError

    def check_overlap(settings: Mapping) -> None:
        """Runs name known setups, datasets and seeds; every level lies in (0, 1), leaves no subset empty and fits
        in the dataset's pool split (named before any split is drawn). The core's own level is allowed: its split is
        the core split again, and its pairs a replicate of the core encoders."""
        from sslmem.data.catalog import dataset_info

        variants.check_runs(settings, NAME, LEVELS_KEY)
        for index, run in enumerate(settings["studies"][NAME]["runs"]):
            for dataset in run["datasets"]:
                core = core_sizes(settings, dataset)
                for overlap in run[LEVELS_KEY]:
                    where = f"studies.overlap.runs[{index}].overlaps: {overlap}"
                    if not 0 < float(overlap) < 1:
                        raise ConfigError(f"{where} is outside (0, 1); a level is the fraction of the core pool "
                                          "that f and g share (S_S)")
                    if core is None:
                        raise ConfigError(f"{where}: the size of {dataset!r}'s pool is known only from its files; "
                                          "set splits.pool_size or splits.counts for it")
                    sizes = level_sizes(core, overlap)
                    shape = (f"|S_S| = {sizes.shared}, |S_C| = |S_I| = {sizes.candidate} (core pool {core.pool}, "
                             f"N_f = {core.f_size}) on {dataset!r}")
                    if min(sizes.shared, sizes.candidate) < 1:
                        raise ConfigError(f"{where} leaves an empty subset: {shape}; a level must lie in "
                                          f"(0, {core.f_size / core.pool:.4g}) here")
                    available = dataset_info(dataset).pool_split_size
                    if available is not None and sizes.pool > available:
                        raise ConfigError(f"{where} needs |S_S| + |S_C| + |S_I| = {sizes.pool} points ({shape}), more "
                                          f"than the {available} images of {dataset!r}'s pool split")

    return (check_overlap,)


VALIDATORS = _validators()
