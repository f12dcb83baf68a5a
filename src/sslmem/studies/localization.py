"""Localizing memorisation (Wang et al., NeurIPS 2024), items 1-3 of its rebuild: ResNet9 layer by layer, a ViT's
attention vs MLP branches, and atypical vs typical points.

1. **ResNet9** (``studies.localization.setups``): the study's own setups, e.g. SimCLR on the paper's ResNet9
   (``resnet9`` in models.ARCHS, 8 convolutions conv1 ... conv4_2) on Fashion-MNIST and scikit-learn's digits
   (the second dataset that installs offline), derived as setups of their own (``Study.setups``, ``scored``): their
   f/g encoders are trained, aligned and scored by the generic study jobs, with per-layer and per-unit files.
   ``results/localization_resnet9.csv``: LayerMem and UnitMem per layer and dataset (Fig. 1a: UnitMem of conv4_2
   across datasets), where the most memorising units sit; ``localization_resnet9_fig.png``.
2. **ViT parts** (``vit_parts.setups``, core ViT setups): every f/g encoder aligned once more with hooks on each
   block's attention and MLP residual branches (``Encoder.named_parts``, ``part_units``; job kind
   ``localization_parts_align``, verb ``sslmem align-parts``), scored with the per-layer score code.
   ``localization_vit_parts.csv`` per block and part, ``localization_vit_parts_test.csv`` the paired tests over
   seeds (finding 4: most memorisation in the fully connected layers).
3. **Atypical vs typical** (``atypical``): per f/g pair, LayerMem and UnitMem of the n candidates with the highest
   vs the n with the lowest SSLMem, and of the planted study's foreign images vs the typical candidates, tested
   over seeds (one-sided paired t); Fig. 1b as Kendall's τ between a point's SSLMem and the highest UnitMem of the
   units it is the argmax of. ``localization_atypical.csv``.

Settings: params.yaml ``studies.localization`` (schema below). Everything here is planned only for the study's
target, ``snakemake study_localization``, or a result's name.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem.artifacts import CHECKPOINT, LAYER_SCORES, ROLES, SCORES, SPLIT, UNITS
from sslmem.report.registry import Result
from sslmem.studies import Study, TrainingSetRecipe, in_study

NAME = "localization"
RESULTS: list[Result] = []
_ENCODER = "{dataset}/{setup}/{role}{seed}"
PARTS_ALIGN = in_study(f"results/parts/align/{_ENCODER}.parquet", NAME)
PARTS_LAYER_ALIGN = in_study(f"results/parts/layer_align/{_ENCODER}.parquet", NAME)
PARTS_UNITS = in_study(f"results/parts/unitmem/{_ENCODER}.parquet", NAME)
PARTS_LAYER_SCORES = in_study("results/parts/layer_scores/{dataset}/{setup}.parquet", NAME)
PLANTED = "planted"  # the planted study, whose encoders' files item 3 reads

_NAMES = {"type": "array", "uniqueItems": True, "items": {"type": "string", "minLength": 1}}
SETTINGS_SCHEMA = {
    "description": "The localization paper's ResNet9, ViT parts and atypical points (target study_localization)",
    "type": "object", "additionalProperties": False, "required": ["setups", "vit_parts", "atypical"],
    "properties": {
        "setups": {
            "description": "the study's own setups (experiment.setups entries with datasets), e.g. SimCLR ResNet9",
            "type": "array",
            "items": {"type": "object", "required": ["method", "arch", "datasets"], "additionalProperties": False,
                      "properties": {"name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]*$"},
                                     "method": {"type": "string"}, "arch": {"type": "string"},
                                     "datasets": {**_NAMES, "minItems": 1},
                                     "seeds": {"type": "array", "minItems": 1, "uniqueItems": True,
                                               "items": {"type": "integer", "minimum": 0}},
                                     "recipe": {"type": "object"}}}},
        "top_unit_fraction": {"description": "the encoder's most memorising units: this fraction of all its units",
                              "type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "vit_parts": {"type": "object", "additionalProperties": False, "required": ["setups"],
                      "properties": {"setups": {**_NAMES, "description": "ViT setups of experiment.setups"}}},
        "atypical": {
            "type": "object", "additionalProperties": False, "required": ["setups", "n", "planted"],
            "properties": {"setups": {**_NAMES, "description": "setups of experiment.setups or of this study"},
                           "n": {"type": "integer", "minimum": 1,
                                 "description": "points per group: the n highest and n lowest SSLMem of S_C"},
                           "planted": {"type": "boolean",
                                       "description": "also the planted study's foreign images vs the typical S_C"}}},
    },
}


def config(settings: Mapping) -> Mapping:
    return settings["studies"].get(NAME) or {"setups": [], "vit_parts": {"setups": []},
                                             "atypical": {"setups": [], "n": 1, "planted": False}}


def own_setups(settings: Mapping) -> list[dict]:
    """The study's setups as full entries (the name defaults to <method>-<arch>), found by name like the core's."""
    from sslmem.config import setup_name

    return [{**entry, "name": setup_name(entry), "datasets": list(entry["datasets"])}
            for entry in config(settings)["setups"]]


def runs(settings: Mapping) -> list:
    from sslmem.config import RunSpec, setup_seeds

    return [RunSpec(dataset, entry["method"], entry["arch"], seed, role, entry["name"])
            for entry in own_setups(settings) for dataset in entry["datasets"]
            for seed in setup_seeds(settings, entry) for role in ("f", "g")]


def training_set(settings: Mapping, run) -> TrainingSetRecipe:
    # The SSLMem protocol's f or g from the dataset's core split (digits gets its split from the core split job).
    return TrainingSetRecipe(kind="protocol", inputs={"split": SPLIT.format(dataset=run.dataset)},
                             options={"role": run.role})


def _own_names(settings: Mapping) -> set[str]:
    return {entry["name"] for entry in own_setups(settings)}


def _pairs(settings: Mapping, names) -> list[tuple[str, str]]:
    """(dataset, setup) of each named setup: the study's own on their datasets, core ones on theirs."""
    from sslmem.config import find_setup, setup_datasets

    own = {entry["name"]: entry for entry in own_setups(settings)}
    pairs = []
    for name in names:
        entry = own.get(name) or find_setup(settings, name)
        datasets = entry["datasets"] if name in own else setup_datasets(settings, entry)
        pairs += [(dataset, name) for dataset in datasets]
    return pairs


