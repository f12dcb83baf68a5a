# Stage: dejavu — Déjà Vu memorisation (Meehan et al. 2023) of each setup of report.table4.setups (SSLMem Sec. 4.5):
# a kNN over a labelled public set guesses the label of every point of S_C and of the control S_E from its corner
# crop, with each f and g encoder of the setup. Its result, Table 4, is registered with the others
# (sslmem.report.results) and left out of the default run: `snakemake dejavu` builds it (DVC stage dejavu).


rule dejavu_score:
    input:
        checkpoints=lambda w: encoder_files(artifacts.CHECKPOINT, w.dataset, w.setup),
        split=artifacts.SPLIT,
    output:
        artifacts.DEJAVU,
    log:
        "results/logs/dejavu/{dataset}/{setup}.log",
    benchmark:
        "results/benchmarks/dejavu/{dataset}/{setup}.tsv"
    params:
        settings=dejavu_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=8000,
        runtime=30,
    conda:
        SOFTWARE_ENV
    shell:
        cli("dejavu --checkpoints {input.checkpoints} --split {input.split} --out {output} > {log} 2>&1")


# `snakemake dejavu`: Table 4 (and the Déjà Vu files, score files and probes it reads).
rule dejavu:
    input:
        RESULTS["table4"].path,
