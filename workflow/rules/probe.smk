# Stage: probe — linear-probe accuracy of each encoder on the held-out test split (Table 6 recipe) of its own
# dataset and of each dataset of probe.downstream.<dataset> (one row per probed dataset).


rule probe:
    input:
        artifacts.CHECKPOINT,
    output:
        artifacts.PROBE,
    log:
        "results/logs/probe/{dataset}/{setup}/{role}{seed}.log",
    benchmark:
        "results/benchmarks/probe/{dataset}/{setup}/{role}{seed}.tsv"
    params:
        settings=probe_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=16000,
        runtime=120,
    conda:
        SOFTWARE_ENV
    shell:
        cli("probe --checkpoint {input} --out {output} > {log} 2>&1")
