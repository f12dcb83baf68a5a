"""Per-setup measurements besides SSLMem: Feldman & Zhang's label memorisation (Table 12), Déjà Vu (Table 4),
ClassMem beside UnitMem (localization paper, Fig. 3) and every scored point ranked (the galleries, Figs. 1, 9).
They read the core encoders; which setups they cover is the report section's to say."""

from __future__ import annotations

from collections.abc import Mapping

from sslmem import artifacts
from sslmem import config as cfg
from sslmem.config import ConfigError
from sslmem.jobs.kinds import JobKind
from sslmem.plan.runs import Runs

ON_SPLIT = "--checkpoints {input.checkpoints} --split {input.split} --out {output.out}"


def classmem_pairs(settings: Mapping) -> list[tuple[str, str]]:
    return cfg.plan.classmem_pairs(settings)


def table4_pairs(settings: Mapping) -> list[tuple[str, str]]:
    return cfg.plan.table4_pairs(settings)


def ranked_setups(settings: Mapping, runs: Runs) -> list[tuple[str, str]]:
    """(dataset, setup) the halves study ranks (in/out scores of every pool point)."""
    from sslmem.studies import halves

    return list(halves.ranked_pairs(settings))


def allpoints_inputs(settings: Mapping, runs: Runs, w) -> dict:
    """The in/out scores (and their reliability) where the halves study ranks the setup, else the core scores:
    which estimator ranks the points is decided here, from the settings."""
    from sslmem.studies import halves

    key = (w.dataset, w.setup)
    if key in halves.ranked_pairs(settings):
        return {"inout": halves.INOUT_SCORES.format(dataset=w.dataset, setup=w.setup),
                "reliability": artifacts.result_path("reliability", "csv")}
    if key not in runs.setup_pairs:
        raise ConfigError(f"no setup {w.setup!r} on {w.dataset!r} in preset {settings['preset']!r}; it has "
                          f"{sorted(set(runs.setup_pairs))}")
    return {"scores": artifacts.SCORES.format(dataset=w.dataset, setup=w.setup)}


def classmem_checkpoint(settings: Mapping, runs: Runs, w) -> str:
    """The checkpoint of the f encoder a ClassMem file is of; one of report.classmem's setups, else refused."""
    pairs = classmem_pairs(settings)
    if (w.dataset, w.setup) not in pairs:
        raise ConfigError(f"setup {w.setup!r} on {w.dataset!r} is not one of report.classmem's {pairs} "
                          f"in preset {settings['preset']!r}")
    path = artifacts.CHECKPOINT.format(dataset=w.dataset, setup=w.setup, role="f", seed=w.seed)
    if path not in runs.encoder_files(artifacts.CHECKPOINT, w.dataset, w.setup):
        raise ConfigError(f"setup {w.setup!r} on {w.dataset!r} has no encoder f{w.seed}")
    return path


