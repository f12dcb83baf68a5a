"""Replication (a reviewer's question of Tables 2 and 16): do the claims hold in independent draws of training
noise?

Every point an f/g pair scores shares that pair's training run, so a claim that holds for one set of seeds may be
one draw of noise. For each run of studies.replication (a setup of experiment.setups and its datasets), the core
measurement of Tables 2 and 16 is repeated with R − 1 further groups of seeds: group 0 is the setup's own f/g pairs
(the core scores), group g ≥ 1 the setup retrained on the same split with the seeds of `groups[g − 1]` (a derived
setup ``<setup>-rep<g>``, trained, aligned and scored like the core's under results/studies/replication/). Seeds
never repeat across groups, so the groups are independent draws. `results/replication.csv` gives, per claim and
group, the effect and p over points and over pairs, whether the claim holds (on the test over pairs), and in how
many of the R groups it held.

Settings (params.yaml ``studies.replication``): ``runs: [{setup, datasets, groups: [[seeds], ...]}]``.
"""

from __future__ import annotations

from collections.abc import Mapping

from sslmem.report.registry import Result
from sslmem.studies import variants

NAME = "replication"
RESULTS: list[Result] = []

# The JSON schema of studies.replication (declared here: sslmem.plan.load_settings adds it to params' schema).
SETTINGS_SCHEMA = {
    "description": "Tables 2 and 16 repeated with independent groups of seeds (target study_replication)",
    "type": "object",
    "additionalProperties": False,
    "required": ["runs"],
    "properties": {"runs": {
        "type": "array",
        "items": {
            "type": "object", "additionalProperties": False, "required": ["setup", "datasets", "groups"],
            "properties": {
                "setup": {"type": "string", "minLength": 1, "description": "a setup of experiment.setups"},
                "datasets": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string"}},
                "groups": {
                    "description": "further groups of seeds, each an independent replication (group 0: the setup's own)",
                    "type": "array", "minItems": 1,
                    "items": {"type": "array", "minItems": 1, "uniqueItems": True,
                              "items": {"type": "integer", "minimum": 0}}},
            }}}},
}


def runs_of(settings: Mapping) -> list[dict]:
    return list((settings["studies"].get(NAME) or {}).get("runs", []))


def group_setup_name(setup: str, group: int) -> str:
    return f"{setup}-rep{group}"


def replication_setups(settings: Mapping) -> list[dict]:
    """One derived setup per (run, group ≥ 1): the run's setup, its own name and the group's seeds."""
    entries = []
    for run in runs_of(settings):
        base = variants.core_entry(settings, run["setup"])
        if base is None:
            continue  # named by the validator
        for group, seeds in enumerate(run["groups"], start=1):
            entries.append({**base, "name": group_setup_name(run["setup"], group), "datasets": list(run["datasets"]),
                            "seeds": list(seeds), "variant_of": run["setup"], "level": group})
    return entries


def replication_options(settings: Mapping) -> dict:
    """The groups of every run (group 0 the setup itself) and the significance level."""
    from sslmem.config import setup_seeds

    groups = []
    for run in runs_of(settings):
        base = variants.core_entry(settings, run["setup"])
        own = setup_seeds(settings, base) if base else []
        for dataset in run["datasets"]:
            groups.append({"dataset": dataset, "setup": run["setup"], "group": 0, "group_setup": run["setup"],
                           "seeds": list(own)})
            groups += [{"dataset": dataset, "setup": run["setup"], "group": g,
                        "group_setup": group_setup_name(run["setup"], g), "seeds": list(seeds)}
                       for g, seeds in enumerate(run["groups"], start=1)]
    return {"groups": groups, "alpha": settings["stats"]["alpha"]}


def replication_score_files(settings: Mapping) -> list[str]:
    """The core score files of the replicated setups (group 0), then the study's (groups ≥ 1)."""
    from sslmem.artifacts import SCORES
    from sslmem.studies import in_study

    core = [SCORES.format(dataset=d, setup=run["setup"]) for run in runs_of(settings) for d in run["datasets"]]
    own = [in_study(SCORES, NAME).format(dataset=d, setup=entry["name"])
           for entry in replication_setups(settings) for d in entry["datasets"]]
    return list(dict.fromkeys(core + own))


def _study():
    import dataclasses

    study = variants.variant_study(NAME, replication_setups, results=(NAME,))
    # Scores only: no probes, no unit or layer files in its target.
    return dataclasses.replace(study, probed=False, input_sets={"replication_scores": replication_score_files})


STUDY = _study()


def check_replication(settings: Mapping) -> None:
    """Each run names a core setup on its datasets; groups of seeds never repeat a seed (across groups, nor the
    setup's own: a repeated seed would retrain the same encoder, not replicate it)."""
    from sslmem.config import ConfigError, setup_datasets, setup_name, setup_seeds

    for index, run in enumerate(runs_of(settings)):
        where = f"studies.{NAME}.runs[{index}]"
        base = variants.core_entry(settings, run["setup"])
        if base is None or base.get("studies_only"):
            known = [setup_name(e) for e in settings["experiment"]["setups"] if not e.get("studies_only")]
            raise ConfigError(f"{where}.setup: {run['setup']!r} is not a setup with f/g pairs of experiment.setups "
                              f"({known}); group 0 of a replication is its own pairs")
        missing = [d for d in run["datasets"] if d not in setup_datasets(settings, base)]
        if missing:
            raise ConfigError(f"{where}.datasets: setup {run['setup']!r} does not run on {missing}")
        seen = {seed: "the setup's own seeds" for seed in setup_seeds(settings, base)}
        for group, seeds in enumerate(run["groups"], start=1):
            for seed in seeds:
                if seed in seen:
                    raise ConfigError(f"{where}.groups[{group - 1}]: seed {seed} is in {seen[seed]} already; every "
                                      "group needs seeds of its own (an independent draw of training noise)")
                seen[seed] = f"group {group}"


VALIDATORS = (check_replication,)

RESULTS.append(Result(
    name=NAME, kind="table", title="Replication — Tables 2 and 16 in independent groups of seeds",
    category="Studies", default=False,
    caption=("Per dataset, setup, claim of Tables 2 and 16 and group of seeds (group 0: the setup's own f/g pairs; "
             "each further group the setup retrained with seeds of its own, an independent draw of training noise): "
             "the effect and p over points (Welch or one-sample t, as the paper), over f/g pairs (t-test of the "
             "per-pair subset-mean difference) and from the mixed model with the pair as a random effect; whether "
             "the claim holds on the test over pairs (claim_holds), and in how many of the groups it held "
             "(groups_holding of n_groups; over points: groups_holding_points)."),
    builder="sslmem.report.replication:replication_table",
    inputs={"score_paths": "replication_scores"},
    options=replication_options,
))
