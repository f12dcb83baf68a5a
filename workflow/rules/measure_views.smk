# Table 8 (sslmem.studies.measure_views): the core encoders of measure.table8's runs aligned again with the views
# of each family of measure.view_families instead of their training augmentation, and scored with the core score
# code. No training: the inputs are the core checkpoints. Target: `snakemake study_measure_views` (report.smk).


rule view_align:
    """One core encoder's alignment over measure.num_views views of one family (no LayerMem, no UnitMem)."""
    input:
        checkpoint=artifacts.CHECKPOINT,
        split=artifacts.SPLIT,
    output:
        artifacts.VIEW_ALIGN,
    log:
        "results/logs/studies/measure_views/{family}/align/{dataset}/{setup}/{role}{seed}.log",
    benchmark:
        "results/benchmarks/studies/measure_views/{family}/align/{dataset}/{setup}/{role}{seed}.tsv"
    wildcard_constraints:
        family="[a-z][a-z0-9_]*",
        role="|".join(artifacts.ROLES),
    params:
        settings=view_align_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=16000,
        runtime=120,
    conda:
        SOFTWARE_ENV
    shell:
        cli("align --view-family {wildcards.family} --checkpoint {input.checkpoint} --split {input.split}"
        " --out {output} > {log} 2>&1")


rule view_score:
    """SSLMem per point of one setup from its encoders' alignments under one family (ensemble and per pair)."""
    input:
        lambda w: measure_views_study.view_align_files(SETTINGS, w.family, w.dataset, w.setup),
    output:
        artifacts.VIEW_SCORES,
    log:
        "results/logs/studies/measure_views/{family}/score/{dataset}/{setup}.log",
    wildcard_constraints:
        family="[a-z][a-z0-9_]*",
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        SOFTWARE_ENV
    shell:
        cli("score --align {input} --out {output} > {log} 2>&1")