def kinds(settings: Mapping, runs: Runs) -> list[JobKind]:
    batch = settings["measure"]["batch_size"]
    checkpoints = lambda w: {"checkpoints": runs.encoder_files(artifacts.CHECKPOINT, w.dataset, w.setup),  # noqa: E731
                             "split": artifacts.SPLIT.format(dataset=w.dataset)}
    # Déjà Vu's guesses depend on the public set (size, seed), k, the crop and the representation embedded; not
    # on confident_fraction (only Table 4 reads it).
    table4 = {key: value for key, value in settings["report"]["table4"].items()
              if key not in ("setups", "datasets", "confident_fraction")}
    # ClassMem's per-unit means: the sample, the views, how the other points or classes are averaged. Not the
    # setups and datasets: which files exist, not what is in them.
    classmem = {key: value for key, value in settings["report"]["classmem"].items() if key not in ("setups", "datasets")}
    views = {key: settings["measure"][key] for key in ("num_views", "seed", "pairing", "batch_size")}
    return [
        JobKind(name="feldman_score", outputs={"out": artifacts.FELDMAN}, inputs=checkpoints, profile="model_small",
                settings=lambda w: {"batch_size": batch}, sections=("data", "training", "measure"),
                command="feldman " + ON_SPLIT),
        JobKind(name="dejavu_score", outputs={"out": artifacts.DEJAVU}, inputs=checkpoints, profile="model_small",
                settings=lambda w: {"table4": table4, "representation": cfg.setup_representation(settings, w.setup),
                                    "batch_size": batch},
                sections=("data", "training", "measure", "report"), command="dejavu " + ON_SPLIT),
        JobKind(name="classmem_units", outputs={"out": artifacts.CLASSMEM}, profile="model_small",
                inputs=lambda w: {"checkpoint": classmem_checkpoint(settings, runs, w),
                                  "split": artifacts.SPLIT.format(dataset=w.dataset)},
                settings=lambda w: {"classmem": classmem, "views": views,
                                    "others": settings["measure"]["unitmem"]["others"]},
                sections=("data", "training", "measure", "report"),
                command="classmem --checkpoint {input.checkpoint} --split {input.split} --out {output.out}"),
        JobKind(name="rank_points", outputs={"out": artifacts.ALLPOINTS}, local=True,
                inputs=lambda w: allpoints_inputs(settings, runs, w),
                params={"arguments": lambda w: " ".join(f"--{name} {path}" for name, path
                                                        in allpoints_inputs(settings, runs, w).items())},
                settings=lambda w: {"inputs": allpoints_inputs(settings, runs, w)}, sections=("studies",),
                command=("allpoints --dataset {wildcards.dataset} --setup {wildcards.setup} {params.arguments}"
                         " --out {output.out}")),
    ]


def input_sets(settings: Mapping, runs: Runs) -> dict[str, list[str]]:
    """The core input sets the registered results read (sslmem.report.registry.INPUT_SETS)."""
    from sslmem.studies import halves

    roles = settings["probe"]["roles"]
    table12 = settings["report"]["table12"]["setups"]
    shown = settings["report"]["galleries"]["setups"]
    scored = list(dict.fromkeys([*runs.setup_pairs, *halves.ranked_pairs(settings)]))
    t4 = set(table4_pairs(settings))

    def table12_files(pattern):
        return [pattern.format(dataset=d, setup=s) for s in table12 for d, setup in runs.setup_pairs if setup == s]

    def t4_files(pattern):
        return [pattern.format(dataset=d, setup=s) for d, s in table4_pairs(settings)]

    return {
        "scores": [artifacts.SCORES.format(dataset=d, setup=s) for d, s in runs.setup_pairs],
        "layer_scores": [artifacts.LAYER_SCORES.format(dataset=d, setup=s) for d, s in runs.setup_pairs],
        "probes": [artifacts.PROBE.format(**vars(run)) for run in runs.core if run.role in roles],
        "units": runs.all_encoder_files(artifacts.UNITS),
        "train_logs": runs.all_encoder_files(artifacts.TRAIN_LOG),
        "feldman": table12_files(artifacts.FELDMAN),
        "feldman_scores": table12_files(artifacts.SCORES),
        "allpoints": [artifacts.ALLPOINTS.format(dataset=d, setup=s) for s in shown for d, setup in scored if setup == s],
        "dejavu": t4_files(artifacts.DEJAVU),
        "dejavu_scores": t4_files(artifacts.SCORES),
        "dejavu_probes": [artifacts.PROBE.format(**vars(run)) for run in runs.core
                          if (run.dataset, run.setup) in t4 and run.role == "f"],
        "classmem": [artifacts.CLASSMEM.format(dataset=d, setup=s, seed=run.seed) for d, s in classmem_pairs(settings)
                     for run in runs.core if (run.dataset, run.setup, run.role) == (d, s, "f")],
    }
