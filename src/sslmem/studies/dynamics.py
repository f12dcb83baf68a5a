"""Training dynamics (SSLMem Fig. 2b): training loss, linear-probe accuracy and memorisation over the epochs.

The paper (MAE ViT-tiny, CIFAR10) plots, over the epochs of training, the training loss, the downstream accuracy,
the mean SSLMem over the candidates S_C and over their 10 % most memorised, and claims that "while loss and
accuracy stagnate after a few hundred epochs, memorization increases".

What this study does: for each run of studies.dynamics (a setup of experiment.setups, its datasets and seeds), it
follows the setup's core f/g encoders (encoders by content: the study would train the same recipe on the same
training sets with the same seeds, so it reads the core ones instead of training them again): the core training
job of each of them keeps a snapshot every studies.dynamics.every epochs (:mod:`sslmem.training.snapshots`; the
kind ``dynamics_train`` replaces ``train`` for exactly these encoders).
Each snapshot is aligned with the views the final encoders are measured with (the core align verb: the
training augmentation recorded in the checkpoint, measure.seed), the f/g alignments of one epoch are scored by the
core score verb, and the f snapshots are probed by the core probe verb; the training loss of each epoch comes
from the core train logs. Files: ``results/studies/dynamics/snapshots/<dataset>/<setup>/<role><seed>/epoch<e>.pt``,
``results/studies/dynamics/epoch<e>/{align,scores,probe}/...`` (the core layout per epoch);
`results/fig2b_values.csv` and `results/fig2b.png` (:mod:`sslmem.report.dynamics`).

Design choice — one run per encoder with a snapshot hook, not one run per epoch count. Training a setup for e
epochs with `epochs: e` gives another encoder (its cosine schedule would end at e), and runs stopped after e epochs
(the loop's ``stop_after_epochs``) leave resume checkpoints, so n snapshot epochs would need n jobs each resuming
the previous one's state. A TrainingHook's ``after_epoch`` sees the state of the one full run after every epoch:
one job per encoder, the recipe's schedule, snapshots bit-identical to what the run had at that epoch (the last
one equals the final checkpoint; tests/test_dynamics.py checks it, and a snapshot against a run stopped there).
The snapshots folder is the train job's output (a Snakemake ``directory``), so Snakemake tracks and reruns it.

Cost of following: changing studies.dynamics.every retrains the followed core encoders (their job's settings
slice holds the snapshot epochs); the snapshots themselves change no weight, so the core tables are the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sslmem import artifacts
from sslmem.report import roles
from sslmem.report.registry import Result
from sslmem.studies import Study, TrainingSetRecipe

NAME = "dynamics"
# The tables and figures this study adds to the one registry (sslmem.studies.plugins.load_results).
RESULTS: list[Result] = []
# One folder of snapshots per encoder (the train job's directory output); epoch<e>.pt in it
# (sslmem.training.snapshots.SNAPSHOT_NAME).
SNAPSHOTS = f"{artifacts.RESULTS}/studies/{NAME}/snapshots/{{dataset}}/{{setup}}/{{role}}{{seed}}"
SNAPSHOT = SNAPSHOTS + "/epoch{epoch}.pt"
# The core layout per snapshot epoch.
EPOCH_ROOT = f"{artifacts.RESULTS}/studies/{NAME}/epoch{{epoch}}"
SNAPSHOT_ALIGN = EPOCH_ROOT + "/" + artifacts.ALIGN.removeprefix("results/")
SNAPSHOT_SCORES = EPOCH_ROOT + "/" + artifacts.SCORES.removeprefix("results/")
SNAPSHOT_PROBE = EPOCH_ROOT + "/" + artifacts.PROBE.removeprefix("results/")
# The study's encoders are the core ones: their training logs are the core logs.
TRAIN_LOG = artifacts.TRAIN_LOG
# The epoch a file of the per-epoch layout belongs to (parsed where the report reads it).
epoch_of = roles.epoch_of


def planned(settings: Mapping) -> list[tuple[str, str]]:
    """(dataset, setup) of every run of studies.dynamics, in params order."""
    pairs = [(dataset, run["setup"]) for run in settings["studies"][NAME]["runs"] for dataset in run["datasets"]]
    return list(dict.fromkeys(pairs))


def setup_epochs(settings: Mapping, setup: str) -> int:
    from sslmem.config import setup_recipe

    return int(setup_recipe(settings, setup)["epochs"])


def snapshot_epochs(settings: Mapping, setup: str) -> list[int]:
    """every, 2·every, …, the setup's epochs (the validator makes `every` divide them, so the last is the end)."""
    every = settings["studies"][NAME]["every"]
    return list(range(every, setup_epochs(settings, setup) + 1, every))


