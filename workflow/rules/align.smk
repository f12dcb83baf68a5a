# Stage: align — each encoder's alignment loss on the scored points (S_C, a sample of S_S, S_I, S_E),
# averaged over measure.num_views augmented views; in the same forward passes, the alignment on the output of
# every layer of the encoder (LayerMem) and the UnitMem of every unit (over measure.unitmem.subset).


rule align:
    input:
        checkpoint=artifacts.CHECKPOINT,
        split=artifacts.SPLIT,
    output:
        align=artifacts.ALIGN,
        layers=artifacts.LAYER_ALIGN,
        units=artifacts.UNITS,
    log:
        "results/logs/align/{dataset}/{setup}/{role}{seed}.log",
    benchmark:
        "results/benchmarks/align/{dataset}/{setup}/{role}{seed}.tsv"
    params:
        settings=align_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=16000,
        runtime=120,
    conda:
        SOFTWARE_ENV
    shell:
        cli("align --checkpoint {input.checkpoint} --split {input.split} --out {output.align}"
        " --layers-out {output.layers} --units-out {output.units} > {log} 2>&1")
