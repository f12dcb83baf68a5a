# Settings and target lists shared by every rule file.
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # a source checkout works without `pip install -e`
from sslmem import artifacts, config as sslmem_config  # noqa: E402
from sslmem import studies as sslmem_studies  # noqa: E402
from sslmem.report import registry as result_registry  # noqa: E402
from sslmem.studies import halves as halves_study  # noqa: E402
from sslmem.studies import dynamics as dynamics_study  # noqa: E402
from sslmem.studies import measure_views as measure_views_study  # noqa: E402
from sslmem.studies import planted as planted_study  # noqa: E402
from sslmem.studies import overlap as overlap_study  # noqa: E402

# Jobs re-read params.yaml (with the preset), so other --config overrides would be planned but not used.
_on_disk = yaml.safe_load(Path("params.yaml").read_text())
_overridden = [key for key in config if key != "preset" and config[key] != _on_disk.get(key)]
if _overridden:
    raise WorkflowError(
        f"--config may only set `preset`; edit params.yaml for {_overridden} (every job reads its settings there)"
    )
try:
    # load() validates once and caches the result, so the jobs (and later runs) start without re-validating.
    # Dataset roots are not checked here but by each job that reads images (split, train, align, probe) as it
    # starts, and by `sslmem check`: planning, `--report` and rebuilding tables from pulled results need no data.
    SETTINGS = sslmem_config.load("params.yaml", preset=config["preset"], check_roots=False)
except sslmem_config.ConfigError as error:
    raise WorkflowError(f"params.yaml: {error}") from None

PRESET = SETTINGS["preset"]
# Every sslmem call gets the same params file and preset the workflow was validated with.
SSLMEM = f"sslmem --params params.yaml --preset {PRESET}"


def cli(arguments):
    """A rule's shell command: `sslmem` with the workflow's params and preset, then `arguments` (a Snakemake
    shell template). Joined here, while the workflow is parsed, so that the command is a plain string."""
    return f"{SSLMEM} {arguments}"

# The software every job runs with (`snakemake --sdm conda`); without --sdm, jobs use the environment Snakemake
# runs in. Relative to the rule files.
SOFTWARE_ENV = "../envs/sslmem.yaml"
EXPERIMENT = SETTINGS["experiment"]
DATASETS = EXPERIMENT["datasets"]
# Every encoder to train: (dataset, setup, seed, role) over each setup's own datasets and seeds.
RUNS = sslmem_config.experiment_runs(SETTINGS)
# (dataset, setup) pairs, in params.yaml order; a setup is named `<method>-<arch>` unless it sets `name`.
SETUP_RUNS = list(dict.fromkeys((run.dataset, run.setup) for run in RUNS))


wildcard_constraints:
    dataset="[a-z0-9_]+",
    setup="[a-z0-9][a-z0-9_.-]*",
    role=artifacts.ROLE_PATTERN,
    seed="[0-9]+",
    study="[a-z][a-z_]*",


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


def table12_files(pattern):
    """`pattern` for every (dataset, setup) of report.table12.setups (the supervised setups Table 12 compares)."""
    compared = SETTINGS["report"]["table12"]["setups"]
    return [pattern.format(dataset=d, setup=s) for s in compared for d, setup in SETUP_RUNS if setup == s]


def gallery_files(pattern):
    """`pattern` for every (dataset, setup) of report.galleries.setups (the setups Figs. 1 and 9 show), in order:
    the core's setups and those only the halves study scores (a studies_only setup)."""
    shown = SETTINGS["report"]["galleries"]["setups"]
    scored = list(dict.fromkeys([*SETUP_RUNS, *halves_study.ranked_pairs(SETTINGS)]))
    return [pattern.format(dataset=d, setup=s) for s in shown for d, setup in scored if setup == s]


def table4_files(pattern):
    """`pattern` for every (dataset, setup) Table 4 compares (report.table4; the Déjà Vu files, their score files)."""
    return [pattern.format(dataset=d, setup=s) for d, s in sslmem_config.plan.table4_pairs(SETTINGS)]


