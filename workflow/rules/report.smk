# Stage: report — every table and figure of sslmem.report.registry, one rule each, generated from the registry:
# the rule is named after the result, reads the input sets (or other results) the registry names, passes the
# builder's options as its settings fingerprint, and flags its output for `snakemake --report` with the
# registry's caption (rendered through workflow/report/result.rst). Adding a table needs no edit here.
# The report needs only the result files, not Snakemake's .snakemake/ metadata: it works on results restored
# with `dvc pull` (runtimes and provenance are then left out).


report: "../report/workflow.rst"


def _report_inputs(result):
    return {
        argument: RESULTS[source].path if source in RESULTS else INPUT_SETS[source]
        for argument, source in result.inputs.items()
    }


def _report_command(result):
    inputs = " ".join(f"--input {argument} {{input.{argument}}}" for argument in result.inputs)
    return f"{SSLMEM} report {result.name} {inputs} --out {{output}} > {{log}} 2>&1"


def _report_rule(result):
    # One rule per result, defined inside a function so that the shell command (evaluated again when the job
    # runs) reads this call's `result`, not the last value of a loop variable.
    rule:
        name:
            result.name
        # Seconds of pandas/matplotlib: on a cluster these run where snakemake runs, not as Slurm jobs.
        localrule: True
        input:
            **_report_inputs(result),
        output:
            report(result.path, caption="../report/result.rst", category=result.category),
        log:
            f"results/logs/report/{result.name}.log",
        params:
            settings=sslmem_config.fingerprint(result.options(SETTINGS)),
            caption=result.caption_rst(),
        resources:
            mem_mb=4000,
            runtime=30,
        conda:
            SOFTWARE_ENV
        shell:
            _report_command(result)


for _result in RESULTS.values():
    _report_rule(_result)


def _study_target(name, files):
    # `snakemake study_<name>`: everything the study builds (its DVC stage runs this target).
    rule:
        name:
            f"study_{name}"
        input:
            files,


for _name, _files in STUDY_TARGETS.items():
    _study_target(_name, _files)
