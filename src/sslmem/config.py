"""Settings: params.yaml → one validated, merged settings tree.

params.yaml holds `preset`, `common` and `presets`; the settings in effect are `common` deep-merged with
`presets[preset]`. Validation happens in two layers, both before any compute:

1. the JSON schema (src/sslmem/params.schema.yaml, linked from workflow/schemas/), for types, ranges and enums;
2. :func:`check_rules`, for what a schema cannot say (fractions sum to 1, names refer to existing entries,
   patch sizes divide image sizes, dataset roots exist).

Every failure raises :class:`ConfigError` whose message names the key, the bad value and what is allowed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
# Shipped inside the package (so a non-editable install validates too); workflow/schemas/params.schema.yaml,
# which Snakemake reads, is a symlink to it.
SCHEMA_PATH_CANDIDATES = (PACKAGE_DIR / "params.schema.yaml",)


# Training-split sizes of the standard datasets (STL-10: its labelled split), so that a pool larger than the
# data is caught before any job runs. image_folder holds whatever its folder holds (checked at split time).
TRAIN_SPLIT_SIZES = {"fashion_mnist": 60000, "cifar10": 50000, "cifar100": 50000, "svhn": 73257, "stl10": 5000}


class ConfigError(ValueError):
    """A setting in params.yaml is invalid; the message names the key and what is allowed."""


def schema_path() -> Path:
    for candidate in SCHEMA_PATH_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"params schema not found in {[str(c) for c in SCHEMA_PATH_CANDIDATES]}")


def load_schema() -> dict:
    return yaml.safe_load(schema_path().read_text())


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """Return `base` with `override` merged in; nested mappings merge, everything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _key_path(error_path) -> str:
    return ".".join(str(part) for part in error_path) or "<top level>"


def _schema_errors(instance: Any, schema: dict, prefix: str) -> list[str]:
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = list(validator.iter_errors(instance))
    # A bad value inside an `allOf` (the method recipes) drops that branch's annotations, so
    # unevaluatedProperties then also lists every valid key of the object as "unexpected". Report only the
    # real error in that case; an unevaluatedProperties error on its own (a typo'd key) is kept.
    paths = [tuple(e.absolute_path) for e in errors]
    errors = [
        error
        for error, path in zip(errors, paths)
        if error.validator != "unevaluatedProperties"
        or not any(other != path and other[: len(path)] == path for other in paths)
    ]
    messages = []
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        where = _key_path([prefix, *error.absolute_path] if prefix else error.absolute_path)
        messages.append(f"{where}: {error.message}")
    return messages


def _join_errors(header: str, errors: list[str]) -> str:
    # One error: one line (what `sslmem check` prints); several: one indented line each.
    return f"{header}: {errors[0]}" if len(errors) == 1 else f"{header}:\n  " + "\n  ".join(errors)


def validate_file_shape(raw: Mapping) -> None:
    """Check params.yaml's top level (preset/common/presets) against the schema."""
    errors = _schema_errors(raw, load_schema(), "")
    if errors:
        raise ConfigError(_join_errors("params.yaml is invalid", errors))


def resolve(raw: Mapping, preset: str | None = None, check_roots: bool = True) -> dict:
    """Merge `common` with the chosen preset and validate the result (schema + cross-field rules)."""
    validate_file_shape(raw)
    preset = preset or raw["preset"]
    presets = raw["presets"]
    if preset not in presets:
        raise ConfigError(
            f"preset: unknown preset {preset!r}; params.yaml defines {sorted(presets)}"
        )
    settings = deep_merge(raw["common"], presets[preset])
    schema = load_schema()
    settings_schema = {"$ref": "#/$defs/settings", "$defs": schema["$defs"]}
    errors = _schema_errors(settings, settings_schema, f"presets.{preset}")
    if errors:
        raise ConfigError(_join_errors(f"params.yaml (preset {preset!r} merged over common) is invalid", errors))
    settings["preset"] = preset
    _check_setup_recipes(settings, schema, preset)
    check_rules(settings, check_roots=check_roots)
    return settings