def table4_probe_files():
    """The probe file of every f encoder of Table 4's setups (its accuracy column)."""
    pairs = set(sslmem_config.plan.table4_pairs(SETTINGS))
    return [artifacts.PROBE.format(**vars(run)) for run in RUNS if (run.dataset, run.setup) in pairs and run.role == "f"]


def classmem_files():
    """The ClassMem file of every f encoder of report.classmem's setups (on report.classmem.datasets), in order."""
    pairs = sslmem_config.plan.classmem_pairs(SETTINGS)
    return [artifacts.CLASSMEM.format(dataset=d, setup=s, seed=run.seed) for d, s in pairs for run in RUNS
            if (run.dataset, run.setup, run.role) == (d, s, "f")]


# The input sets results read (sslmem.report.registry.INPUT_SETS), expanded over this preset's runs.
INPUT_SETS = {
    "scores": all_score_files(),
    "layer_scores": all_layer_score_files(),
    "probes": all_probe_files(),
    "units": all_encoder_files(artifacts.UNITS),
    "train_logs": all_encoder_files(artifacts.TRAIN_LOG),
    "feldman": table12_files(artifacts.FELDMAN),
    "feldman_scores": table12_files(artifacts.SCORES),
    "allpoints": gallery_files(artifacts.ALLPOINTS),
    "dejavu": table4_files(artifacts.DEJAVU),
    "dejavu_scores": table4_files(artifacts.SCORES),
    "dejavu_probes": table4_probe_files(),
    "classmem": classmem_files(),
}
RESULTS = result_registry.load_results()
STUDIES = sslmem_studies.load_studies()
# Each study's own input sets (e.g. the probes of its encoders), expanded the same way.
for _study in STUDIES.values():
    INPUT_SETS.update({name: files(SETTINGS) for name, files in _study.input_sets.items()})
if set(INPUT_SETS) != result_registry.input_set_names():
    raise WorkflowError(f"common.smk expands {sorted(INPUT_SETS)}, the registry names {sorted(result_registry.input_set_names())}")
# The default results: what `snakemake` (rule all) and DVC's report stage (rule reports) build. A study's own
# results (default=False) are built by naming them or its target (`snakemake study_removal`), by the study's own
# DVC stage, and by rule all when studies.in_all is set (the paper preset).
DEFAULT_TARGETS = [result.path for result in RESULTS.values() if result.default]
# What each study's target builds: its results and the files of its input sets.
STUDY_TARGETS = {
    name: [RESULTS[result].path for result in study.results]
    + [file for files in study.input_sets.values() for file in files(SETTINGS)]
    for name, study in STUDIES.items()
}
ALL_TARGETS = DEFAULT_TARGETS + (
    [file for files in STUDY_TARGETS.values() for file in files] if SETTINGS["studies"]["in_all"] else []
)


def run_spec(wildcards, study=None):
    """The encoder a job's wildcards name: a core one, or one a study plans (wildcard `study`, or `study`)."""
    study = study or getattr(wildcards, "study", None)
    if study:
        return sslmem_studies.study_run(
            SETTINGS, study, wildcards.dataset, wildcards.setup, int(wildcards.seed), wildcards.role
        )
    return sslmem_config.RunSpec.for_setup(
        SETTINGS, wildcards.dataset, wildcards.setup, int(wildcards.seed), wildcards.role
    )


def training_set_recipe(wildcards):
    study = getattr(wildcards, "study", None)
    return sslmem_studies.recipe_for(SETTINGS, run_spec(wildcards), study)


def study_training_set_inputs(wildcards):
    return dict(training_set_recipe(wildcards).inputs)


def training_set_fingerprint(wildcards):
    recipe = training_set_recipe(wildcards)
    return sslmem_config.fingerprint({"kind": recipe.kind, "options": recipe.options, "inputs": recipe.inputs})


study_training_set_fingerprint = training_set_fingerprint


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


def align_fingerprint(wildcards, study=None):
    augment = run_spec(wildcards, study).training_settings(SETTINGS)["augment"]
    # The representation scored by this setup, not the whole per-method mapping (adding another method's entry
    # must not rerun this setup's alignments).
    # Nor the other view families and Table 8's runs: they make alignments of their own, not these.
    measure = {key: value for key, value in SETTINGS["measure"].items()
               if key not in ("representation", "view_families", "table8")}
    representation = sslmem_config.setup_representation(SETTINGS, wildcards.setup)
    return sslmem_config.fingerprint({"measure": measure, "representation": representation, "augment": augment})