def _encoder_files(settings: Mapping, names, pattern_of, roles=("f",)) -> list[str]:
    from sslmem.config import find_setup, setup_seeds

    own = {entry["name"]: entry for entry in own_setups(settings)}
    files = []
    for dataset, setup in _pairs(settings, names):
        entry = own.get(setup) or find_setup(settings, setup)
        files += [pattern_of(setup).format(dataset=dataset, setup=setup, role=role, seed=seed)
                  for seed in setup_seeds(settings, entry) for role in roles]
    return files


def _located(settings: Mapping, pattern: str):
    """The study's copy of a core pattern for its own setups, the core's for the others."""
    own = _own_names(settings)
    return lambda setup: in_study(pattern, NAME) if setup in own else pattern


def setup_files(settings: Mapping, names, pattern: str) -> list[str]:
    where = _located(settings, pattern)
    return [where(setup).format(dataset=dataset, setup=setup) for dataset, setup in _pairs(settings, names)]


def own_layer_scores(settings):
    return setup_files(settings, _own_names(settings), LAYER_SCORES)


def own_units(settings):
    return _encoder_files(settings, _own_names(settings), _located(settings, UNITS))


def parts_layer_scores(settings):
    return [PARTS_LAYER_SCORES.format(dataset=d, setup=s) for d, s in _pairs(settings, _parts_setups(settings))]


def parts_units(settings):
    return _encoder_files(settings, _parts_setups(settings), lambda setup: PARTS_UNITS)


def _parts_setups(settings):
    return config(settings)["vit_parts"]["setups"]


def _atypical(settings):
    return config(settings)["atypical"]["setups"]


def atypical_scores(settings):
    return setup_files(settings, _atypical(settings), SCORES)


def atypical_layer_scores(settings):
    return setup_files(settings, _atypical(settings), LAYER_SCORES)


