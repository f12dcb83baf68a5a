# Fig. 2b (sslmem.studies.dynamics): the study's f/g encoders trained once each, keeping a snapshot after every
# studies.dynamics.every epochs (sslmem.training.snapshots; the snapshots folder is the train job's output), and
# each snapshot aligned, scored and probed with the core verbs under results/studies/dynamics/epoch<e>/. The
# training sets are the generic study_training_set rule's (studies.smk). Target: `snakemake study_dynamics`.

# The study's encoders are trained here, with snapshots, not by the generic study_train (same checkpoint paths).
ruleorder: dynamics_train > study_train


rule dynamics_train:
    input:
        training_set=STUDY(artifacts.TRAINING_SET, "dynamics"),
    output:
        checkpoint=protected(STUDY(artifacts.CHECKPOINT, "dynamics"))
        if SETTINGS["training"]["protect_checkpoints"]
        else STUDY(artifacts.CHECKPOINT, "dynamics"),
        log=STUDY(artifacts.TRAIN_LOG, "dynamics"),
        snapshots=directory(dynamics_study.SNAPSHOTS),
    log:
        "results/logs/studies/dynamics/train/{dataset}/{setup}/{role}{seed}.log",
    benchmark:
        "results/benchmarks/studies/dynamics/train/{dataset}/{setup}/{role}{seed}.tsv"
    wildcard_constraints:
        role="|".join(artifacts.ROLES),
    params:
        resume=STUDY(artifacts.RESUME, "dynamics"),
        epochs=dynamics_snapshot_epochs,
        settings=dynamics_train_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    retries: 3 if SETTINGS["training"]["device"] == "cuda" else 0
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=32000 if SETTINGS["training"]["device"] == "cuda" else 4000,
        runtime=24 * 60 if SETTINGS["training"]["device"] == "cuda" else 120,
    conda:
        SOFTWARE_ENV
    shell:
        cli("train --study dynamics --dataset {wildcards.dataset} --setup {wildcards.setup}"
        " --seed {wildcards.seed} --role {wildcards.role} --training-set {input.training_set}"
        " --out {output.checkpoint} --log {output.log} --resume {params.resume}"
        " --snapshots {output.snapshots} --snapshot-epochs {params.epochs} > {log} 2>&1")


rule dynamics_align:
    """One snapshot's alignment on the scored points, with the views the final encoders are measured with."""
    input:
        snapshots=dynamics_study.SNAPSHOTS,
        split=artifacts.SPLIT,
    output:
        dynamics_study.SNAPSHOT_ALIGN,
    log:
        "results/logs/studies/dynamics/epoch{epoch}/align/{dataset}/{setup}/{role}{seed}.log",
    benchmark:
        "results/benchmarks/studies/dynamics/epoch{epoch}/align/{dataset}/{setup}/{role}{seed}.tsv"
    wildcard_constraints:
        epoch="[0-9]+",
        role="|".join(artifacts.ROLES),
    params:
        checkpoint=dynamics_snapshot,
        settings=dynamics_align_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=16000,
        runtime=120,
    conda:
        SOFTWARE_ENV
    shell:
        cli("align --checkpoint {params.checkpoint} --split {input.split} --out {output} > {log} 2>&1")


rule dynamics_score:
    """SSLMem per point of one setup at one snapshot epoch (ensemble and per pair), by the core score verb."""
    input:
        lambda w: dynamics_study.encoder_files(SETTINGS, dynamics_study.SNAPSHOT_ALIGN, w.dataset, w.setup,
                                               epoch=w.epoch),
    output:
        dynamics_study.SNAPSHOT_SCORES,
    log:
        "results/logs/studies/dynamics/epoch{epoch}/score/{dataset}/{setup}.log",
    wildcard_constraints:
        epoch="[0-9]+",
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        SOFTWARE_ENV
    shell:
        cli("score --align {input} --out {output} > {log} 2>&1")


rule dynamics_probe:
    """Linear-probe (and kNN) accuracy of one snapshot, by the core probe verb."""
    input:
        snapshots=dynamics_study.SNAPSHOTS,
    output:
        dynamics_study.SNAPSHOT_PROBE,
    log:
        "results/logs/studies/dynamics/epoch{epoch}/probe/{dataset}/{setup}/{role}{seed}.log",
    benchmark:
        "results/benchmarks/studies/dynamics/epoch{epoch}/probe/{dataset}/{setup}/{role}{seed}.tsv"
    wildcard_constraints:
        epoch="[0-9]+",
        role="|".join(artifacts.ROLES),
    params:
        checkpoint=dynamics_snapshot,
        settings=probe_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=16000,
        runtime=120,
    conda:
        SOFTWARE_ENV
    shell:
        cli("probe --checkpoint {params.checkpoint} --out {output} > {log} 2>&1")
