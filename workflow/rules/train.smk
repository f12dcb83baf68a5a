# Stage: train — one SSL encoder per (dataset, setup, seed, role), on its training-set file (f: S_S ∪ S_C,
# g: S_S ∪ S_I; written by the training_set rule of data.smk).
# The checkpoint appears only when training completes (atomic rename); a killed job resumes from
# results/resume/... on retry (Slurm time limits, pre-emption).


rule train:
    input:
        training_set=artifacts.TRAINING_SET,
    output:
        # Read-only once written when training.protect_checkpoints (the paper preset: 24-hour GPU jobs).
        checkpoint=protected(artifacts.CHECKPOINT)
        if SETTINGS["training"]["protect_checkpoints"]
        else artifacts.CHECKPOINT,
        log=artifacts.TRAIN_LOG,
    log:
        "results/logs/train/{dataset}/{setup}/{role}{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{setup}/{role}{seed}.tsv"
    params:
        resume=artifacts.RESUME,
        settings=train_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    retries: 3 if SETTINGS["training"]["device"] == "cuda" else 0
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=32000 if SETTINGS["training"]["device"] == "cuda" else 4000,
        runtime=24 * 60 if SETTINGS["training"]["device"] == "cuda" else 120,
    conda:
        SOFTWARE_ENV
    shell:
        cli("train --dataset {wildcards.dataset} --setup {wildcards.setup}"
        " --seed {wildcards.seed} --role {wildcards.role} --training-set {input.training_set}"
        " --out {output.checkpoint} --log {output.log} --resume {params.resume} > {log} 2>&1")
