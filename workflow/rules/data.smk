# Stage: data — the S_S/S_C/S_I/S_E split per dataset, with its content hash.


rule split:
    output:
        csv="results/splits/{dataset}.csv",
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
