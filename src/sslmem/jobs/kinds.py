"""What a job is: a :class:`JobKind` declares one kind of job (one Snakemake rule, one template for DVC).

A kind names its outputs as path patterns with wildcards (``{dataset}``, ``{setup}``, ``{role}``, ``{seed}``,
...), says which files a job reads (a function of the wildcards), which *slice* of the settings it reads (hashed
into the job's fingerprint: a job reruns when its slice changes, and only then), the ``sslmem`` verb and its
arguments, and what it asks of a cluster. The core declares its kinds in :mod:`sslmem.plan.core`, each study its
own in its module (:attr:`sslmem.studies.Study.jobs`). The Snakefile turns every kind into a rule with one
generic template; :mod:`sslmem.plan.resolve` expands them into concrete jobs for ``sslmem plan`` and dvc.yaml.

Importing this module is cheap (no torch, pandas or numpy).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sslmem.config.plan import fingerprint

Wildcards = Any  # Snakemake's wildcards object or a SimpleNamespace: attribute access by wildcard name
InputFiles = Mapping[str, "str | list[str]"]

# What each kind of job asks a cluster for (Slurm: --cpus-per-task, --mem, -t, --gpus), by profile. On the
# CPU, training needs little memory (small images) and a couple of hours; on a GPU the paper's recipes run for a
# day with the dataset's workers beside them. `threads` is training.num_threads for every job that runs a model.
PROFILES = {
    "train": {"cpu": {"mem_mb": 4000, "runtime": 120}, "cuda": {"mem_mb": 32000, "runtime": 24 * 60}},
    "model": {"cpu": {"mem_mb": 16000, "runtime": 120}, "cuda": {"mem_mb": 16000, "runtime": 120}},
    "model_small": {"cpu": {"mem_mb": 8000, "runtime": 30}, "cuda": {"mem_mb": 8000, "runtime": 30}},
    "split": {"cpu": {"mem_mb": 8000, "runtime": 30}, "cuda": {"mem_mb": 8000, "runtime": 30}},
    "table": {"cpu": {"mem_mb": 4000, "runtime": 10}, "cuda": {"mem_mb": 4000, "runtime": 10}},
    "table_long": {"cpu": {"mem_mb": 4000, "runtime": 30}, "cuda": {"mem_mb": 4000, "runtime": 30}},
}
# Profiles whose jobs run a model: they get training.num_threads threads and, on CUDA, one GPU.
MODEL_PROFILES = ("train", "model", "model_small")
_FIELD = re.compile(r"{([a-z_]+)(?:,[^}]*)?}")


def pattern_wildcards(pattern: str) -> list[str]:
    """The wildcard names of a path pattern, in order of appearance."""
    return list(dict.fromkeys(_FIELD.findall(pattern)))


def fill(pattern: str, wildcards: Wildcards) -> str:
    """`pattern` with its wildcards replaced by the values of `wildcards`."""
    return pattern.format(**{name: getattr(wildcards, name) for name in pattern_wildcards(pattern)})


@dataclass(frozen=True)
class JobKind:
    """One kind of job: a rule of the workflow.

    Attributes:
        name: the rule's name (also the log folder: results/logs/<name>/...).
        outputs: output name → path pattern. Every pattern has the same wildcards.
        command: the ``sslmem`` verb and its arguments, a Snakemake shell template (``{input.x}``,
            ``{output.y}``, ``{wildcards.z}``, ``{params.p}``); the workflow adds the params file, the preset
            and the log redirection.
        inputs: wildcards → input name → path or list of paths; or a mapping name → pattern (the job's own
            wildcards filled in).
        settings: wildcards → the slice of the settings the job reads; its hash is the job's fingerprint.
        sections: the params.yaml sections the slice reads (what a DVC stage of these jobs depends on).
        params: extra values the command reads as ``{params.<name>}``: wildcards → string.
        profile: a key of :data:`PROFILES` (threads, memory, time, GPU).
        local: run where Snakemake runs (seconds of pandas), not as a cluster job.
        protected: output names made read-only once written (when training.protect_checkpoints).
        directories: output names that are folders.
        constraints: wildcard → regular expression, for this kind only.
        wins_over: kinds this one takes precedence over where both could make a file (a study's own training
            job with snapshots over the generic one).
        log: the log pattern (default: results/logs/<name>/ + the first output's wildcards).
        report: (category, caption) when the output is a registered result shown by ``snakemake --report``.
    """

    name: str
    outputs: Mapping[str, str]
    command: str
    inputs: Callable[[Wildcards], InputFiles] | Mapping[str, str] = field(default_factory=dict)
    settings: Callable[[Wildcards], Any] | None = None
    sections: tuple[str, ...] = ()
    params: Mapping[str, Callable[[Wildcards], str]] = field(default_factory=dict)
    profile: str = "table"
    local: bool = False
    protected: tuple[str, ...] = ()
    directories: tuple[str, ...] = ()
    constraints: Mapping[str, str] = field(default_factory=dict)
    wins_over: tuple[str, ...] = ()
    log: str | None = None
    report: tuple[str, str] | None = None

    def __post_init__(self):
        if not self.outputs:
            raise ValueError(f"job kind {self.name!r}: declare at least one output")
        if self.profile not in PROFILES:
            raise ValueError(f"job kind {self.name!r}: profile {self.profile!r} is not one of {sorted(PROFILES)}")
        names = [set(pattern_wildcards(pattern)) for pattern in self.outputs.values()]
        if any(found != names[0] for found in names):
            raise ValueError(f"job kind {self.name!r}: its outputs have different wildcards: {dict(self.outputs)}")
        for flagged in (*self.protected, *self.directories):
            if flagged not in self.outputs:
                raise ValueError(f"job kind {self.name!r}: {flagged!r} is not one of its outputs {list(self.outputs)}")

    @property
    def verb(self) -> str:
        """The sslmem verb the jobs run (what a DVC stage's code dependencies are read from)."""
        return self.command.split()[0]

    @property
    def wildcards(self) -> list[str]:
        return pattern_wildcards(next(iter(self.outputs.values())))

    def log_pattern(self, root: str = "results") -> str:
        if self.log:
            return self.log
        keys = [key for key in self.wildcards if key != "study"]
        tail = "/".join(f"{{{key}}}" for key in keys) if keys else "job"
        # {role}{seed} stay one path element, as the encoders' own files name them.
        tail = tail.replace("{role}/{seed}", "{role}{seed}")
        if "study" in self.wildcards:  # a study's jobs log under its own folder: logs/studies/<study>/<kind>/...
            return f"{root}/logs/studies/{{study}}/{self.name.removeprefix('study_')}/{tail}.log"
        return f"{root}/logs/{self.name}/{tail}.log"

    def benchmark_pattern(self) -> str:
        return self.log_pattern().replace("/logs/", "/benchmarks/", 1).removesuffix(".log") + ".tsv"

    def input_files(self, wildcards: Wildcards) -> dict[str, str | list[str]]:
        if callable(self.inputs):
            return dict(self.inputs(wildcards))
        return {name: fill(pattern, wildcards) for name, pattern in self.inputs.items()}

    def fingerprint(self, wildcards: Wildcards) -> str:
        return fingerprint(self.settings(wildcards) if self.settings else {})

    def resources(self, settings: Mapping) -> dict:
        """threads, retries and the cluster resources (mem_mb, runtime in minutes, gpu) of this kind's jobs."""
        device = "cuda" if settings["training"]["device"] == "cuda" else "cpu"
        values = dict(PROFILES[self.profile][device])
        model = self.profile in MODEL_PROFILES
        return {
            "threads": _model_threads(settings) if model else 1,
            "retries": 3 if (self.profile == "train" and device == "cuda") else 0,
            "resources": {**({"gpu": int(device == "cuda")} if model else {}), **values},
        }

    def output_regex(self) -> re.Pattern:
        """A regular expression matching this kind's first output, the wildcards as named groups."""
        pattern = next(iter(self.outputs.values()))
        return _compile(pattern, self.constraints)


def _model_threads(settings: Mapping):
    """A model job's threads, by the dataset it reads: training.num_threads, plus data.loader_workers for a dataset
    read by index from its files (image_folder: its decoding processes run beside the job's threads)."""
    base, workers = settings["training"]["num_threads"], settings["data"].get("loader_workers") or 0

    def threads(wildcards) -> int:
        return base + (workers if getattr(wildcards, "dataset", None) in READ_BY_INDEX else 0)

    return threads


# Datasets read by index from their files with DataLoader workers (sslmem.data.lazy), not held in memory.
READ_BY_INDEX = ("image_folder",)

DEFAULT_CONSTRAINTS = {
    "dataset": "[a-z0-9_]+",
    "setup": "[a-z0-9][a-z0-9_.-]*",
    "role": "[a-z](?:[a-z0-9_]*[a-z_])?",
    "seed": "[0-9]+",
    "study": "[a-z][a-z_]*",
}


def _compile(pattern: str, constraints: Mapping[str, str]) -> re.Pattern:
    regex, seen = "", set()
    for literal, name, _spec, _conversion in string.Formatter().parse(pattern):
        regex += re.escape(literal)
        if name is None:
            continue
        if name in seen:
            regex += f"(?P={name})"
        else:
            allowed = constraints.get(name) or DEFAULT_CONSTRAINTS.get(name, "[^/]+")
            regex += f"(?P<{name}>{allowed})"
            seen.add(name)
    return re.compile(regex + "$")


def wildcards_of(**values) -> SimpleNamespace:
    """A wildcards object outside Snakemake (attribute access, as Snakemake's)."""
    return SimpleNamespace(**{key: str(value) for key, value in values.items()})
