"""Which runs exist: setups, their names, datasets, seeds and recipes, and the encoder runs they make.

Everything here reads settings that :mod:`sslmem.config.load` has already validated; nothing imports torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

from sslmem.config.base import ConfigError, deep_merge


def setup_name(entry: Mapping) -> str:
    """A setup's name: its `name`, or `<method>-<arch>` (the folder its results go to)."""
    return entry.get("name") or f"{entry['method']}-{entry['arch']}"


def setup_datasets(settings: Mapping, entry: Mapping) -> list[str]:
    """The datasets one setup runs on: its own `datasets`, else all of experiment.datasets (in that order)."""
    own = entry.get("datasets")
    return [d for d in settings["experiment"]["datasets"] if own is None or d in own]


def setup_seeds(settings: Mapping, entry: Mapping) -> list[int]:
    """The training seeds of one setup: its own `seeds`, else experiment.seeds."""
    return list(entry.get("seeds") or settings["experiment"]["seeds"])


def find_setup(settings: Mapping, name: str) -> dict:
    """The setup called `name` (see :func:`setup_name`): an experiment.setups entry, or a setup a study derives
    from one (e.g. the privacy study's ``mae-vit_tiny-dp-eps8``: the same entry with a recipe of its own)."""
    # The study plugins' derived setups are added to the settings by sslmem.plan.load_settings (the config
    # package imports no study).
    for entry in [*settings["experiment"]["setups"], *settings.get("derived_setups", ())]:
        if setup_name(entry) == name:
            return dict(entry)
    known = [setup_name(entry) for entry in settings["experiment"]["setups"]]
    raise ConfigError(f"experiment.setups: no setup named {name!r}; the preset defines {known}")


def setup_recipe(settings: Mapping, name: str) -> dict:
    """The training recipe of a setup: methods.<method> with the setup's own `recipe` merged over it."""
    entry = find_setup(settings, name)
    return deep_merge(settings["methods"][entry["method"]], entry.get("recipe") or {})


def setup_representation(settings: Mapping, name: str) -> str:
    """What is scored for a setup: its own `representation`, else measure.representation for its method, else
    measure.representation.default. (Whether the method has a projection head is checked by the rules.)"""
    entry = find_setup(settings, name)
    per_method = settings["measure"]["representation"]
    return entry.get("representation") or per_method.get(entry["method"]) or per_method["default"]


def paper_identities(settings: Mapping) -> dict[str, dict]:
    """What a setup is, for matching the paper's rows: method, arch, training epochs, the representation scored,
    the training recipe's optimizer, lr and batch size, the backbone's options per dataset it runs on, and
    `length_only` — whether its own `recipe` changes at most the training length (epochs, warm-up). A paper
    value stands beside a row only when all of these are the paper's run (:mod:`sslmem.report.readers`)."""
    identities = {}
    for entry in settings["experiment"]["setups"]:
        name = setup_name(entry)
        recipe = setup_recipe(settings, name)
        identities[name] = {
            "method": entry["method"], "arch": entry["arch"], "epochs": recipe["epochs"],
            "representation": setup_representation(settings, name),
            "recipe": {key: recipe[key] for key in ("optimizer", "lr", "batch_size")},
            "arch_options": {dataset: arch_options(settings, entry["arch"], dataset)
                             for dataset in setup_datasets(settings, entry)},
            "length_only": set(entry.get("recipe") or {}) <= {"epochs", "warmup_epochs"},
        }
    return identities


def experiment_runs(settings: Mapping) -> list["RunSpec"]:
    """Every encoder the experiment trains: (dataset, setup, seed, role) over each setup's datasets and seeds
    (a `studies_only` setup has none: the studies that name it train its encoders)."""
    return [
        RunSpec(dataset, entry["method"], entry["arch"], seed, role, setup_name(entry))
        for entry in settings["experiment"]["setups"] if not entry.get("studies_only")
        for dataset in setup_datasets(settings, entry)
        for seed in setup_seeds(settings, entry)
        for role in ("f", "g")
    ]


def arch_options(settings: Mapping, arch: str, dataset: str) -> dict:
    """params.yaml `archs.<arch>` for one dataset: a ViT's patch_size may be a mapping dataset → size, because
    one patch size cannot fit 32 px CIFAR and 96 px STL-10 with the same number of tokens."""
    options = dict(settings["archs"][arch])
    patch = options.get("patch_size")
    if isinstance(patch, Mapping):
        if dataset not in patch and "default" not in patch:
            raise ConfigError(f"archs.{arch}.patch_size: no entry for dataset {dataset!r} and no 'default' ({patch})")
        options["patch_size"] = patch.get(dataset, patch.get("default"))
    return options


def pool_size_for(settings: Mapping, dataset: str) -> int | None:
    """splits.pool_size for one dataset: a number for all datasets, or a mapping dataset → number (None: all)."""
    pool = settings["splits"]["pool_size"]
    return pool.get(dataset) if isinstance(pool, Mapping) else pool


def cpu_kernels_entry(settings: Mapping) -> dict:
    """{"cpu_kernels": mode} when training.cpu_kernels pins the CPU kernels (they change the numbers of every job
    that runs a model), {} for native (absent from older params files too), so native hashes stay as they were."""
    mode = settings["training"].get("cpu_kernels", "native")
    return {} if mode == "native" else {"cpu_kernels": mode}


