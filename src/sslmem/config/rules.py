"""Cross-field rules: what params.yaml's schema cannot say (fractions sum to 1, names refer to existing
entries, patch sizes divide image sizes, dataset roots exist).

Each rule is a function of the merged settings that raises :class:`ConfigError` naming the key, registered
with :func:`~sslmem.config.registry.cross_field_rule` (re-exported here, for a study module's own rules);
:func:`check_rules` runs them in registration order, the rules that look at files (the dataset roots) last.

Importing this module imports no torch: the rules that need the method and arch registries import them when
they run (only on a full validation; a load of already validated settings runs only the file rules).
"""

from __future__ import annotations

import math
from typing import Mapping

from sslmem.config.base import ConfigError
from sslmem.config.plan import (
    arch_options,
    classmem_pairs,
    pool_size_for,
    probe_recipe,
    setup_datasets,
    setup_name,
    setup_recipe,
    setup_representation,
    split_counts_for,
    table4_pairs,
)
from sslmem.config.registry import cross_field_rule, registered_rules

__all__ = ["check_file_rules", "check_rules", "cross_field_rule", "registered_rules"]


def check_rules(settings: Mapping, check_roots: bool = True) -> None:
    """Cross-field rules the schema cannot express. Raises ConfigError naming the key."""
    for rule in registered_rules():
        if check_roots or not rule.reads_files:
            rule.check(settings)


def check_file_rules(settings: Mapping) -> None:
    """Only the rules that look at files (dataset roots): what can change without params.yaml changing."""
    for rule in registered_rules():
        if rule.reads_files:
            rule.check(settings)


def _pool_split_size(dataset: str) -> int | None:
    """Images in the split the pool is drawn from (STL-10: its 100000 unlabelled ones); None: only the files tell."""
    from sslmem.data.catalog import dataset_info

    return dataset_info(dataset).pool_split_size


def _pool_images(dataset: str) -> str:
    """What the pool is drawn from, for messages: "training images of cifar10", "images of stl10's 'unlabeled'
    split (its training pool)"."""
    from sslmem.data.catalog import dataset_info

    pool_split = dataset_info(dataset).pool_split
    if pool_split == "train":
        return f"training images of {dataset}"
    return f"images of {dataset}'s {pool_split!r} split (its training pool)"


# ------------------------------------------------------------------------------------------------- splits