def probe_fingerprint(wildcards):
    # The recipe this encoder's method is probed with. probe.roles picks which encoders are probed, not how:
    # changing it must not rerun the existing probes. Of probe.downstream only this dataset's list: editing another
    # dataset's list must not rerun these probes either.
    recipe = sslmem_config.probe_recipe(SETTINGS, run_spec(wildcards).method)
    probe = {key: value for key, value in recipe.items() if key != "roles"}
    downstream = sslmem_config.probe_downstream(SETTINGS, wildcards.dataset)
    batch = SETTINGS["measure"]["batch_size"]
    return sslmem_config.fingerprint({"probe": probe, "downstream": downstream, "batch": batch})


def pool_align_fingerprint(wildcards):
    return align_fingerprint(wildcards, study=wildcards.study)


def study_split(wildcards):
    """The split a study's encoders read: its own (the planted study's) or the core one."""
    return sslmem_studies.split_for(SETTINGS, wildcards.dataset, wildcards.setup, wildcards.study)


def inout_encoder_files(pattern, study, dataset, setup):
    """`pattern` (a study path) for every encoder of the study's in/out roles on one (dataset, setup)."""
    roles = STUDIES[study].in_out_roles
    files = [pattern.format(dataset=run.dataset, setup=run.setup, role=run.role, seed=run.seed, study=study)
             for run in STUDIES[study].runs(SETTINGS) if (run.dataset, run.setup) == (dataset, setup) and run.role in roles]
    if not files:
        raise WorkflowError(f"study {study!r} has no in/out encoders of setup {setup!r} on {dataset!r}")
    return files


study_train_fingerprint = train_fingerprint
study_probe_fingerprint = probe_fingerprint


def study_encoder_files(pattern, study, dataset, setup):
    """`pattern` (a core path pattern) under the study's folder, for every encoder of one of its setups."""
    files = [
        sslmem_studies.in_study(pattern, study).format(dataset=run.dataset, setup=run.setup, role=run.role, seed=run.seed)
        for run in STUDIES[study].runs(SETTINGS)
        if (run.dataset, run.setup) == (dataset, setup) and run.role in sslmem_studies.SCORED_ROLES
    ]
    if not files:
        raise WorkflowError(f"study {study!r} plans no encoder of setup {setup!r} on {dataset!r}")
    return files


def study_align_fingerprint(wildcards):
    return align_fingerprint(wildcards, study=wildcards.study)


# Used by overlap.smk (Table 7: a split per overlap level, the core's draw with the level's sizes).
def overlap_split_sizes(wildcards):
    """The level's subset sizes as `sslmem split --sizes` takes them: shared candidate independent extra."""
    sizes = overlap_study.split_sizes_of(SETTINGS, wildcards.dataset, wildcards.setup)
    return f"{sizes.shared} {sizes.candidate} {sizes.independent} {sizes.extra}"


def overlap_split_fingerprint(wildcards):
    # What the split is a function of: the dataset, the split seed and the sizes (not the level's name).
    return sslmem_config.fingerprint({"sizes": overlap_split_sizes(wildcards), "split_seed": EXPERIMENT["split_seed"],
                                      "dataset": wildcards.dataset})


# Used by feldman.smk.
def feldman_fingerprint(wildcards):
    # Only the inference batch: the checkpoints and the split are inputs, and the images are the clean candidates.
    return sslmem_config.fingerprint({"batch_size": SETTINGS["measure"]["batch_size"]})


# Used by dejavu.smk.
def dejavu_fingerprint(wildcards):
    # What the kNN guesses depend on besides the checkpoints and the split: the public set (size, seed), k, the crop
    # and the representation embedded. Not confident_fraction: only Table 4 reads it.
    table4 = {key: value for key, value in SETTINGS["report"]["table4"].items()
              if key not in ("setups", "datasets", "confident_fraction")}
    representation = sslmem_config.setup_representation(SETTINGS, wildcards.setup)
    return sslmem_config.fingerprint({"table4": table4, "representation": representation,
                                      "batch_size": SETTINGS["measure"]["batch_size"]})


