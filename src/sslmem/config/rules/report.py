"""Rules on the report: the tables and figures name setups that exist and make rows (Table 11, Table 12, the
galleries, Table 4, ClassMem), and what Table 4 and ClassMem draw fits in the split they draw it from."""

from __future__ import annotations

from typing import Mapping

from sslmem.config.base import ConfigError
from sslmem.config.plan import classmem_pairs, setup_datasets, setup_name, table4_pairs
from sslmem.config.registry import cross_field_rule
from sslmem.config.rules.setups import STUDIES_FOR_STUDIES_ONLY
from sslmem.config.rules.subsets import preset_of, split_subsets, test_split_size


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
    sizes = split_subsets(settings, dataset)
    # image_folder's whole folder as pool: |S_C| is known only once the folder is read, |S_E| only if set.
    known = {"S_C": sizes.candidate, "S_E": sizes.extra} if sizes else {"S_E": settings["splits"]["extra_size"]}
    preset, note = preset_of(settings), f" {sizes.note()}" if sizes else ""
    test_size, extra = test_split_size(dataset), known["S_E"]
    # The public set is drawn from the test split without S_E, which the control of every encoder uses. (An S_E
    # larger than the test split is splits.extra_size's error, named by the split rules first.)
    if test_size is not None and extra is not None and table4["public_size"] > test_size - extra:
        raise ConfigError(f"report.table4.public_size: {table4['public_size']} public points, but {dataset}'s test "
                          f"split has {test_size - extra} outside S_E ({test_size} minus |S_E| = {extra}); use at "
                          f"most {test_size - extra} ({preset}).{note}")
    for subset, count in known.items():
        if count is not None and int(table4["confident_fraction"] * count) < 1:
            raise ConfigError(f"report.table4.confident_fraction: {table4['confident_fraction']} of the {count} points "
                              f"of {subset} on {dataset} selects none; use at least {1 / count:.3g} ({preset}).{note}")


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
    subset = classmem["subset"]
    if not info.pool_is_labelled:
        raise ConfigError(f"report.classmem: the points of {dataset}'s {subset} come from its unlabelled "
                          f"{info.pool_split!r} split; ClassMem averages over classes, so leave {dataset} out "
                          "(report.classmem.datasets)")
    if info.num_classes < 2:
        raise ConfigError(f"report.classmem: {dataset} has {info.num_classes} class; ClassMem compares classes "
                          "(at least 2)")
    sizes = split_subsets(settings, dataset)
    needed = classmem["points_per_class"] * info.num_classes
    # The sample is drawn from the whole subset of the split file, not from the align stage's sample of S_S.
    if sizes is not None and needed > sizes.of(subset):
        raise ConfigError(f"report.classmem.points_per_class: {classmem['points_per_class']} points of each of "
                          f"{dataset}'s {info.num_classes} classes are {needed} points, but its {subset} has "
                          f"{sizes.of(subset)}; use at most {sizes.of(subset) // info.num_classes} (less where a class "
                          f"is rarer than average; {preset_of(settings)}). {sizes.note()}")