@cross_field_rule
def check_splits(settings: Mapping) -> None:
    """splits.fractions sum to 1 and leave at least 2 points each; a pool fits in the pool split (the training
    split; STL-10: its unlabelled split)."""
    fractions = settings["splits"]["fractions"]
    total = sum(fractions.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise ConfigError(
            f"splits.fractions: shared + candidate + independent = {total:g} "
            f"({fractions}); they must sum to 1"
        )
    for dataset in settings["experiment"]["datasets"]:
        if split_counts_for(settings, dataset) is not None:
            _check_split_counts(settings, dataset)
            continue
        pool = pool_size_for(settings, dataset)
        if pool is not None:
            for name, fraction in fractions.items():
                if int(round(pool * fraction)) < 2:
                    raise ConfigError(
                        f"splits.fractions.{name}: {fraction} of splits.pool_size={pool} leaves fewer than 2 points"
                    )
        available = _pool_split_size(dataset)
        if pool is not None and available is not None and pool > available:
            raise ConfigError(
                f"splits.pool_size: {pool} exceeds the {available} {_pool_images(dataset)} "
                f"(experiment.datasets); use at most {available}, or null for all of them"
            )


def _check_split_counts(settings: Mapping, dataset: str) -> None:
    counts = split_counts_for(settings, dataset)
    available = _pool_split_size(dataset)
    if available is not None and sum(counts.values()) > available:
        raise ConfigError(
            f"splits.counts.{dataset}: {counts} adds up to {sum(counts.values())} points, more than the {available} "
            f"{_pool_images(dataset)}"
        )


# ------------------------------------------------------------------------------------------ setups, recipes


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
STUDIES_FOR_STUDIES_ONLY = ("removal", "coreset", "halves")


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


# ------------------------------------------------------------------------------------------- augmentations


@cross_field_rule
def check_augmentations(settings: Mapping) -> None:
    """crop_scale is [low, high]; hue jitter is at most 0.5."""
    for name, aug in settings["augmentations"].items():
        low, high = aug["crop_scale"]
        if low > high:
            raise ConfigError(f"augmentations.{name}.crop_scale: {aug['crop_scale']} must be [low, high] with low <= high")
        if aug["jitter"][3] > 0.5:
            raise ConfigError(f"augmentations.{name}.jitter: hue strength {aug['jitter'][3]} must be <= 0.5")


# ---------------------------------------------------------------------------------------------- optimisers

_OPTIMIZER_NEEDS = {
    "adamw": ("betas", "AdamW's [beta1, beta2], e.g. [0.9, 0.999]"),
    "lars": ("trust_coefficient", "LARS's eta, e.g. 0.001"),
}


@cross_field_rule
def check_optimizers(settings: Mapping) -> None:
    """Every recipe (methods, setups' own recipes, probe) sets what its optimizer needs."""
    optimizer_users = [(f"methods.{name}", recipe) for name, recipe in settings["methods"].items()]
    optimizer_users += [
        (f"experiment.setups[{index}].recipe", setup_recipe(settings, setup_name(entry)))
        for index, entry in enumerate(settings["experiment"]["setups"]) if entry.get("recipe")
    ]
    optimizer_users.append(("probe", settings["probe"]))
    optimizer_users += [(f"probe.per_method.{method}", probe_recipe(settings, method))
                        for method in settings["probe"].get("per_method", {})]
    for location, options in optimizer_users:
        needed = _OPTIMIZER_NEEDS.get(options["optimizer"])
        if needed and needed[0] not in options:
            raise ConfigError(
                f"{location}.{needed[0]}: missing; optimizer {options['optimizer']} needs {needed[0]} ({needed[1]})"
            )


@cross_field_rule
def check_warmups(settings: Mapping) -> None:
    """No recipe (methods.<name>, probe) warms up for longer than it trains."""
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
    for method in settings["probe"].get("per_method", {}):
        recipe = probe_recipe(settings, method)
        if recipe["warmup_epochs"] > recipe["epochs"]:
            raise ConfigError(
                f"probe.per_method.{method}: warmup_epochs {recipe['warmup_epochs']} exceeds epochs={recipe['epochs']} "
                "(merged over probe)"
            )


# ------------------------------------------------------------------------------------------------ coupling


@cross_field_rule
def check_coupling(settings: Mapping) -> None:
    """common-random-numbers gives the k-th S_C point of f the slot of the k-th S_I point of g: |S_C| = |S_I|."""
    if settings["training"]["coupling"] != "common-random-numbers":
        return
    for dataset, counts in settings["splits"].get("counts", {}).items():
        if dataset in settings["experiment"]["datasets"] and counts["candidate"] != counts["independent"]:
            raise ConfigError(
                f"splits.counts.{dataset}: candidate ({counts['candidate']}) must equal independent "
                f"({counts['independent']}): training.coupling common-random-numbers pairs each S_C point with one "
                "S_I point; make them equal or set training.coupling: independent"
            )
    fractions = settings["splits"]["fractions"]
    if not math.isclose(fractions["candidate"], fractions["independent"], abs_tol=1e-9):
        raise ConfigError(
            f"training.coupling: common-random-numbers pairs each S_C point with one S_I point, so "
            f"splits.fractions.candidate ({fractions['candidate']}) must equal splits.fractions.independent "
            f"({fractions['independent']}); make them equal or set training.coupling: independent"
        )
    from sslmem.data.splits import split_sizes

    for dataset in settings["experiment"]["datasets"]:
        if split_counts_for(settings, dataset) is not None:
            continue  # checked above
        pool = pool_size_for(settings, dataset)
        size = pool if pool is not None else _pool_split_size(dataset)
        if size is None:
            continue  # image_folder with the whole folder as pool: checked when the split is drawn
        sizes = split_sizes(size, fractions, None)
        if sizes.candidate != sizes.independent:
            pool_text = f"{pool}" if pool is not None else f"null (all {size} {_pool_images(dataset)})"
            raise ConfigError(
                f"splits.pool_size: {pool_text} with fractions {dict(fractions)} rounds to "
                f"|S_C|={sizes.candidate} but |S_I|={sizes.independent}; common-random-numbers "
                "(training.coupling) needs them equal — choose a pool size that the fractions split evenly"
            )


# ------------------------------------------------------------------------------------------- probe, report


@cross_field_rule
def check_representations(settings: Mapping) -> None:
    """A setup scores a projection head only if its method has one of its own (never the supervised classifier,
    App. B.3; MAE has none). Names the key the choice came from."""
    from sslmem.methods import METHODS

    per_method = settings["measure"]["representation"]
    for index, setup in enumerate(settings["experiment"]["setups"]):
        method = setup["method"]
        if setup_representation(settings, setup_name(setup)) != "projection" or METHODS[method].has_projection_head:
            continue
        where = (f"experiment.setups[{index}].representation" if setup.get("representation")
                 else f"measure.representation.{method}" if method in per_method else "measure.representation.default")
        raise ConfigError(
            f"{where}: 'projection' for setup {setup_name(setup)!r}, but {method} has no projection head of its own "
            f"(supervised: the classifier is removed before scoring; MAE: none); set measure.representation."
            f"{method}: encoder"
        )


@cross_field_rule
def check_probe(settings: Mapping) -> None:
    """The probe measures at least f, whose accuracy the tables report."""
    if "f" not in settings["probe"]["roles"]:
        raise ConfigError(
            f"probe.roles: {settings['probe']['roles']} leaves out f, whose accuracy table1 and table11 report; "
            "use [f] or [f, g]"
        )


@cross_field_rule
def check_probe_downstream(settings: Mapping) -> None:
    """probe.downstream maps a dataset of experiment.datasets to other known datasets, each with a root."""
    from sslmem.data.catalog import CATALOG

    trained = settings["experiment"]["datasets"]
    for dataset, others in settings["probe"].get("downstream", {}).items():
        where = f"probe.downstream.{dataset}"
        if dataset not in trained:
            raise ConfigError(f"{where}: {dataset!r} is not a dataset of experiment.datasets {trained}; "
                              "downstream lists belong to datasets encoders are trained on")
        for other in others:
            if other not in CATALOG:
                raise ConfigError(f"{where}: {other!r} is not a dataset; known: {sorted(CATALOG)}")
            if other == dataset:
                raise ConfigError(f"{where}: {other!r} is the encoders' own dataset, which is always probed; "
                                  "list only other datasets")
            if other not in settings["data"]["roots"]:
                raise ConfigError(f"{where}: {other!r} has no root in data.roots; add data.roots.{other}")


@cross_field_rule
def check_report(settings: Mapping) -> None:
    """report.table11 names setups of experiment.setups."""
    names = {setup_name(setup): index for index, setup in enumerate(settings["experiment"]["setups"])}
    for table11_setup in settings["report"]["table11"]:
        if table11_setup not in names:
            raise ConfigError(
                f"report.table11: {table11_setup!r} is not a setup of experiment.setups ({sorted(names)})"
            )


@cross_field_rule
def check_table12(settings: Mapping) -> None:
    """report.table12.setups names supervised setups of experiment.setups: Feldman's score reads the classifier
    head that only the supervised method trains."""
    methods = {setup_name(setup): setup["method"] for setup in settings["experiment"]["setups"]}
    supervised = sorted(name for name, method in methods.items() if method == "supervised")
    for name in settings["report"]["table12"]["setups"]:
        if methods.get(name) != "supervised":
            what = f"a {methods[name]} setup" if name in methods else "not a setup of experiment.setups"
            raise ConfigError(
                f"report.table12.setups: {name!r} is {what}; Feldman's score needs a supervised setup's classifier "
                f"(the supervised setups: {supervised})"
            )


@cross_field_rule
def check_galleries(settings: Mapping) -> None:
    """report.galleries.setups names setups of experiment.setups (their scores are what the galleries rank)."""
    names = sorted(setup_name(setup) for setup in settings["experiment"]["setups"])
    for name in settings["report"]["galleries"]["setups"]:
        if name not in names:
            raise ConfigError(f"report.galleries.setups: {name!r} is not a setup of experiment.setups ({names})")
    # The setups the halves study ranks (sslmem.studies.halves.ranked_pairs, not imported: config stays
    # independent of the studies).
    ranked = {run["setup"] for study in STUDIES_FOR_STUDIES_ONLY for run in settings["studies"][study]["runs"]}
    only = [setup_name(setup) for setup in settings["experiment"]["setups"] if setup.get("studies_only")]
    for name in settings["report"]["galleries"]["setups"]:
        if name in only and name not in ranked:
            raise ConfigError(f"report.galleries.setups: {name!r} is studies_only, so only the halves study can "
                              "rank its points, and no run of studies.removal, studies.coreset or studies.halves "
                              "names it")


@cross_field_rule
def check_table4(settings: Mapping) -> None:
    """report.table4 (Déjà Vu beside SSLMem): its setups and datasets exist and make rows (without datasets, a setup
    on unlabelled pools only, STL-10's, makes none, silently), the crop is a part of the image, k neighbours fit in
    the public set, the public set in the test split outside S_E, and the confident fraction selects at least one
    point of S_C and of S_E. Named before any job runs."""
    table4 = settings["report"]["table4"]
    setups = {setup_name(entry): entry for entry in settings["experiment"]["setups"]}
    pairs = table4_pairs(settings)
    for name in table4["setups"]:
        if name not in setups:
            raise ConfigError(f"report.table4.setups: {name!r} is not a setup of experiment.setups ({sorted(setups)})")
        if table4["datasets"] is not None and all(setup != name for _, setup in pairs):
            raise ConfigError(f"report.table4.setups: {name!r} trains on {setup_datasets(settings, setups[name])}, none "
                              f"of report.table4.datasets {table4['datasets']}; it would make no row")
    for dataset in table4["datasets"] or []:
        if table4["setups"] and all(pair_dataset != dataset for pair_dataset, _ in pairs):
            raise ConfigError(f"report.table4.datasets: none of report.table4.setups {table4['setups']} trains on "
                              f"{dataset!r}; list the datasets they train on")
    fraction = table4["crop"]["fraction"]
    if not 0 < fraction < 1:
        raise ConfigError(f"report.table4.crop.fraction: {fraction} is outside (0, 1); the crop's side is that fraction "
                          "of the image's side (Meehan et al.'s corner crop: 0.3)")
    if not 0 < table4["confident_fraction"] <= 1:
        raise ConfigError(f"report.table4.confident_fraction: {table4['confident_fraction']} is outside (0, 1]; it is "
                          "the fraction of points with the most confident kNN guess (Meehan et al.: 0.05, 0.2)")
    if table4["k"] > table4["public_size"]:
        raise ConfigError(f"report.table4.k: {table4['k']} neighbours, more than the report.table4.public_size = "
                          f"{table4['public_size']} public points they are drawn from; use k <= public_size")
    for dataset in dict.fromkeys(dataset for dataset, _ in pairs):
        _check_table4_dataset(settings, dataset, table4)


def _check_table4_dataset(settings: Mapping, dataset: str, table4: Mapping) -> None:
    """What report.table4 needs of one dataset: labelled candidates, a crop of at least a pixel, a public set that
    fits in the test split outside S_E, a confident fraction of S_C and S_E that holds a point."""
    from sslmem.data.catalog import dataset_info

    info = dataset_info(dataset)
    if not info.pool_is_labelled:
        raise ConfigError(f"report.table4: the candidates of {dataset} come from its unlabelled "
                          f"{info.pool_split!r} split; Déjà Vu guesses labels, so leave {dataset} out "
                          "(report.table4.datasets)")
    size = settings["data"]["image_folder_size"] if dataset == "image_folder" else info.image_size
    if int(table4["crop"]["fraction"] * size) < 1:
        raise ConfigError(f"report.table4.crop.fraction: {table4['crop']['fraction']} of {dataset}'s {size} px is no "
                          f"pixel; use at least {1 / size:.3g}")
    candidates, extra = _table4_subset_sizes(settings, dataset)
    if extra is not None and info.test_size is not None and table4["public_size"] > info.test_size - extra:
        raise ConfigError(f"report.table4.public_size: {table4['public_size']} public points, but {dataset}'s test "
                          f"split has {info.test_size - extra} outside S_E ({info.test_size} minus |S_E| = {extra}); "
                          f"use at most {info.test_size - extra}")
    for subset, count in (("S_C", candidates), ("S_E", extra)):
        if count is not None and int(table4["confident_fraction"] * count) < 1:
            raise ConfigError(f"report.table4.confident_fraction: {table4['confident_fraction']} of the {count} points "
                              f"of {subset} on {dataset} selects none; use at least {1 / count:.3g}")


def _table4_subset_sizes(settings: Mapping, dataset: str) -> tuple[int | None, int | None]:
    """|S_C| and |S_E| of a dataset's split from the settings (None where only the files tell: a whole pool of
    image_folder)."""
    counts = split_counts_for(settings, dataset)
    if counts is not None:
        candidates = counts["candidate"]
    else:
        pool = pool_size_for(settings, dataset) or _pool_split_size(dataset)
        candidates = None if pool is None else int(round(pool * settings["splits"]["fractions"]["candidate"]))
    extra = settings["splits"]["extra_size"]
    return candidates, extra if extra is not None else candidates


# ------------------------------------------------------------------------------------ ClassMem (localization)


@cross_field_rule
def check_classmem(settings: Mapping) -> None:
    """report.classmem (ClassMem beside UnitMem): its setups and datasets exist and make rows, every dataset's pool
    is labelled (ClassMem averages over classes) with at least 2 classes, and points_per_class of every class fits
    in the subset's size. Whether each class of the drawn split has that many points only the split file tells: the
    classmem job checks it before any forward pass. Named before any job runs."""
    classmem = settings["report"]["classmem"]
    setups = {setup_name(entry): entry for entry in settings["experiment"]["setups"]}
    pairs = classmem_pairs(settings)
    for name in classmem["setups"]:
        if name not in setups:
            raise ConfigError(f"report.classmem.setups: {name!r} is not a setup of experiment.setups ({sorted(setups)})")
        if all(setup != name for _, setup in pairs):
            raise ConfigError(f"report.classmem.setups: {name!r} trains on {setup_datasets(settings, setups[name])}, "
                              f"none of report.classmem.datasets {classmem['datasets']}; it would make no row")
    for dataset in classmem["datasets"] or []:
        if classmem["setups"] and all(pair_dataset != dataset for pair_dataset, _ in pairs):
            raise ConfigError(f"report.classmem.datasets: none of report.classmem.setups {classmem['setups']} trains "
                              f"on {dataset!r}; list the datasets they train on")
    for dataset in dict.fromkeys(dataset for dataset, _ in pairs):
        _check_classmem_dataset(settings, dataset, classmem)


def _check_classmem_dataset(settings: Mapping, dataset: str, classmem: Mapping) -> None:
    """What report.classmem needs of one dataset: labelled pool points, 2 classes or more, and a subset with room
    for points_per_class of each class."""
    from sslmem.data.catalog import dataset_info

    info = dataset_info(dataset)
    if not info.pool_is_labelled:
        raise ConfigError(f"report.classmem: the points of {dataset}'s {classmem['subset']} come from its unlabelled "
                          f"{info.pool_split!r} split; ClassMem averages over classes, so leave {dataset} out "
                          "(report.classmem.datasets)")
    if info.num_classes < 2:
        raise ConfigError(f"report.classmem: {dataset} has {info.num_classes} class; ClassMem compares classes "
                          "(at least 2)")
    size = _subset_size(settings, dataset, classmem["subset"])
    needed = classmem["points_per_class"] * info.num_classes
    if size is not None and needed > size:
        raise ConfigError(f"report.classmem.points_per_class: {classmem['points_per_class']} points of each of "
                          f"{dataset}'s {info.num_classes} classes are {needed} points, but its "
                          f"{classmem['subset']} has {size}; use at most {size // info.num_classes} (less where a "
                          "class is rarer than average)")


def _subset_size(settings: Mapping, dataset: str, subset: str) -> int | None:
    """|S_S| or |S_C| of a dataset's split from the settings (None where only the files tell: a whole pool of
    image_folder), rounded as :func:`sslmem.data.splits.split_sizes` rounds."""
    key = {"S_S": "shared", "S_C": "candidate"}[subset]
    counts = split_counts_for(settings, dataset)
    if counts is not None:
        return counts[key]
    pool = pool_size_for(settings, dataset) or _pool_split_size(dataset)
    return None if pool is None else int(round(pool * settings["splits"]["fractions"][key]))


# ------------------------------------------------------------------------------ measurement views (Table 8)


@cross_field_rule
def check_view_families(settings: Mapping) -> None:
    """measure.view_families: each family sets exactly its kind's parameters. measure.table8: its families are
    defined, its runs name setups and datasets that setup trains on, and no colour drop on grey images (every
    view would be the same image, every alignment 0 and the score undefined)."""
    from sslmem.augment import VIEW_KINDS

    families = settings["measure"]["view_families"]
    for name, family in families.items():
        _check_view_family(name, family, VIEW_KINDS)
    table8 = settings["measure"]["table8"]
    unknown = [name for name in table8["families"] if name not in families]
    if unknown:
        raise ConfigError(f"measure.table8.families: {unknown} not defined in measure.view_families "
                          f"({sorted(families)}); define them there or leave them out")
    setups = {setup_name(entry): entry for entry in settings["experiment"]["setups"]}
    for index, run in enumerate(table8["runs"]):
        where = f"measure.table8.runs[{index}]"
        if run["setup"] not in setups:
            raise ConfigError(f"{where}.setup: {run['setup']!r} is not a setup of experiment.setups {sorted(setups)}")
        trained_on = setup_datasets(settings, setups[run["setup"]])
        missing = [dataset for dataset in run["datasets"] if dataset not in trained_on]
        if missing:
            raise ConfigError(f"{where}.datasets: setup {run['setup']!r} trains no encoders on {missing} "
                              f"(it runs on {trained_on}); Table 8 re-measures trained encoders only")
        _check_no_color_drop_on_grey(where, run["datasets"], table8["families"], families)


def _check_view_family(name: str, family: Mapping, kinds: Mapping) -> None:
    where = f"measure.view_families.{name}"
    if family["kind"] not in kinds:
        raise ConfigError(f"{where}.kind: {family['kind']!r} is not a measurement view kind; known: {sorted(kinds)}")
    wanted = kinds[family["kind"]]
    missing = [parameter for parameter in wanted if parameter not in family]
    extra = [parameter for parameter in family if parameter != "kind" and parameter not in wanted]
    if missing or extra:
        raise ConfigError(f"{where}: kind {family['kind']!r} takes {list(wanted)}; missing {missing}, not its own {extra}")


def _check_no_color_drop_on_grey(where: str, datasets, names, families: Mapping) -> None:
    from sslmem.data.catalog import dataset_info

    drops = [name for name in names if families[name]["kind"] == "color_drop"]
    grey = [dataset for dataset in datasets if dataset_info(dataset).grayscale]
    if drops and grey:
        raise ConfigError(
            f"{where}: measure.table8.families {drops} (color_drop) on {grey}, whose images are grey: grayscale changes "
            "nothing, every view would be the same image and every alignment 0; leave color_drop out of "
            "measure.table8.families for these datasets"
        )


# ------------------------------------------------------------------------------------------- dataset roots


@cross_field_rule(reads_files=True)
def check_dataset_roots(settings: Mapping) -> None:
    """Each dataset trained on or probed on (probe.downstream) has a root, and (unless data.download) its files
    are there: the splits training reads, and a downstream dataset's labelled train and test splits (what its
    probe reads). Torch-free: a file check."""
    from sslmem.data import catalog

    for dataset in settings["experiment"]["datasets"]:
        _check_dataset_root(settings, dataset, [None])  # None: the splits training reads (catalog.training_splits)
    for dataset in _downstream_datasets(settings):
        _check_dataset_root(settings, dataset, catalog.SPLITS, " (probed through probe.downstream)")


def _downstream_datasets(settings: Mapping) -> list[str]:
    """Every dataset of probe.downstream, once each, in params order."""
    lists = settings["probe"].get("downstream", {}).values()
    return list(dict.fromkeys(dataset for others in lists for dataset in others))


def _check_dataset_root(settings: Mapping, dataset: str, splits, why: str = "") -> None:
    from sslmem.data import catalog

    root = settings["data"]["roots"].get(dataset)
    if root is None:
        raise ConfigError(f"data.roots.{dataset}: no root configured for dataset {dataset!r}{why}")
    if settings["data"]["download"]:
        return
    for split in splits:
        try:
            catalog.check_root(dataset, root, split)
        except catalog.DatasetNotFoundError as error:
            raise ConfigError(f"data.roots.{dataset}{why}: {error}") from None