# Used by classmem.smk.
def classmem_checkpoint(wildcards):
    """The checkpoint of the f encoder a ClassMem file is of; one of report.classmem's setups, else refused."""
    if (wildcards.dataset, wildcards.setup) not in sslmem_config.plan.classmem_pairs(SETTINGS):
        raise WorkflowError(f"setup {wildcards.setup!r} on {wildcards.dataset!r} is not one of report.classmem's "
                            f"{sslmem_config.plan.classmem_pairs(SETTINGS)} in preset {PRESET!r}")
    path = artifacts.CHECKPOINT.format(dataset=wildcards.dataset, setup=wildcards.setup, role="f",
                                       seed=wildcards.seed)
    if path not in encoder_files(artifacts.CHECKPOINT, wildcards.dataset, wildcards.setup):
        raise WorkflowError(f"setup {wildcards.setup!r} on {wildcards.dataset!r} has no encoder f{wildcards.seed}")
    return path


def classmem_fingerprint(wildcards):
    # What the per-unit means depend on besides the checkpoint and the split: the sample (subset, points per class,
    # seed), the views (number, seed, pairing, batch), and how the other points or classes are averaged. Not the
    # setups and datasets: which files exist, not what is in them.
    classmem = {key: value for key, value in SETTINGS["report"]["classmem"].items()
                if key not in ("setups", "datasets")}
    measure = SETTINGS["measure"]
    views = {key: measure[key] for key in ("num_views", "seed", "pairing", "batch_size")}
    return sslmem_config.fingerprint({"classmem": classmem, "views": views, "others": measure["unitmem"]["others"]})


# Used by allpoints.smk.
def allpoints_inputs(wildcards):
    """The in/out scores (and their reliability) where the halves study ranks the setup, else the core scores."""
    key = (wildcards.dataset, wildcards.setup)
    if key in halves_study.ranked_pairs(SETTINGS):
        return {"inout": halves_study.INOUT_SCORES.format(**wildcards), "reliability": RESULTS["reliability"].path}
    if key not in SETUP_RUNS:
        raise WorkflowError(f"no setup {wildcards.setup!r} on {wildcards.dataset!r} in preset {PRESET!r}; it has "
                            f"{sorted(set(SETUP_RUNS))}")
    return {"scores": artifacts.SCORES.format(**wildcards)}


def allpoints_arguments(wildcards):
    # The same files as the input, as the verb's options (--inout/--reliability or --scores): which estimator
    # ranks the points is decided here, from the settings, and the params trigger reruns the job when it changes.
    return " ".join(f"--{name} {path}" for name, path in allpoints_inputs(wildcards).items())


# Used by measure_views.smk.
def view_align_fingerprint(wildcards):
    return sslmem_config.fingerprint(measure_views_study.align_settings(SETTINGS, wildcards.family, wildcards.setup))


# Used by dynamics.smk (Fig. 2b: snapshots of the study's encoders, each aligned, scored and probed).
def dynamics_snapshot_epochs(wildcards):
    """The epochs after which the train job keeps a snapshot, as the --snapshot-epochs arguments."""
    return " ".join(str(epoch) for epoch in dynamics_study.snapshot_epochs(SETTINGS, wildcards.setup))


def dynamics_train_fingerprint(wildcards):
    # The encoder's training settings (as every train job's) and the snapshot epochs: another `every` reruns it.
    run = run_spec(wildcards, study=dynamics_study.NAME)
    return sslmem_config.fingerprint({"training": run.training_settings(SETTINGS),
                                      "snapshots": dynamics_study.snapshot_epochs(SETTINGS, wildcards.setup)})


def dynamics_snapshot(wildcards):
    """The snapshot file of one encoder at one epoch, inside the train job's snapshots folder."""
    return dynamics_study.SNAPSHOT.format(dataset=wildcards.dataset, setup=wildcards.setup, role=wildcards.role,
                                          seed=wildcards.seed, epoch=wildcards.epoch)


def dynamics_align_fingerprint(wildcards):
    return align_fingerprint(wildcards, study=dynamics_study.NAME)
