# Stage: probe — linear-probe accuracy of each encoder on the held-out test split (Table 6 recipe).


rule probe:
    input:
        artifacts.CHECKPOINT,
    output:
        artifacts.PROBE,
    log:
        "results/logs/probe/{dataset}/{setup}/{role}{seed}.log",
    params:
        settings=probe_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=16000,
        runtime=120,
    shell:
        "{SSLMEM} probe --checkpoint {input} --out {output} > {log} 2>&1"