def runs(settings: Mapping) -> list:
    """The f/g encoders of every run: the setup's own (method, arch, name), on the run's datasets and seeds."""
    from sslmem.config import RunSpec, setup_seeds

    from sslmem.studies.variants import core_entry

    specs = []
    for run in settings["studies"][NAME]["runs"]:
        entry = core_entry(settings, run["setup"])
        if entry is None:
            continue  # named by the study's cross-field rule
        seeds = run.get("seeds") or setup_seeds(settings, entry)
        specs += [RunSpec(dataset, entry["method"], entry["arch"], seed, role, run["setup"])
                  for dataset in run["datasets"] for seed in seeds for role in artifacts.ROLES]
    return list(dict.fromkeys(specs))


def training_set(settings: Mapping, run) -> TrainingSetRecipe:
    # The SSLMem protocol's f or g from the core split: the same training set (and hash) as the core encoder.
    return TrainingSetRecipe(kind="protocol", inputs={"split": artifacts.SPLIT.format(dataset=run.dataset)},
                             options={"role": run.role})


def encoder_files(settings: Mapping, pattern: str, dataset: str, setup: str, **keys) -> list[str]:
    """`pattern` for every encoder (seed, role) the study trains of one setup on one dataset."""
    return [pattern.format(dataset=run.dataset, setup=run.setup, role=run.role, seed=run.seed, **keys)
            for run in runs(settings) if (run.dataset, run.setup) == (dataset, setup)]


def score_files(settings: Mapping) -> list[str]:
    return [SNAPSHOT_SCORES.format(epoch=epoch, dataset=dataset, setup=setup)
            for dataset, setup in planned(settings) for epoch in snapshot_epochs(settings, setup)]


def probe_files(settings: Mapping) -> list[str]:
    roles = settings["probe"]["roles"]
    return [SNAPSHOT_PROBE.format(epoch=epoch, **vars(run)) for run in runs(settings) if run.role in roles
            for epoch in snapshot_epochs(settings, run.setup)]


def train_log_files(settings: Mapping) -> list[str]:
    return [TRAIN_LOG.format(**vars(run)) for run in runs(settings)]


def fig2b_options(settings: Mapping) -> dict:
    """The snapshot epochs planned per (dataset, setup) (every row the table must have) and the top fraction."""
    plan = [{"dataset": dataset, "setup": setup, "epochs": setup_epochs(settings, setup),
             "snapshots": snapshot_epochs(settings, setup)} for dataset, setup in planned(settings)]
    return {"plan": plan, "top_fraction": float(settings["studies"][NAME]["top_fraction"])}


def _alternatives(values) -> str:
    return "|".join(re.escape(str(value)) for value in dict.fromkeys(values))


