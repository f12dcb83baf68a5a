# Settings and target lists shared by every rule file.
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # a source checkout works without `pip install -e`
from sslmem import config as sslmem_config  # noqa: E402

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
    SETTINGS = sslmem_config.resolve(config, check_roots=not DRY_RUN)
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
ROLES = ["f", "g"]


wildcard_constraints:
    dataset="[a-z0-9_]+",
    setup="[a-z0-9][a-z0-9_.-]*",
    role="[fg]",
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
    return [f"results/scores/{d}/{s}.parquet" for d, s in SETUP_RUNS]


def all_layer_score_files():
    return [f"results/layer_scores/{d}/{s}.parquet" for d, s in SETUP_RUNS]


def all_probe_files():
    roles = SETTINGS["probe"]["roles"]
    return [
        path
        for path, run in zip(all_encoder_files("results/probe/{dataset}/{setup}/{role}{seed}.csv"), RUNS)
        if run.role in roles
    ]


TABLE_TARGETS = [
    "results/table1.csv",
    "results/table2.csv",
    "results/table16.csv",
    "results/table15.csv",
    "results/table11.csv",
    "results/table13.csv",
    "results/layermem.csv",
    "results/layermem_fig.png",
    "results/unitmem.csv",
    "results/subsets.csv",
    "results/fig2a.png",
    "results/fig2c.png",
]
DEFAULT_TARGETS = TABLE_TARGETS


def run_spec(wildcards):
    return sslmem_config.RunSpec.for_setup(
        SETTINGS, wildcards.dataset, wildcards.setup, int(wildcards.seed), wildcards.role
    )


# Settings fingerprints, passed to rules as `params` so that Snakemake's params rerun-trigger reruns exactly
# the jobs whose settings changed (see workflow/profiles/default/config.yaml).
def split_fingerprint(wildcards):
    return sslmem_config.fingerprint(
        {"splits": SETTINGS["splits"], "split_seed": EXPERIMENT["split_seed"], "dataset": wildcards.dataset}
    )


def train_fingerprint(wildcards):
    return sslmem_config.fingerprint(run_spec(wildcards).training_settings(SETTINGS))


def align_fingerprint(wildcards):
    augment = run_spec(wildcards).training_settings(SETTINGS)["augment"]
    return sslmem_config.fingerprint({"measure": SETTINGS["measure"], "augment": augment})


def probe_fingerprint(wildcards):
    # probe.roles picks which encoders are probed, not how: changing it must not rerun the existing probes.
    probe = {key: value for key, value in SETTINGS["probe"].items() if key != "roles"}
    return sslmem_config.fingerprint({"probe": probe, "batch": SETTINGS["measure"]["batch_size"]})