def _check_setup_recipes(settings: Mapping, schema: dict, preset: str) -> None:
    """A setup's `recipe` is merged over `methods.<method>`; the merged recipe must pass that method's schema."""
    for index, entry in enumerate(settings["experiment"]["setups"]):
        overrides = entry.get("recipe")
        method = entry["method"]
        if not overrides or method not in settings["methods"]:
            continue
        recipe_schema = {"$ref": f"#/$defs/settings/properties/methods/properties/{method}", "$defs": schema["$defs"]}
        merged = deep_merge(settings["methods"][method], overrides)
        errors = _schema_errors(merged, recipe_schema, f"presets.{preset}.experiment.setups.{index}.recipe")
        if errors:
            raise ConfigError(_join_errors(f"a setup's recipe (merged over methods.{method}) is invalid", errors))


def load(
    path: str | Path = "params.yaml", preset: str | None = None, overrides: Mapping | None = None, check_roots: bool = True
) -> dict:
    """Read params.yaml, apply `overrides` (e.g. Snakemake --config), and return validated settings."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path.resolve()}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if overrides:
        raw = deep_merge(raw, overrides)
    return resolve(raw, preset, check_roots=check_roots)


def check_rules(settings: Mapping, check_roots: bool = True) -> None:
    """Cross-field rules the schema cannot express. Raises ConfigError naming the key."""
    from sslmem import models
    from sslmem.data import datasets
    from sslmem.methods import METHODS

    fractions = settings["splits"]["fractions"]
    total = sum(fractions.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise ConfigError(
            f"splits.fractions: shared + candidate + independent = {total:g} "
            f"({fractions}); they must sum to 1"
        )
    experiment = settings["experiment"]
    for dataset in experiment["datasets"]:
        pool = pool_size_for(settings, dataset)
        if pool is not None:
            for name, fraction in fractions.items():
                if int(round(pool * fraction)) < 2:
                    raise ConfigError(
                        f"splits.fractions.{name}: {fraction} of splits.pool_size={pool} leaves fewer than 2 points"
                    )
        available = TRAIN_SPLIT_SIZES.get(dataset)
        if pool is not None and available is not None and pool > available:
            raise ConfigError(
                f"splits.pool_size: {pool} exceeds the {available} training images of {dataset} "
                f"(experiment.datasets); use at most {available}, or null for the whole training split"
            )
    names: dict[str, int] = {}
    for index, setup in enumerate(experiment["setups"]):
        method, arch = setup["method"], setup["arch"]
        name = setup_name(setup)
        if name in names:
            raise ConfigError(
                f"experiment.setups[{index}]: setup name {name!r} is already used by experiment.setups[{names[name]}]; "
                "give one of them a distinct `name` (e.g. the recipe it changes: simclr-resnet18-e100)"
            )
        names[name] = index
        unknown_datasets = [d for d in setup.get("datasets", []) if d not in experiment["datasets"]]
        if unknown_datasets:
            raise ConfigError(
                f"experiment.setups[{index}].datasets: {unknown_datasets} not in experiment.datasets "
                f"{experiment['datasets']}; a setup can only run on a subset of them"
            )
        if method not in METHODS:
            raise ConfigError(
                f"experiment.setups[{index}].method: unknown method {method!r}; known: {sorted(METHODS)}"
            )
        if method not in settings["methods"]:
            raise ConfigError(
                f"experiment.setups[{index}].method: {method!r} has no recipe under `methods`"
            )
        if arch not in models.ARCHS:
            raise ConfigError(
                f"experiment.setups[{index}].arch: unknown arch {arch!r}; known: {sorted(models.ARCHS)}"
            )
        if arch not in settings["archs"]:
            raise ConfigError(f"experiment.setups[{index}].arch: {arch!r} has no entry under `archs`")
        if METHODS[method].needs_vit and not models.ARCHS[arch].is_vit:
            raise ConfigError(
                f"experiment.setups[{index}]: method {method!r} needs a ViT backbone, got {arch!r}"
            )
        arch_cfg = {**models.ARCHS[arch].defaults, **settings["archs"][arch]}
        if models.ARCHS[arch].is_vit and arch_cfg["embed_dim"] % arch_cfg["heads"]:
            raise ConfigError(
                f"archs.{arch}.embed_dim: {arch_cfg['embed_dim']} is not divisible by heads={arch_cfg['heads']}"
            )
        if not models.ARCHS[arch].is_vit and arch_cfg["width"] % 2:
            raise ConfigError(f"archs.{arch}.width: {arch_cfg['width']} must be even (ResNet stems use width/2)")
        recipe = setup_recipe(settings, name)
        own = setup.get("recipe") or {}

        def where(*keys: str) -> str:
            # Blame the setup's own recipe only for values it sets; the rest comes from methods.<method>.
            source = f"experiment.setups[{index}].recipe" if any(k in own for k in keys) else f"methods.{method}"
            return f"{source}.{keys[0]}"

        if "decoder_dim" in recipe and recipe["decoder_dim"] % recipe["decoder_heads"]:
            raise ConfigError(
                f"{where('decoder_dim', 'decoder_heads')}: {recipe['decoder_dim']} is not divisible by "
                f"decoder_heads={recipe['decoder_heads']}"
            )
        if recipe["warmup_epochs"] > recipe["epochs"]:
            raise ConfigError(
                f"{where('warmup_epochs', 'epochs')}: {recipe['warmup_epochs']} exceeds epochs={recipe['epochs']}"
            )
        augment = recipe["augment"]
        if augment not in settings["augmentations"]:
            raise ConfigError(
                f"{where('augment')}: {augment!r} is not a key of `augmentations` "
                f"({sorted(settings['augmentations'])})"
            )
        if "num_classes" in recipe:
            for dataset in setup_datasets(settings, setup):
                if dataset == "image_folder":
                    continue  # its class count is known only once the folder is read
                classes = datasets.dataset_info(dataset).num_classes
                if recipe["num_classes"] < classes:
                    raise ConfigError(
                        f"{where('num_classes')}: {recipe['num_classes']} is fewer than the {classes} classes of "
                        f"{dataset} (experiment.setups[{index}] runs on it); set num_classes: {classes}"
                    )
        for dataset in setup_datasets(settings, setup):
            info = datasets.dataset_info(dataset)
            size = settings["data"]["image_folder_size"] if dataset == "image_folder" else info.image_size
            arch_cfg = arch_options(settings, arch, dataset)
            if models.ARCHS[arch].is_vit and size % arch_cfg.get("patch_size", 16) != 0:
                raise ConfigError(
                    f"archs.{arch}.patch_size: {arch_cfg.get('patch_size')} does not divide the "
                    f"{size}px images of {dataset}"
                )

    for name, aug in settings["augmentations"].items():
        low, high = aug["crop_scale"]
        if low > high:
            raise ConfigError(f"augmentations.{name}.crop_scale: {aug['crop_scale']} must be [low, high] with low <= high")
        if aug["jitter"][3] > 0.5:
            raise ConfigError(f"augmentations.{name}.jitter: hue strength {aug['jitter'][3]} must be <= 0.5")

    optimizer_users = [(f"methods.{name}", recipe) for name, recipe in settings["methods"].items()]
    optimizer_users += [
        (f"experiment.setups[{index}].recipe", setup_recipe(settings, setup_name(entry)))
        for index, entry in enumerate(experiment["setups"]) if entry.get("recipe")
    ]
    optimizer_users.append(("probe", settings["probe"]))
    for location, options in optimizer_users:
        needed = {"adamw": ("betas", "AdamW's [beta1, beta2], e.g. [0.9, 0.999]"),
                  "lars": ("trust_coefficient", "LARS's eta, e.g. 0.001")}.get(options["optimizer"])
        if needed and needed[0] not in options:
            raise ConfigError(
                f"{location}.{needed[0]}: missing; optimizer {options['optimizer']} needs {needed[0]} ({needed[1]})"
            )

    for name, recipe in settings["methods"].items():
        if recipe["warmup_epochs"] > recipe["epochs"]:
            raise ConfigError(
                f"methods.{name}.warmup_epochs: {recipe['warmup_epochs']} exceeds epochs={recipe['epochs']}"
            )
    if settings["probe"]["warmup_epochs"] > settings["probe"]["epochs"]:
        raise ConfigError(
            f"probe.warmup_epochs: {settings['probe']['warmup_epochs']} exceeds "
            f"probe.epochs={settings['probe']['epochs']}"
        )

    if settings["training"]["coupling"] == "common-random-numbers":
        # CRN gives the k-th S_C point of f the slot of the k-th S_I point of g: |S_C| must equal |S_I|.
        if not math.isclose(fractions["candidate"], fractions["independent"], abs_tol=1e-9):
            raise ConfigError(
                f"training.coupling: common-random-numbers pairs each S_C point with one S_I point, so "
                f"splits.fractions.candidate ({fractions['candidate']}) must equal splits.fractions.independent "
                f"({fractions['independent']}); make them equal or set training.coupling: independent"
            )
        from sslmem.data.splits import split_sizes

        for dataset in experiment["datasets"]:
            pool = pool_size_for(settings, dataset)
            size = pool if pool is not None else TRAIN_SPLIT_SIZES.get(dataset)
            if size is None:
                continue  # image_folder with the whole folder as pool: checked when the split is drawn
            sizes = split_sizes(size, fractions, None)
            if sizes.candidate != sizes.independent:
                pool_text = f"{pool}" if pool is not None else f"null (all {size} training images of {dataset})"
                raise ConfigError(
                    f"splits.pool_size: {pool_text} with fractions {dict(fractions)} rounds to "
                    f"|S_C|={sizes.candidate} but |S_I|={sizes.independent}; common-random-numbers "
                    "(training.coupling) needs them equal — choose a pool size that the fractions split evenly"
                )

    if "f" not in settings["probe"]["roles"]:
        raise ConfigError(
            f"probe.roles: {settings['probe']['roles']} leaves out f, whose accuracy table1 and table11 report; "
            "use [f] or [f, g]"
        )
    for table11_setup in settings["report"]["table11"]:
        if table11_setup not in names:
            raise ConfigError(
                f"report.table11: {table11_setup!r} is not a setup of experiment.setups ({sorted(names)})"
            )

    if check_roots:
        for dataset in experiment["datasets"]:
            root = settings["data"]["roots"].get(dataset)
            if root is None:
                raise ConfigError(f"data.roots.{dataset}: no root configured for dataset {dataset!r}")
            if not settings["data"]["download"]:
                try:
                    datasets.check_root(dataset, root)
                except datasets.DatasetNotFoundError as error:
                    raise ConfigError(f"data.roots.{dataset}: {error}") from None


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
    """The experiment.setups entry called `name` (see :func:`setup_name`)."""
    for entry in settings["experiment"]["setups"]:
        if setup_name(entry) == name:
            return dict(entry)
    known = [setup_name(entry) for entry in settings["experiment"]["setups"]]
    raise ConfigError(f"experiment.setups: no setup named {name!r}; the preset defines {known}")


def setup_recipe(settings: Mapping, name: str) -> dict:
    """The training recipe of a setup: methods.<method> with the setup's own `recipe` merged over it."""
    entry = find_setup(settings, name)
    return deep_merge(settings["methods"][entry["method"]], entry.get("recipe") or {})


