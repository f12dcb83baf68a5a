# Stage: galleries — every scored point of a setup ranked by the best per-point score the project has for it
# (results/allpoints/<dataset>/<setup>.parquet, sslmem.report.allpoints), and the galleries of the most and least
# memorised images read from those files (Figs. 1 and 9, registered with the other results in
# sslmem.report.results). Trains, aligns and scores nothing: `snakemake galleries` reads the score files the core
# pipeline and the halves study wrote. Not in the default run.


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