def jobs(settings: Mapping, plan_runs) -> list:
    """The study's encoders are the core ones (encoders by content: the same recipe, training set and seed), so
    the core training job of each keeps the snapshots (`dynamics_train` wins over `train` for them: the same
    checkpoint, plus a folder of snapshots); each snapshot is aligned, scored and probed with the core verbs
    under results/studies/dynamics/epoch<e>/."""
    from sslmem.config import RunSpec
    from sslmem.jobs.encoders import align_settings, probe_settings, train_kind
    from sslmem.jobs.kinds import JobKind

    followed = runs(settings)
    encoder = {"role": "|".join(artifacts.ROLES)}
    per_epoch = {"epoch": "[0-9]+", **encoder}
    # Only the encoders the study follows (a core encoder outside it trains without snapshots).
    chosen = {"dataset": _alternatives(run.dataset for run in followed) or "^$",
              "setup": _alternatives(run.setup for run in followed) or "^$",
              "seed": _alternatives(run.seed for run in followed) or "^$", **encoder}
    snapshot = lambda w: SNAPSHOT.format(**{k: getattr(w, k) for k in ("dataset", "setup", "role", "seed", "epoch")})  # noqa: E731
    core_spec = lambda w: RunSpec.for_setup(settings, w.dataset, w.setup, int(w.seed), w.role)  # noqa: E731
    return [
        train_kind(
            settings, plan_runs, "dynamics_train", f"{artifacts.RESULTS}/", None,
            outputs={"snapshots": SNAPSHOTS}, directories=("snapshots",), wins_over=("train",), constraints=chosen,
            settings=lambda w: {"training": core_spec(w).training_settings(settings),
                                "snapshots": snapshot_epochs(settings, w.setup)},
            params={"epochs": lambda w: " ".join(str(e) for e in snapshot_epochs(settings, w.setup))},
            command_tail=" --snapshots {output.snapshots} --snapshot-epochs {params.epochs}",
        ),
        JobKind(
            name="dynamics_align", outputs={"align": SNAPSHOT_ALIGN}, profile="model", constraints=per_epoch,
            inputs={"snapshots": SNAPSHOTS, "split": artifacts.SPLIT}, params={"checkpoint": snapshot},
            settings=lambda w: align_settings(settings, plan_runs, w, NAME),
            sections=("data", "training", "experiment", "methods", "archs", "augmentations", "measure", "studies"),
            command="align --checkpoint {params.checkpoint} --split {input.split} --out {output.align}",
        ),
        JobKind(
            name="dynamics_score", outputs={"scores": SNAPSHOT_SCORES}, constraints={"epoch": "[0-9]+"},
            inputs=lambda w: {"align": encoder_files(settings, SNAPSHOT_ALIGN, w.dataset, w.setup, epoch=w.epoch)},
            command="score --align {input.align} --out {output.scores}",
        ),
        JobKind(
            name="dynamics_probe", outputs={"probe": SNAPSHOT_PROBE}, profile="model", constraints=per_epoch,
            inputs={"snapshots": SNAPSHOTS}, params={"checkpoint": snapshot},
            settings=lambda w: probe_settings(settings, plan_runs, w, NAME),
            sections=("data", "training", "experiment", "methods", "archs", "probe", "measure"),
            command="probe --checkpoint {params.checkpoint} --out {output.probe}",
        ),
    ]


STUDY = Study(
    name=NAME,
    runs=runs,
    training_set=training_set,
    jobs=jobs,
    input_sets={"dynamics_scores": score_files, "dynamics_probes": probe_files,
                "dynamics_train_logs": train_log_files},
    results=("fig2b_values", "fig2b"),
    probed=False,  # its snapshots are probed (workflow/rules/studies.smk), not its final encoders
)


