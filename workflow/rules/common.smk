# Settings and target lists shared by every rule file.
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # a source checkout works without `pip install -e`
from sslmem import artifacts, config as sslmem_config  # noqa: E402
from sslmem.report import registry as result_registry  # noqa: E402

# A dry run only plans jobs, so it may be done where the data is not (e.g. planning the paper preset here).
# workflow.dryrun is not known yet while the Snakefile is parsed, hence the look at the command line.
DRY_RUN = workflow.dryrun or any(
    arg in ("--dry-run", "--dryrun") or (arg.startswith("-") and not arg.startswith("--") and "n" in arg[1:])
    for arg in sys.argv
)
# Jobs re-read params.yaml (with the preset), so other --config overrides would be planned but not used.
_on_disk = yaml.safe_load(Path("params.yaml").read_text())
_overridden = [key for key in config if key != "preset" and config[key] != _on_disk.get(key)]
if _overridden:
    raise WorkflowError(
        f"--config may only set `preset`; edit params.yaml for {_overridden} (every job reads its settings there)"
    )
try:
    # load() validates once and caches the result, so the jobs (and later runs) start without re-validating.
    SETTINGS = sslmem_config.load("params.yaml", preset=config["preset"], check_roots=not DRY_RUN)
except sslmem_config.ConfigError as error:
    raise WorkflowError(f"params.yaml: {error}") from None

PRESET = SETTINGS["preset"]
# Every sslmem call gets the same params file and preset the workflow was validated with.
SSLMEM = f"sslmem --params params.yaml --preset {PRESET}"
EXPERIMENT = SETTINGS["experiment"]
DATASETS = EXPERIMENT["datasets"]
# Every encoder to train: (dataset, setup, seed, role) over each setup's own datasets and seeds.
RUNS = sslmem_config.experiment_runs(SETTINGS)
# (dataset, setup) pairs, in params.yaml order; a setup is named `<method>-<arch>` unless it sets `name`.
SETUP_RUNS = list(dict.fromkeys((run.dataset, run.setup) for run in RUNS))


wildcard_constraints:
    dataset="[a-z0-9_]+",
    setup="[a-z0-9][a-z0-9_.-]*",
    role="|".join(artifacts.ROLES),
    seed="[0-9]+",


def encoder_files(pattern, dataset, setup):
    """`pattern` filled in for every encoder (seed, role) of one setup on one dataset."""
    files = [
        pattern.format(dataset=run.dataset, setup=run.setup, role=run.role, seed=run.seed)
        for run in RUNS
        if (run.dataset, run.setup) == (dataset, setup)
    ]
    if not files:
        raise WorkflowError(
            f"no setup {setup!r} on dataset {dataset!r} in preset {PRESET!r}; it has {sorted(set(SETUP_RUNS))}"
        )
    return files


def all_encoder_files(pattern):
    return [pattern.format(dataset=r.dataset, setup=r.setup, role=r.role, seed=r.seed) for r in RUNS]


def all_score_files():
    return [artifacts.SCORES.format(dataset=d, setup=s) for d, s in SETUP_RUNS]


def all_layer_score_files():
    return [artifacts.LAYER_SCORES.format(dataset=d, setup=s) for d, s in SETUP_RUNS]


def all_probe_files():
    roles = SETTINGS["probe"]["roles"]
    return [artifacts.PROBE.format(**vars(run)) for run in RUNS if run.role in roles]


# The input sets results read (sslmem.report.registry.INPUT_SETS), expanded over this preset's runs.
INPUT_SETS = {
    "scores": all_score_files(),
    "layer_scores": all_layer_score_files(),
    "probes": all_probe_files(),
    "units": all_encoder_files(artifacts.UNITS),
}
RESULTS = result_registry.load_results()
if set(INPUT_SETS) != set(result_registry.INPUT_SETS):
    raise WorkflowError(f"common.smk expands {sorted(INPUT_SETS)}, the registry names {sorted(result_registry.INPUT_SETS)}")
# The default results: what `snakemake` (rule all) and DVC's report stage (rule reports) build. A study's own
# results (default=False) are built by naming them, or by the study's own DVC stage.
DEFAULT_TARGETS = [result.path for result in RESULTS.values() if result.default]


def run_spec(wildcards):
    return sslmem_config.RunSpec.for_setup(
        SETTINGS, wildcards.dataset, wildcards.setup, int(wildcards.seed), wildcards.role
    )


# Settings fingerprints, passed to rules as `params` so that Snakemake's params rerun-trigger reruns exactly
# the jobs whose settings changed (see workflow/profiles/default/config.yaml).
def split_fingerprint(wildcards):
    # This dataset's sizes only: editing another dataset's pool or counts must not redraw this split.
    splits = SETTINGS["splits"]
    counts = sslmem_config.split_counts_for(SETTINGS, wildcards.dataset)
    sizes = {"pool_size": sslmem_config.pool_size_for(SETTINGS, wildcards.dataset), "fractions": splits["fractions"],
             "extra_size": splits["extra_size"], **({"counts": counts} if counts else {})}
    return sslmem_config.fingerprint({"splits": sizes, "split_seed": EXPERIMENT["split_seed"], "dataset": wildcards.dataset})


def train_fingerprint(wildcards):
    return sslmem_config.fingerprint(run_spec(wildcards).training_settings(SETTINGS))


def align_fingerprint(wildcards):
    augment = run_spec(wildcards).training_settings(SETTINGS)["augment"]
    # The representation scored by this setup, not the whole per-method mapping (adding another method's entry
    # must not rerun this setup's alignments).
    measure = {key: value for key, value in SETTINGS["measure"].items() if key != "representation"}
    representation = sslmem_config.setup_representation(SETTINGS, wildcards.setup)
    return sslmem_config.fingerprint({"measure": measure, "representation": representation, "augment": augment})


def probe_fingerprint(wildcards):
    # The recipe this encoder's method is probed with. probe.roles picks which encoders are probed, not how:
    # changing it must not rerun the existing probes.
    recipe = sslmem_config.probe_recipe(SETTINGS, run_spec(wildcards).method)
    probe = {key: value for key, value in recipe.items() if key != "roles"}
    return sslmem_config.fingerprint({"probe": probe, "batch": SETTINGS["measure"]["batch_size"]})
