# Stage: feldman — Feldman & Zhang's label memorisation of each supervised setup of report.table12.setups on S_C
# and the control S_E (App. B.3): the true label's softmax probability under f minus under g, per f/g pair and
# averaged. Its results, Table 12 and Fig. 8, are registered with the others (sslmem.report.results) and left out
# of the default run: `snakemake feldman` builds them (DVC stage feldman).


rule feldman_score:
    input:
        checkpoints=lambda w: encoder_files(artifacts.CHECKPOINT, w.dataset, w.setup),
        split=artifacts.SPLIT,
    output:
        artifacts.FELDMAN,
    log:
        "results/logs/feldman/{dataset}/{setup}.log",
    benchmark:
        "results/benchmarks/feldman/{dataset}/{setup}.tsv"
    params:
        settings=feldman_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=8000,
        runtime=30,
    conda:
        SOFTWARE_ENV
    shell:
        cli("feldman --checkpoints {input.checkpoints} --split {input.split} --out {output} > {log} 2>&1")


# `snakemake feldman`: Table 12 and Fig. 8 (and the Feldman files they read).
rule feldman:
    input:
        RESULTS["table12"].path,
        RESULTS["fig8"].path,