def atypical_units(settings):
    return _encoder_files(settings, _atypical(settings), _located(settings, UNITS))


def _planted_pairs(settings) -> list[tuple[str, str]]:
    if not config(settings)["atypical"]["planted"]:
        return []
    planted = settings["studies"].get(PLANTED) or {}
    return list(dict.fromkeys((d, run["setup"]) for run in planted.get("runs", []) for d in run["datasets"]))


def planted_files(pattern: str, encoders: bool = False):
    def files(settings) -> list[str]:
        where = in_study(pattern, PLANTED)
        if not encoders:
            return [where.format(dataset=d, setup=s) for d, s in _planted_pairs(settings)]
        return [where.format(dataset=d, setup=s, role="f", seed=seed) for d, s in _planted_pairs(settings)
                for seed in settings["studies"][PLANTED]["seeds"]]
    return files


def parts_align_files(settings: Mapping, dataset: str, setup: str) -> list[str]:
    from sslmem.config import find_setup, setup_seeds

    return [PARTS_LAYER_ALIGN.format(dataset=dataset, setup=setup, role=role, seed=seed)
            for seed in setup_seeds(settings, find_setup(settings, setup)) for role in ("f", "g")]


def jobs(settings: Mapping, plan_runs) -> list:
    """Each f/g encoder of vit_parts.setups aligned with hooks on its blocks' branches, and each setup's branch
    alignments scored with the per-layer score code."""
    from sslmem.jobs.encoders import align_settings
    from sslmem.jobs.kinds import JobKind

    return [
        JobKind(
            name="localization_parts_align", profile="model", constraints={"role": "|".join(ROLES)},
            outputs={"align": PARTS_ALIGN, "layers": PARTS_LAYER_ALIGN, "units": PARTS_UNITS},
            inputs={"checkpoint": CHECKPOINT, "split": SPLIT},
            settings=lambda w: {**align_settings(settings, plan_runs, w), "view": "parts"},
            sections=("data", "training", "experiment", "methods", "archs", "measure", "augmentations"),
            command=("align-parts --checkpoint {input.checkpoint} --split {input.split} --out {output.align}"
                     " --layers-out {output.layers} --units-out {output.units}"),
        ),
        JobKind(
            name="localization_parts_score", outputs={"scores": PARTS_LAYER_SCORES},
            inputs=lambda w: {"align": parts_align_files(settings, w.dataset, w.setup)},
            command="score --layers --align {input.align} --out {output.scores}",
        ),
    ]


STUDY = Study(
    name=NAME, runs=runs, training_set=training_set, jobs=jobs, setups=own_setups, scored=True, probed=False,
    input_sets={
        "localization_layer_scores": own_layer_scores, "localization_units": own_units,
        "localization_parts_layer_scores": parts_layer_scores, "localization_parts_units": parts_units,
        "localization_atypical_scores": atypical_scores, "localization_atypical_layer_scores": atypical_layer_scores,
        "localization_atypical_units": atypical_units,
        "localization_planted_scores": planted_files(SCORES),
        "localization_planted_layer_scores": planted_files(LAYER_SCORES),
        "localization_planted_units": planted_files(UNITS, encoders=True),
    },
    results=("localization_resnet9", "localization_resnet9_fig", "localization_vit_parts",
             "localization_vit_parts_test", "localization_atypical", "localization_atypical_fig"),
)


