# sslmem workflow. Every rule comes from the plan (sslmem.plan), built from params.yaml validated by
# sslmem.config (its messages name the key; not snakemake.utils.validate, whose first message is a schema dump).
# Choose the preset with
#   snakemake --config preset=paper ...
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")


# By its full path: a preset other than the root one runs in runs/<preset>/ (the report reads the file again there).
configfile: os.path.join(workflow.basedir, "params.yaml")


sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # a source checkout works without `pip install -e`
from sslmem import artifacts as sslmem_artifacts  # noqa: E402
from sslmem import config as sslmem_config  # noqa: E402
from sslmem import plan as sslmem_plan  # noqa: E402
from sslmem.jobs import DEFAULT_CONSTRAINTS  # noqa: E402

# Jobs re-read params.yaml (with the preset), so other --config overrides would be planned but not used.
_on_disk = yaml.safe_load((Path(workflow.basedir) / "params.yaml").read_text())
_overridden = [key for key in config if key != "preset" and config[key] != _on_disk.get(key)]
if _overridden:
    raise WorkflowError(
        f"--config may only set `preset`; edit params.yaml for {_overridden} (every job reads its settings there)"
    )
try:
    # Validated once and cached, so the jobs start without re-validating. Dataset roots are checked by each job
    # that reads images and by `sslmem check`: planning, `--report` and rebuilding tables need no data.
    SETTINGS = sslmem_plan.load_settings(Path(workflow.basedir) / "params.yaml", preset=config["preset"],
                                         check_roots=False)
    PLAN = sslmem_plan.build(SETTINGS)
except sslmem_config.ConfigError as error:
    raise WorkflowError(f"params.yaml: {error}") from None

# Every preset works in a folder of its own (sslmem.artifacts.preset_root): the default preset at the root, any
# other in runs/<preset>/, so targets such as results/table1.csv are that preset's and presets never share files.
PARAMS = (Path(workflow.basedir) / "params.yaml").resolve()
PRESET_ROOT = sslmem_artifacts.preset_root(PLAN.preset, SETTINGS["root_preset"])
if PRESET_ROOT != ".":
    workflow.workdir(str(PARAMS.parent / PRESET_ROOT))
# Every sslmem call gets the same params file and preset the workflow was validated with, by paths relative to the
# preset's folder (the commands, which Snakemake compares to decide reruns, do not depend on where the repository
# is); outside the repository's root, relative dataset roots of params.yaml stay relative to the repository
# (SSLMEM_PROJECT_DIR, read by sslmem.data.catalog.resolve_root).
_REPOSITORY = os.path.relpath(PARAMS.parent, PARAMS.parent / PRESET_ROOT)
SSLMEM = ("" if PRESET_ROOT == "." else f"SSLMEM_PROJECT_DIR={_REPOSITORY} ") + (
    f"sslmem --params {os.path.relpath(PARAMS, PARAMS.parent / PRESET_ROOT)} --preset {PLAN.preset}")
# The software every job runs with (`snakemake --sdm conda`); without --sdm, jobs use the environment Snakemake
# runs in. Relative to the rule files; environment.post-deploy.sh beside it puts `sslmem` on the env's PATH.
SOFTWARE_ENV = "../../environment.yml" if (Path(workflow.basedir) / "environment.yml").is_file() else None


wildcard_constraints:
    **DEFAULT_CONSTRAINTS,


report: "workflow/report/workflow.rst"


rule all:
    input:
        PLAN.targets["all"],


include: "workflow/rules/jobs.smk"
