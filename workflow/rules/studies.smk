# Studies that train encoders of their own (sslmem.studies: halves, removal, coreset): the same steps as the core
# encoders — training set, train, probe — for every encoder a study plans, under results/studies/<study>/, and the
# halves study's alignment of every pool point and in/out scores. What each study trains is declared in its
# module; these rules are generic over studies (the {study} wildcard). The study targets (`snakemake removal`)
# are generated in report.smk with the results.

STUDY = sslmem_studies.in_study


rule study_training_set:
    input:
        unpack(study_training_set_inputs),
    output:
        csv=STUDY(artifacts.TRAINING_SET, "{study}"),
        meta=STUDY(artifacts.TRAINING_SET_SIDECAR, "{study}"),
    log:
        "results/logs/studies/{study}/training_set/{dataset}/{setup}/{role}{seed}.log",
    params:
        settings=study_training_set_fingerprint,
    localrule: True
    conda:
        SOFTWARE_ENV
    shell:
        cli("training-set --study {wildcards.study} --dataset {wildcards.dataset} --setup {wildcards.setup}"
        " --seed {wildcards.seed} --role {wildcards.role} --out {output.csv} > {log} 2>&1")


rule study_train:
    input:
        training_set=STUDY(artifacts.TRAINING_SET, "{study}"),
    output:
        checkpoint=protected(STUDY(artifacts.CHECKPOINT, "{study}"))
        if SETTINGS["training"]["protect_checkpoints"]
        else STUDY(artifacts.CHECKPOINT, "{study}"),
        log=STUDY(artifacts.TRAIN_LOG, "{study}"),
    log:
        "results/logs/studies/{study}/train/{dataset}/{setup}/{role}{seed}.log",
    benchmark:
        "results/benchmarks/studies/{study}/train/{dataset}/{setup}/{role}{seed}.tsv"
    params:
        resume=STUDY(artifacts.RESUME, "{study}"),
        settings=study_train_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    retries: 3 if SETTINGS["training"]["device"] == "cuda" else 0
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=32000 if SETTINGS["training"]["device"] == "cuda" else 4000,
        runtime=24 * 60 if SETTINGS["training"]["device"] == "cuda" else 120,
    conda:
        SOFTWARE_ENV
    shell:
        cli("train --study {wildcards.study} --dataset {wildcards.dataset} --setup {wildcards.setup}"
        " --seed {wildcards.seed} --role {wildcards.role} --training-set {input.training_set}"
        " --out {output.checkpoint} --log {output.log} --resume {params.resume} > {log} 2>&1")


rule study_probe:
    input:
        STUDY(artifacts.CHECKPOINT, "{study}"),
    output:
        STUDY(artifacts.PROBE, "{study}"),
    log:
        "results/logs/studies/{study}/probe/{dataset}/{setup}/{role}{seed}.log",
    benchmark:
        "results/benchmarks/studies/{study}/probe/{dataset}/{setup}/{role}{seed}.tsv"
    params:
        settings=study_probe_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=16000,
        runtime=120,
    conda:
        SOFTWARE_ENV
    shell:
        cli("probe --checkpoint {input} --out {output} > {log} 2>&1")


rule pool_align:
    """An in/out encoder's alignment on every point of the split (the pool S_S, S_C, S_I and S_E), for the in/out
    scores (the halves study; the planted study)."""
    input:
        checkpoint=STUDY(artifacts.CHECKPOINT, "{study}"),
        split=study_split,
    output:
        STUDY(sslmem_studies.POOL_ALIGN, "{study}"),
    log:
        "results/logs/studies/{study}/pool_align/{dataset}/{setup}/{role}{seed}.log",
    benchmark:
        "results/benchmarks/studies/{study}/pool_align/{dataset}/{setup}/{role}{seed}.tsv"
    params:
        settings=pool_align_fingerprint,
    threads: SETTINGS["training"]["num_threads"]
    resources:
        gpu=1 if SETTINGS["training"]["device"] == "cuda" else 0,
        mem_mb=16000,
        runtime=120,
    conda:
        SOFTWARE_ENV
    shell:
        cli("align --points pool --checkpoint {input.checkpoint} --split {input.split} --out {output} > {log} 2>&1")


rule inout_score:
    """Every pool point's SSLMem from the in/out encoders that trained with it and those that did not."""
    input:
        align=lambda w: inout_encoder_files(STUDY(sslmem_studies.POOL_ALIGN, "{study}"), w.study, w.dataset, w.setup),
        training_sets=lambda w: inout_encoder_files(
            STUDY(artifacts.TRAINING_SET, "{study}"), w.study, w.dataset, w.setup
        ),
    output:
        STUDY(sslmem_studies.INOUT_SCORES, "{study}"),
    log:
        "results/logs/studies/{study}/inout_score/{dataset}/{setup}.log",
    params:
        settings=sslmem_config.fingerprint(SETTINGS["stats"]["bootstrap"]),
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        SOFTWARE_ENV
    shell:
        cli("score --in-out --align {input.align} --training-sets {input.training_sets} --out {output} > {log} 2>&1")


# A scored study (Study.scored, e.g. privacy): its f/g encoders aligned and scored like the core ones (align.smk,
# score.smk), under results/studies/<study>/.
rule study_align:
    input:
        checkpoint=STUDY(artifacts.CHECKPOINT, "{study}"),
        split=study_split,
    output:
        align=STUDY(artifacts.ALIGN, "{study}"),
        layers=STUDY(artifacts.LAYER_ALIGN, "{study}"),
        units=STUDY(artifacts.UNITS, "{study}"),
    log:
        "results/logs/studies/{study}/align/{dataset}/{setup}/{role}{seed}.log",
    benchmark:
        "results/benchmarks/studies/{study}/align/{dataset}/{setup}/{role}{seed}.tsv"
    params:
        settings=study_align_fingerprint,
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


rule study_score:
    input:
        lambda w: study_encoder_files(artifacts.ALIGN, w.study, w.dataset, w.setup),
    output:
        STUDY(artifacts.SCORES, "{study}"),
    log:
        "results/logs/studies/{study}/score/{dataset}/{setup}.log",
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        SOFTWARE_ENV
    shell:
        cli("score --align {input} --out {output} > {log} 2>&1")


rule study_layer_score:
    input:
        lambda w: study_encoder_files(artifacts.LAYER_ALIGN, w.study, w.dataset, w.setup),
    output:
        STUDY(artifacts.LAYER_SCORES, "{study}"),
    log:
        "results/logs/studies/{study}/layer_score/{dataset}/{setup}.log",
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        SOFTWARE_ENV
    shell:
        cli("score --layers --align {input} --out {output} > {log} 2>&1")