def _validators() -> tuple:
    from sslmem.config import ConfigError

    def check_localization(settings: Mapping) -> None:
        """Own setups have known methods, backbones and datasets and names of their own; the ViT parts name ViT
        setups; the atypical setups exist and 2n fits in S_C; planted comparisons need the planted study."""
        from sslmem.config import setup_name

        study = settings["studies"].get(NAME)
        if not study:
            return
        core = {setup_name(entry) for entry in settings["experiment"]["setups"]}
        for index, entry in enumerate(own_setups(settings)):
            where = f"studies.{NAME}.setups[{index}]"
            if entry["name"] in core:
                raise ConfigError(f"{where}: name {entry['name']!r} is a setup of experiment.setups; give it a name")
            if entry["method"] not in settings["methods"]:
                raise ConfigError(f"{where}.method: {entry['method']!r} is not in methods "
                                  f"({sorted(settings['methods'])})")
            if entry["arch"] not in settings["archs"]:
                raise ConfigError(f"{where}.arch: {entry['arch']!r} has no archs entry ({sorted(settings['archs'])})")
            unknown = [d for d in entry["datasets"] if d not in settings["data"]["roots"]]
            if unknown:
                raise ConfigError(f"{where}.datasets: {unknown} have no data.roots entry")
            _check_pool(settings, entry["datasets"], where)
        for name in study["vit_parts"]["setups"]:
            entry = _find(settings, name, f"studies.{NAME}.vit_parts.setups")
            if not str(entry["arch"]).startswith("vit"):
                raise ConfigError(f"studies.{NAME}.vit_parts.setups: {name!r} is not a ViT setup ({entry['arch']})")
        for name in study["atypical"]["setups"]:
            if name not in _own_names(settings):
                _find(settings, name, f"studies.{NAME}.atypical.setups")
        if study["atypical"]["planted"] and not _planted_pairs(settings):
            raise ConfigError(f"studies.{NAME}.atypical.planted: true, but studies.planted.runs is empty")
        _check_group_size(settings, study["atypical"])

    def _check_pool(settings, datasets, where) -> None:
        """A dataset outside experiment.datasets (digits) gets its split from the core split job, which the core's
        size rules do not check: the pool must fit in its pool split."""
        from sslmem.config import pool_size_for
        from sslmem.data.catalog import dataset_info

        for dataset in datasets:
            info = dataset_info(dataset)
            available = info.train_size if info.pool_split == "train" else info.unlabeled_size
            pool = pool_size_for(settings, dataset)
            if pool and available and pool > available:
                raise ConfigError(f"{where}.datasets: splits.pool_size {pool} exceeds the {available} images of "
                                  f"{dataset!r}'s {info.pool_split} split")

    def _find(settings, name, where):
        from sslmem.config import find_setup

        try:
            return find_setup(settings, name)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None

    def _check_group_size(settings, atypical) -> None:
        from sslmem.config import pool_size_for, split_counts_for
        from sslmem.data.splits import split_sizes

        for dataset in dict.fromkeys(d for d, _ in _pairs(settings, atypical["setups"])):
            counts = split_counts_for(settings, dataset)
            pool = pool_size_for(settings, dataset)
            if counts:
                candidates = counts["candidate"]
            elif pool:
                splits = settings["splits"]
                candidates = split_sizes(pool, splits["fractions"], splits["extra_size"]).candidate
            else:
                continue
            if 2 * atypical["n"] > candidates:
                raise ConfigError(f"studies.{NAME}.atypical.n: {atypical['n']} highest and {atypical['n']} lowest of "
                                  f"the {candidates} candidates of {dataset!r} overlap; at most {candidates // 2}")

    return (check_localization,)


VALIDATORS = _validators()


def _alpha(settings: Mapping) -> dict:
    return {"alpha": settings["stats"]["alpha"]}


