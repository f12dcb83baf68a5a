# Stage: classmem — ClassMem beside UnitMem (localization paper, Fig. 3): every unit of each f encoder of the setups
# of report.classmem.setups measured on one class-balanced sample of its training points (report.classmem.subset,
# points_per_class of each class, seeded), UnitMem over the points and ClassMem over the classes. Its results, the
# table and Fig. 3, are registered with the others (sslmem.report.results) and left out of the default run:
# `snakemake classmem` builds them (DVC stage classmem).


rule classmem_units:
    input:
        checkpoint=classmem_checkpoint,
        split=artifacts.SPLIT,
    output:
        artifacts.CLASSMEM,
    log:
        "results/logs/classmem/{dataset}/{setup}/f{seed}.log",
    benchmark:
        "results/benchmarks/classmem/{dataset}/{setup}/f{seed}.tsv"
    params:
        settings=classmem_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=8000,
        runtime=30,
    conda:
        SOFTWARE_ENV
    shell:
        cli("classmem --checkpoint {input.checkpoint} --split {input.split} --out {output} > {log} 2>&1")


# `snakemake classmem`: the ClassMem table and figure (and the per-encoder files and checkpoints they read).
rule classmem:
    input:
        RESULTS["classmem_vs_unitmem"].path,
        RESULTS["classmem_fig"].path,