def probe_recipe(settings: Mapping, method: str) -> dict:
    """The probe settings for encoders trained with `method`: `probe` with probe.per_method.<method> merged over
    it (Table 6 probes SimCLR with another learning rate than the other methods). probe.downstream says on which
    datasets, not how, so it is not part of the recipe (:func:`probe_downstream`)."""
    probe = {key: value for key, value in settings["probe"].items() if key not in ("per_method", "downstream")}
    return deep_merge(probe, settings["probe"].get("per_method", {}).get(method, {}))


def probe_downstream(settings: Mapping, dataset: str) -> list[str]:
    """The datasets encoders trained on `dataset` are probed on besides their own (probe.downstream.<dataset>, in
    params order; [] when it has no entry)."""
    return list(settings["probe"].get("downstream", {}).get(dataset, []))


def split_counts_for(settings: Mapping, dataset: str) -> dict | None:
    """splits.counts for one dataset ({shared, candidate, independent} as numbers of points), or None when its
    split is pool_size × fractions."""
    counts = settings["splits"].get("counts", {}).get(dataset)
    return dict(counts) if counts else None


def table4_pairs(settings: Mapping) -> list[tuple[str, str]]:
    """(dataset, setup) of every row of Table 4 (report.table4), in its setups' order: each setup on the datasets
    it trains on, those of report.table4.datasets when set, else every one whose pool is labelled (Déjà Vu guesses
    labels; STL-10's pool is its unlabelled split). Setups that are not in experiment.setups are the rules' to name."""
    from sslmem.data.catalog import dataset_info

    table4 = settings["report"]["table4"]
    entries = {setup_name(entry): entry for entry in settings["experiment"]["setups"]}
    wanted = table4["datasets"]
    return [(dataset, name) for name in table4["setups"] if name in entries
            for dataset in setup_datasets(settings, entries[name])
            if (dataset in wanted if wanted is not None else dataset_info(dataset).pool_is_labelled)]


def classmem_pairs(settings: Mapping) -> list[tuple[str, str]]:
    """(dataset, setup) of every setup of report.classmem, in its setups' order: each setup on the datasets it
    trains on, those of report.classmem.datasets when set. Unlike Table 4's, an unlabelled pool (STL-10's) is not
    left out silently: the rules refuse it, naming report.classmem.datasets. Setups that are not in
    experiment.setups are the rules' to name."""
    classmem = settings["report"]["classmem"]
    entries = {setup_name(entry): entry for entry in settings["experiment"]["setups"]}
    wanted = classmem["datasets"]
    return [(dataset, name) for name in classmem["setups"] if name in entries
            for dataset in setup_datasets(settings, entries[name]) if wanted is None or dataset in wanted]


def fingerprint(obj: Any) -> str:
    """Stable short hash of a JSON-able object (settings sections, split contents)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class RunSpec:
    """One encoder training run: (dataset, setup, seed, role) and the settings that shape it.

    `setup` names an experiment.setups entry (default `<method>-<arch>`); its recipe overrides apply."""

    dataset: str
    method: str
    arch: str
    seed: int
    role: str  # "f" (trained on S_S ∪ S_C) or "g" (trained on S_S ∪ S_I)
    setup: str = ""

    def __post_init__(self):
        if not self.setup:
            object.__setattr__(self, "setup", f"{self.method}-{self.arch}")

    @classmethod
    def for_setup(cls, settings: Mapping, dataset: str, setup: str, seed: int, role: str) -> "RunSpec":
        entry = find_setup(settings, setup)
        if dataset not in setup_datasets(settings, entry):
            raise ConfigError(f"experiment.setups: setup {setup!r} does not run on dataset {dataset!r}")
        return cls(dataset, entry["method"], entry["arch"], seed, role, setup)

    def training_settings(self, settings: Mapping) -> dict:
        """The part of the settings that determines this run's weights (hashed into checkpoints).

        The setup's name is not part of it: two names for the same recipe train the same weights."""
        try:
            entry = find_setup(settings, self.setup)
        except ConfigError:
            if self.setup != f"{self.method}-{self.arch}":
                raise
            recipe = settings["methods"][self.method]  # a plain (method, arch) run outside the experiment
        else:
            if (entry["method"], entry["arch"]) != (self.method, self.arch):
                raise ConfigError(
                    f"experiment.setups: setup {self.setup!r} is {entry['method']} on {entry['arch']}, but this run "
                    f"is {self.method} on {self.arch}; the setup's name was given to another method or backbone"
                )
            recipe = setup_recipe(settings, self.setup)
        return {
            "method": self.method,
            "recipe": recipe,
            "augment": settings["augmentations"][recipe["augment"]],
            "arch": self.arch,
            "arch_cfg": arch_options(settings, self.arch, self.dataset),
            "coupling": settings["training"]["coupling"],
            # Only when it changes the weights: with 1 chunk the computation is the plain one, and leaving it out
            # keeps the hashes of runs made before the knob existed.
            **(
                {"accumulate_steps": settings["training"]["accumulate_steps"]}
                if settings["training"]["accumulate_steps"] != 1
                else {}
            ),
            # Only when pinned: native kernels leave the hashes of runs made before the knob existed unchanged.
            **cpu_kernels_entry(settings),
            "seed": self.seed,
            "role": self.role,
        }
