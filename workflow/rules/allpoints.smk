# Stage: galleries — every scored point of a setup ranked by the best per-point score the project has for it
# (results/allpoints/<dataset>/<setup>.parquet, sslmem.report.allpoints), and the galleries of the most and least
# memorised images read from those files (Figs. 1 and 9, registered with the other results in
# sslmem.report.results). Trains, aligns and scores nothing: `snakemake galleries` reads the score files the core
# pipeline and the halves study wrote. Not in the default run.


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


rule rank_points:
    input:
        unpack(allpoints_inputs),
    output:
        artifacts.ALLPOINTS,
    log:
        "results/logs/allpoints/{dataset}/{setup}.log",
    params:
        arguments=allpoints_arguments,
    # Seconds of pandas: where snakemake runs, not as a cluster job.
    localrule: True
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        SOFTWARE_ENV
    shell:
        cli("allpoints --dataset {wildcards.dataset} --setup {wildcards.setup} {params.arguments} --out {output}"
        " > {log} 2>&1")


# `snakemake allpoints`: the ranked file of every setup of report.galleries.setups.
rule allpoints:
    input:
        INPUT_SETS["allpoints"],


# `snakemake galleries` (DVC stage galleries): the ranked files and Figs. 1 and 9.
rule galleries:
    input:
        INPUT_SETS["allpoints"],
        RESULTS["fig1"].path,
        RESULTS["fig9"].path,
