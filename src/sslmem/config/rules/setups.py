"""Rules on experiment.setups: unique names, known datasets, methods and backbones, recipes that fit the method
and the images, labelled pools for the methods that train on labels, and which tables may name a studies_only
setup."""

from __future__ import annotations

from typing import Mapping

from sslmem.config.base import ConfigError
from sslmem.config.plan import arch_options, setup_datasets, setup_name, setup_recipe
from sslmem.config.registry import cross_field_rule


@cross_field_rule
def check_setups(settings: Mapping) -> None:
    """Each setup in turn: a unique name, known datasets, method and arch, its recipe, its image sizes."""
    from sslmem.models import ARCHS
    from sslmem.methods import METHODS

    names: dict[str, int] = {}
    for index, setup in enumerate(settings["experiment"]["setups"]):
        _check_setup_names(settings, index, setup, names)
        _check_setup_backbone(settings, index, setup, METHODS, ARCHS)
        _check_setup_recipe(settings, index, setup)
        _check_setup_images(settings, index, setup, ARCHS)


# The studies that train a studies_only setup's encoders themselves (they need no f/g pairs of the core).
# dense: fine-tunes the removal study's encoders (its runs name removal runs).
STUDIES_FOR_STUDIES_ONLY = ("removal", "coreset", "halves", "dense")


@cross_field_rule
def check_studies_only_setups(settings: Mapping) -> None:
    """A `studies_only` setup has no f/g pairs: only the studies that train their own encoders on halves of the
    pool (and the galleries, which rank their in/out scores) may name it; a core table, a measurement or another
    study would wait for scores that are never made. At least one setup stays in the core."""
    setups = settings["experiment"]["setups"]
    only = {setup_name(setup) for setup in setups if setup.get("studies_only")}
    if not only:
        return
    if len(only) == len(setups):
        raise ConfigError("experiment.setups: every setup is studies_only; the core pipeline needs at least one "
                          "setup with f/g pairs")
    report = settings["report"]
    references = [("report.table11", name) for name in report["table11"]]
    for key in ("table12", "table4", "classmem"):
        references += [(f"report.{key}.setups", name) for name in (report.get(key) or {}).get("setups", [])]
    references += [("measure.table8.runs", run["setup"]) for run in settings["measure"]["table8"]["runs"]]
    for study, config in settings["studies"].items():
        if study not in STUDIES_FOR_STUDIES_ONLY and isinstance(config, Mapping):
            references += [(f"studies.{study}.runs", run["setup"]) for run in config.get("runs", [])]
    for where, name in references:
        if name in only:
            raise ConfigError(
                f"{where}: {name!r} is studies_only (no f/g pairs to score); name it only in "
                f"{', '.join(f'studies.{s}' for s in STUDIES_FOR_STUDIES_ONLY)} or report.galleries, or drop "
                "studies_only from the setup"
            )


def _check_setup_names(settings: Mapping, index: int, setup: Mapping, names: dict[str, int]) -> None:
    experiment = settings["experiment"]
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


def _check_setup_backbone(settings: Mapping, index: int, setup: Mapping, methods: Mapping, archs: Mapping) -> None:
    method, arch = setup["method"], setup["arch"]
    if method not in methods:
        raise ConfigError(f"experiment.setups[{index}].method: unknown method {method!r}; known: {sorted(methods)}")
    if method not in settings["methods"]:
        raise ConfigError(f"experiment.setups[{index}].method: {method!r} has no recipe under `methods`")
    if arch not in archs:
        raise ConfigError(f"experiment.setups[{index}].arch: unknown arch {arch!r}; known: {sorted(archs)}")
    if arch not in settings["archs"]:
        raise ConfigError(f"experiment.setups[{index}].arch: {arch!r} has no entry under `archs`")
    if methods[method].needs_vit and not archs[arch].is_vit:
        raise ConfigError(f"experiment.setups[{index}]: method {method!r} needs a ViT backbone, got {arch!r}")
    arch_cfg = {**archs[arch].defaults, **settings["archs"][arch]}
    if archs[arch].is_vit and arch_cfg["embed_dim"] % arch_cfg["heads"]:
        raise ConfigError(
            f"archs.{arch}.embed_dim: {arch_cfg['embed_dim']} is not divisible by heads={arch_cfg['heads']}"
        )
    if not archs[arch].is_vit and arch_cfg["width"] % 2:
        raise ConfigError(f"archs.{arch}.width: {arch_cfg['width']} must be even (ResNet stems use width/2)")


def _check_setup_recipe(settings: Mapping, index: int, setup: Mapping) -> None:
    from sslmem.data.catalog import dataset_info

    method = setup["method"]
    recipe = setup_recipe(settings, setup_name(setup))
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
            classes = dataset_info(dataset).num_classes
            if recipe["num_classes"] < classes:
                raise ConfigError(
                    f"{where('num_classes')}: {recipe['num_classes']} is fewer than the {classes} classes of "
                    f"{dataset} (experiment.setups[{index}] runs on it); set num_classes: {classes}"
                )


def _check_setup_images(settings: Mapping, index: int, setup: Mapping, archs: Mapping) -> None:
    from sslmem.data.catalog import dataset_info

    arch = setup["arch"]
    for dataset in setup_datasets(settings, setup):
        info = dataset_info(dataset)
        size = settings["data"]["image_folder_size"] if dataset == "image_folder" else info.image_size
        arch_cfg = arch_options(settings, arch, dataset)
        if archs[arch].is_vit and size % arch_cfg.get("patch_size", 16) != 0:
            raise ConfigError(
                f"archs.{arch}.patch_size: {arch_cfg.get('patch_size')} does not divide the "
                f"{size}px images of {dataset}"
            )


@cross_field_rule
def check_labelled_pools(settings: Mapping) -> None:
    """A setup whose method trains on labels (the supervised baseline) runs only on datasets whose pool split is
    labelled: STL-10's pool is its unlabelled split (labels -1)."""
    from sslmem.data.catalog import dataset_info
    from sslmem.methods import METHODS

    for index, setup in enumerate(settings["experiment"]["setups"]):
        method = METHODS.get(setup["method"])
        if method is None or not method.needs_labels:
            continue  # an unknown method is check_setups' to name
        for dataset in setup_datasets(settings, setup):
            info = dataset_info(dataset)
            if info.pool_is_labelled:
                continue
            others = [d for d in setup_datasets(settings, setup) if dataset_info(d).pool_is_labelled]
            raise ConfigError(
                f"experiment.setups[{index}]: setup {setup_name(setup)!r} trains {setup['method']} on labels, but "
                f"the training pool of {dataset} is drawn from its unlabelled {info.pool_split!r} split (no labels); "
                f"leave {dataset} out of the setup's datasets"
                + (f" (e.g. datasets: {others})" if others else "")
            )
