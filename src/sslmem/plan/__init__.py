"""The one plan: validated settings → every kind of job, the files each target builds, and the stages of DVC.

    plan = build(settings)          # settings from sslmem.config.load
    plan.kinds                      # JobKind per rule: the core's, each study's, one per registered result
    plan.targets["study_removal"]   # the files a named target builds

The Snakefile asks the plan for its rules (one generic template, workflow/rules/jobs.smk), `sslmem dvc-yaml`
writes dvc.yaml from it (:mod:`sslmem.plan.dvc`), and :mod:`sslmem.plan.resolve` expands targets into concrete
jobs (``sslmem plan``: encoders, jobs and cost per target). Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sslmem import artifacts
from sslmem.plan import core, measurements, study_jobs
from sslmem.jobs.kinds import JobKind
from sslmem.plan.runs import Runs


@dataclass
class Plan:
    """Every kind of job of one preset and what each named target builds."""

    settings: Mapping
    runs: Runs
    kinds: list[JobKind]
    input_sets: dict[str, list[str]]
    targets: dict[str, list[str]]
    results: Mapping
    studies: Mapping

    @property
    def preset(self) -> str:
        return self.settings["preset"]

    def kind(self, name: str) -> JobKind:
        for kind in self.kinds:
            if kind.name == name:
                return kind
        raise KeyError(f"no job kind {name!r}; the plan has {[kind.name for kind in self.kinds]}")


def load_settings(path="params.yaml", preset: str | None = None, check_roots: bool = True,
                  read_cache: bool = True) -> dict:
    """The settings every job and the workflow use: params.yaml validated by the config package with the study
    plugins' validators, and the setups the studies derive (privacy's one setup per ε, ...) under
    ``derived_setups``, where :func:`sslmem.config.find_setup` finds them by name."""
    from sslmem import config
    from sslmem.studies import plugins

    settings = config.load(path, preset=preset, check_roots=check_roots, read_cache=read_cache,
                           rules=plugins.validators(), study_schemas=plugins.settings_schemas())
    settings["derived_setups"] = plugins.derived_setups(settings)
    return settings


def resolve_settings(raw, preset: str | None = None, check_roots: bool = True) -> dict:
    """:func:`load_settings` for params already read (a mapping with preset/common/presets): validated with the
    study plugins' validators, with the setups the studies derive."""
    from sslmem import config
    from sslmem.studies import plugins

    settings = config.resolve(raw, preset, check_roots=check_roots, rules=plugins.validators(),
                              study_schemas=plugins.settings_schemas())
    settings["derived_setups"] = plugins.derived_setups(settings)
    return settings


def result_kind(result, input_sets: Mapping[str, list[str]], results: Mapping, settings: Mapping) -> JobKind:
    """The job building one registered result from its input sets (or other results)."""
    inputs = {argument: results[source].path if source in results else input_sets[source]
              for argument, source in result.inputs.items()}
    arguments = " ".join(f"--input {argument} {{input.{argument}}}" for argument in result.inputs)
    options = result.options(settings)
    return JobKind(
        name=result.name, outputs={"out": result.path}, inputs=lambda w: inputs, local=True, profile="table_long",
        settings=lambda w: options, sections=("stats", "report", "studies"), log=f"results/logs/report/{result.name}.log",
        report=(result.category, result.caption_rst()),
        command=f"report {result.name} {arguments} --out {{output.out}}",
    )


def _targets(settings: Mapping, runs: Runs, input_sets, results, studies) -> dict[str, list[str]]:
    default = [result.path for result in results.values() if result.default]
    study_targets = {
        f"study_{name}": [results[result].path for result in study.results]
        + [file for files in study.input_sets.values() for file in files(settings)]
        for name, study in studies.items()
    }
    encoder = runs.all_encoder_files
    targets = {
        "splits": [artifacts.SPLIT.format(dataset=d) for d in settings["experiment"]["datasets"]]
        + encoder(artifacts.TRAINING_SET),
        "checkpoints": encoder(artifacts.CHECKPOINT),
        "alignments": encoder(artifacts.ALIGN) + encoder(artifacts.LAYER_ALIGN) + encoder(artifacts.UNITS),
        "scores": input_sets["scores"] + input_sets["layer_scores"],
        "probes": input_sets["probes"],
        "reports": default,
        **study_targets,
        "feldman": [results["table12"].path, results["fig8"].path],
        "dejavu": [results["table4"].path],
        "classmem": [results["classmem_vs_unitmem"].path, results["classmem_fig"].path],
        "allpoints": input_sets["allpoints"],
        "galleries": input_sets["allpoints"] + [results["fig1"].path, results["fig9"].path],
        # Made from the localization studies' results and ClassMem: builds them first.
        "localization_paper": [results["localization_findings"].path],
    }
    in_all = [file for files in study_targets.values() for file in files] if settings["studies"]["in_all"] else []
    targets["all"] = default + in_all
    return targets


def build(settings: Mapping) -> Plan:
    """The plan of validated settings (:func:`sslmem.config.load`)."""
    from sslmem.studies.plugins import input_set_names, load_results, load_studies

    results = load_results()
    studies = load_studies()
    runs = Runs(settings, studies)
    input_sets = measurements.input_sets(settings, runs)
    for study in studies.values():
        input_sets.update({name: files(settings) for name, files in study.input_sets.items()})
    missing = input_set_names() - set(input_sets)
    if missing:
        raise ValueError(f"the registry names input sets no plan expands: {sorted(missing)}")
    kinds = [*core.core_kinds(settings, runs), *measurements.kinds(settings, runs), *study_jobs.kinds(settings, runs)]
    for study in studies.values():
        kinds += study.jobs(settings, runs) if study.jobs else []
    kinds += [result_kind(result, input_sets, results, settings) for result in results.values()]
    names = [kind.name for kind in kinds]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"job kinds declared twice: {twice}")
    return Plan(settings, runs, kinds, input_sets, _targets(settings, runs, input_sets, results, studies), results,
                studies)