RESULTS.append(Result(
    name="localization_resnet9", kind="table", title="Localization — ResNet9 layer by layer (Fig. 1a)",
    category="Studies", default=False,
    caption=("Per dataset, setup (the study's own, e.g. SimCLR ResNet9) and convolution layer conv1 ... conv4_2: "
             "LayerMem (mean m over S_C of the layer's output, ensemble estimate), ΔLayerMem and the part above "
             "the layer's S_S offset; UnitMem over the layer's units of the f encoders (mean, median, 90th "
             "percentile, undefined units), and where the encoder's most memorising units sit: the share of its "
             "top `top_unit_fraction` units (by UnitMem over all layers) in the layer beside the layer's share of "
             "all units (finding 1: memorisation grows with depth, the most memorising units spread over the "
             "encoder). The last layer's row per dataset is Fig. 1a's comparison across datasets."),
    builder="sslmem.report.localization_parts:resnet9_table",
    inputs={"layer_score_paths": "localization_layer_scores", "unit_paths": "localization_units"},
    options=lambda settings: {"top_unit_fraction": config(settings).get("top_unit_fraction", 0.1)},
))
RESULTS.append(Result(
    name="localization_resnet9_fig", kind="figure", title="Localization — ResNet9 UnitMem per layer and dataset",
    category="Studies", default=False,
    caption=("Left: UnitMem of the last convolution (conv4_2) per dataset, every unit of every f encoder (box; "
             "Fig. 1a). Right: LayerMem and mean UnitMem per layer, one line per dataset."),
    builder="sslmem.report.localization_parts:resnet9_figure",
    inputs={"table_csv": "localization_resnet9", "unit_paths": "localization_units"},
))
RESULTS.append(Result(
    name="localization_vit_parts", kind="table", title="Localization — ViT attention vs MLP branches",
    category="Studies", default=False,
    caption=("Per dataset, ViT setup, block and part: LayerMem of the attention branch attn(norm1(x)) and of the "
             "MLP branch mlp(norm2(x)) (each block's residual branches, scored like layers), and UnitMem of their "
             "units read as follows (unit_reading): the branch outputs' channels as their positive part, the MLP's "
             "hidden units as the positive part of fc1's pre-activation (mlp_hidden), and as the core reads them, "
             "their GELU outputs (mlp_gelu; units negative on average have no UnitMem: n_undefined_units)."),
    builder="sslmem.report.localization_parts:vit_parts_table",
    inputs={"layer_score_paths": "localization_parts_layer_scores", "unit_paths": "localization_parts_units"},
))
RESULTS.append(Result(
    name="localization_vit_parts_test", kind="table", title="Localization — is memorisation in the MLP? (finding 4)",
    category="Studies", default=False,
    caption=("Per dataset, ViT setup, measure (LayerMem over pairs; UnitMem of the branch outputs over f "
             "encoders) and block (all: the mean over blocks): the per-seed MLP − attention difference, its mean, "
             "a one-sided paired t-test over seeds (MLP > attention), n_seeds, the seeds in which the MLP is higher, "
             "and whether it holds at stats.alpha."),
    builder="sslmem.report.localization_parts:vit_parts_test",
    inputs={"layer_score_paths": "localization_parts_layer_scores", "unit_paths": "localization_parts_units"},
    options=_alpha,
))
RESULTS.append(Result(
    name="localization_atypical", kind="table", title="Localization — atypical vs typical points (Fig. 1b)",
    category="Studies", default=False,
    caption=("Per dataset, setup, comparison and layer: per f/g pair (seed), LayerMem (mean per-pair m of the "
             "layer) and UnitMem (per point, the highest UnitMem of the f encoder's units whose argmax it is; 0 "
             "for none) of the n candidates with the highest vs the n with the lowest SSLMem (ranked by the other "
             "pairs' ensemble when there are two pairs or more, else by the pair itself: ranking says which), and "
             "of the planted study's foreign images vs the typical candidates; the mean over seeds of the "
             "difference, a one-sided paired t-test over seeds (high > low), n_seeds, and Fig. 1b's Kendall τ "
             "between SSLMem and the point's UnitMem (mean over seeds, one-sample t over seeds)."),
    builder="sslmem.report.localization_atypical:atypical_table",
    inputs={"score_paths": "localization_atypical_scores", "layer_score_paths": "localization_atypical_layer_scores",
            "unit_paths": "localization_atypical_units", "planted_score_paths": "localization_planted_scores",
            "planted_layer_score_paths": "localization_planted_layer_scores",
            "planted_unit_paths": "localization_planted_units"},
    options=lambda settings: {"n": config(settings)["atypical"]["n"], **_alpha(settings)},
))
RESULTS.append(Result(
    name="localization_atypical_fig", kind="figure", title="Localization — SSLMem against UnitMem (Fig. 1b)",
    category="Studies", default=False,
    caption=("Per dataset and setup of studies.localization.atypical.setups: every candidate's SSLMem (the score its "
             "groups are ranked by) against its UnitMem in the last layer (the highest UnitMem of the f encoder's "
             "units whose argmax it is, 0 for none), one colour per seed, Kendall's τ per seed in the legend."),
    builder="sslmem.report.localization_atypical:atypical_figure",
    inputs={"score_paths": "localization_atypical_scores", "unit_paths": "localization_atypical_units"},
))
