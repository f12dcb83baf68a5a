# Stage: train — one SSL encoder per (dataset, setup, seed, role). f: S_S ∪ S_C, g: S_S ∪ S_I.
# The checkpoint appears only when training completes (atomic rename); a killed job resumes from
# results/resume/... on retry (Slurm time limits, pre-emption).


rule train:
    input:
        split=artifacts.SPLIT,
    output:
        checkpoint=artifacts.CHECKPOINT,
        log=artifacts.TRAIN_LOG,
    log:
        "results/logs/train/{dataset}/{setup}/{role}{seed}.log",
    params:
        resume=artifacts.RESUME,
        settings=train_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    retries: 3 if SETTINGS["training"]["device"] == "cuda" else 0
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=32000 if SETTINGS["training"]["device"] == "cuda" else 4000,
        runtime=24 * 60 if SETTINGS["training"]["device"] == "cuda" else 120,
    shell:
        "{SSLMEM} train --dataset {wildcards.dataset} --setup {wildcards.setup}"
        " --seed {wildcards.seed} --role {wildcards.role} --split {input.split}"
        " --out {output.checkpoint} --log {output.log} --resume {params.resume} > {log} 2>&1"