RESULTS.append(Result(
    name="fig2b_values", kind="table", title="Fig. 2b in numbers — loss, accuracy and memorisation over training",
    category="Studies", default=False,
    caption=("Per dataset, setup and snapshot epoch (every studies.dynamics.every epochs of the setup's own f/g "
             "pairs, retrained with snapshots): the training loss of that epoch (mean over the f encoders), "
             "linear-probe top-1 (%) of the f snapshots, and from the snapshots' ensemble scores the mean m over the "
             "candidates S_C, over their top_fraction most memorised (at that epoch; m_final_top: the candidates "
             "most memorised at the last snapshot), over S_S, and m(S_C) − m(S_S), the part of m not due to a "
             "pair's global offset."),
    builder="sslmem.report.dynamics:fig2b_values",
    inputs={"score_paths": "dynamics_scores", "probe_paths": "dynamics_probes",
            "train_log_paths": "dynamics_train_logs"},
    options=fig2b_options,
))
RESULTS.append(Result(
    name="fig2b", kind="figure", title="Fig. 2b — training loss, accuracy and memorisation against the epoch",
    category="Studies", default=False,
    caption=("One panel per quantity against the training epoch — training loss (relative to the first snapshot's: "
             "the methods' losses differ in scale), linear-probe top-1 (%), mean m "
             "over S_C, mean m of its most memorised top_fraction and m(S_C) − m(S_S) — one line per dataset and "
             "setup (the paper, MAE ViT-tiny on CIFAR10: loss and accuracy level off while memorisation rises)."),
    builder="sslmem.report.dynamics:fig2b",
    inputs={"table_csv": "fig2b_values"},
))


def _validators() -> tuple:
    from sslmem.config import ConfigError

    def check_dynamics(settings: Mapping) -> None:
        """studies.dynamics: top_fraction in (0, 1]; each run a setup of experiment.setups on its datasets and
        seeds, once; `every` at least 1 and dividing each run's setup's epochs (named before any training)."""
        from sslmem.config import setup_datasets, setup_name, setup_seeds

        from sslmem.studies.variants import core_entry

        study = settings["studies"][NAME]
        fraction = study["top_fraction"]
        if not 0 < fraction <= 1:
            raise ConfigError(f"studies.dynamics.top_fraction: {fraction} is outside (0, 1]; it is the fraction "
                              "of the candidates S_C counted as most memorised (the paper: 0.1)")
        every = study["every"]
        if every < 1:
            raise ConfigError(f"studies.dynamics.every: {every}; the epochs between snapshots must be at least 1")
        seen = set()
        for index, run in enumerate(study["runs"]):
            where = f"studies.dynamics.runs[{index}]"
            entry = core_entry(settings, run["setup"])
            if entry is None:
                known = [setup_name(setup) for setup in settings["experiment"]["setups"]]
                raise ConfigError(f"{where}.setup: no setup {run['setup']!r} in experiment.setups ({known})")
            missing = [dataset for dataset in run["datasets"] if dataset not in setup_datasets(settings, entry)]
            if missing:
                raise ConfigError(f"{where}.datasets: setup {run['setup']!r} does not run on {missing}")
            extra = [seed for seed in run.get("seeds") or [] if seed not in setup_seeds(settings, entry)]
            if extra:
                raise ConfigError(f"{where}.seeds: {extra} are not seeds of setup {run['setup']!r} (it has "
                                  f"{setup_seeds(settings, entry)})")
            twice = [dataset for dataset in run["datasets"] if (dataset, run["setup"]) in seen]
            if twice:
                raise ConfigError(f"{where}: setup {run['setup']!r} on {twice} is planned by an earlier run too")
            seen |= {(dataset, run["setup"]) for dataset in run["datasets"]}
            epochs = setup_epochs(settings, run["setup"])
            if every > epochs:
                raise ConfigError(f"studies.dynamics.every: {every} is larger than the {epochs} epochs of setup "
                                  f"{run['setup']!r} ({where}); it would keep no snapshot")
            if epochs % every:
                divisors = [d for d in range(1, epochs + 1) if epochs % d == 0]
                raise ConfigError(f"studies.dynamics.every: {every} does not divide the {epochs} epochs of setup "
                                  f"{run['setup']!r} ({where}), so the last snapshot would not be the trained "
                                  f"encoder; choose one of {divisors}")

    return (check_dynamics,)


VALIDATORS = _validators()
