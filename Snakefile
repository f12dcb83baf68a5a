# sslmem workflow. Settings: params.yaml (validated against workflow/schemas/params.schema.yaml, then by
# sslmem's own cross-field rules, before any job is scheduled). Choose the preset with
#   snakemake --config preset=paper ...
from snakemake.utils import validate, min_version

min_version("9.0")

configfile: "params.yaml"


validate(config, "workflow/schemas/params.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        DEFAULT_TARGETS,


# Stage targets (dvc.yaml runs one per stage).
rule splits:
    input:
        expand("results/splits/{dataset}.csv", dataset=DATASETS),


rule checkpoints:
    input:
        all_encoder_files("results/checkpoints/{dataset}/{setup}/{role}{seed}.pt"),


rule alignments:
    input:
        all_encoder_files("results/align/{dataset}/{setup}/{role}{seed}.parquet"),
        all_encoder_files("results/layer_align/{dataset}/{setup}/{role}{seed}.parquet"),
        all_encoder_files("results/unitmem/{dataset}/{setup}/{role}{seed}.parquet"),


rule scores:
    input:
        all_score_files(),
        all_layer_score_files(),


rule probes:
    input:
        all_probe_files(),


rule tables:
    input:
        TABLE_TARGETS,
