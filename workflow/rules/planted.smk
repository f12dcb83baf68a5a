# Study: planted — the core split with studies.planted.count candidates replaced by another dataset's images
# (sslmem.studies.planted). Its encoders (f/g pairs and pairs of halves) are trained, aligned and scored by the
# generic study rules (studies.smk) on this split; `snakemake study_planted` builds results/planted.csv and
# results/planted_fig.png.


rule planted_split:
    input:
        split=artifacts.SPLIT,
    output:
        csv=planted_study.PLANTED_SPLIT,
        meta=planted_study.PLANTED_SPLIT.removesuffix(".csv") + ".json",
    log:
        "results/logs/studies/planted/split/{dataset}.log",
    params:
        settings=lambda w: sslmem_config.fingerprint(planted_study.plant_options(SETTINGS)),
    localrule: True
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        SOFTWARE_ENV
    shell:
        cli("plant --dataset {wildcards.dataset} --split {input.split} --out {output.csv} > {log} 2>&1")
