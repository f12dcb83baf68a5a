# Study: overlap — Table 7, the overlap of f's and g's training sets (sslmem.studies.overlap). One split per level
# (a setup derived from the run's setup): the core split's draw (same dataset, split seed, pool permutation and S_E)
# with the level's sizes. The level's f/g pairs are trained, aligned, scored and probed by the generic study rules
# (studies.smk) on this split (Study.split); `snakemake study_overlap` builds results/table7.csv.


rule overlap_split:
    output:
        csv=overlap_study.LEVEL_SPLIT,
        meta=overlap_study.LEVEL_SPLIT.removesuffix(".csv") + ".json",
    log:
        "results/logs/studies/overlap/split/{dataset}/{setup}.log",
    params:
        sizes=overlap_split_sizes,
        settings=overlap_split_fingerprint,
    resources:
        mem_mb=8000,
        runtime=30,
    conda:
        SOFTWARE_ENV
    shell:
        cli("split --dataset {wildcards.dataset} --sizes {params.sizes} --setup {wildcards.setup}"
        " --out {output.csv} > {log} 2>&1")
