# Stage: data — the S_S/S_C/S_I/S_E split per dataset, with its content hash, and each encoder's training set.


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
    conda:
        SOFTWARE_ENV
    shell:
        cli("split --dataset {wildcards.dataset} --out {output.csv} > {log} 2>&1")


rule training_set:
    """The SSLMem protocol's training sets of one encoder: f (S_S then S_C) or g (S_S then S_I), slot-aligned."""
    input:
        split=artifacts.SPLIT,
    output:
        csv=artifacts.TRAINING_SET,
        meta=artifacts.TRAINING_SET_SIDECAR,
    log:
        "results/logs/training_set/{dataset}/{setup}/{role}{seed}.log",
    wildcard_constraints:
        role="|".join(artifacts.ROLES),
    params:
        settings=training_set_fingerprint,
    localrule: True
    conda:
        SOFTWARE_ENV
    shell:
        cli("training-set --dataset {wildcards.dataset} --setup {wildcards.setup} --seed {wildcards.seed}"
        " --role {wildcards.role} --out {output.csv} > {log} 2>&1")


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
    conda:
        SOFTWARE_ENV
    shell:
        cli("settings --out-dir results/settings > {log} 2>&1")
