# Stage: data — the S_S/S_C/S_I/S_E split per dataset, with its content hash.


rule split:
    output:
        csv=artifacts.SPLIT,
        meta="results/splits/{dataset}.json",
    log:
        "results/logs/split/{dataset}.log",
    params:
        settings=split_fingerprint,
    resources:
        mem_mb=8000,
        runtime=30,
    shell:
        "{SSLMEM} split --dataset {wildcards.dataset} --out {output.csv} > {log} 2>&1"


rule settings:
    """The merged settings of the active preset, one JSON per params.yaml section (dependencies of DVC stages)."""
    output:
        expand(
            "results/settings/{section}.json",
            section=[
                "data", "experiment", "splits", "training", "methods", "archs", "augmentations", "measure", "probe",
                "stats", "report",
            ],
        ),
    params:
        settings=lambda wildcards: sslmem_config.fingerprint(SETTINGS),
    localrule: True
    log:
        "results/logs/settings.log",
    shell:
        "{SSLMEM} settings --out-dir results/settings > {log} 2>&1"
