# Stage: score — SSLMem per point from all f and g alignments of one setup (ensemble and per-pair estimates).


rule score:
    input:
        lambda w: encoder_files(artifacts.ALIGN, w.dataset, w.setup),
    output:
        artifacts.SCORES,
    log:
        "results/logs/score/{dataset}/{setup}.log",
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        SOFTWARE_ENV
    shell:
        cli("score --align {input} --out {output} > {log} 2>&1")


rule layer_score:
    input:
        lambda w: encoder_files(artifacts.LAYER_ALIGN, w.dataset, w.setup),
    output:
        artifacts.LAYER_SCORES,
    log:
        "results/logs/layer_score/{dataset}/{setup}.log",
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        SOFTWARE_ENV
    shell:
        cli("score --layers --align {input} --out {output} > {log} 2>&1")