def paper_setups(settings: Mapping) -> list[str]:
    """Setups that train with their method's own recipe: only these stand beside the paper's Table 1/15 rows
    (a setup with its own `recipe`, say 100 epochs, is not the paper's run even if it keeps the default name)."""
    return [setup_name(entry) for entry in settings["experiment"]["setups"] if not entry.get("recipe")]


def training_length_identities(settings: Mapping) -> dict[str, tuple[str, str, int]]:
    """(method, arch, epochs) of each setup whose recipe is its method's own except perhaps for the training
    length (epochs, warm-up): how Table 13 recognises the paper's rows (e.g. supervised ResNet50, 10 epochs)."""
    return {
        setup_name(entry): (entry["method"], entry["arch"], setup_recipe(settings, setup_name(entry))["epochs"])
        for entry in settings["experiment"]["setups"]
        if set(entry.get("recipe") or {}) <= {"epochs", "warmup_epochs"}
    }


def experiment_runs(settings: Mapping) -> list["RunSpec"]:
    """Every encoder the experiment trains: (dataset, setup, seed, role) over each setup's datasets and seeds."""
    return [
        RunSpec(dataset, entry["method"], entry["arch"], seed, role, setup_name(entry))
        for entry in settings["experiment"]["setups"]
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
            "seed": self.seed,
            "role": self.role,
        }
