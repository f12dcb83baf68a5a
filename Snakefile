# sslmem workflow. Settings: params.yaml, validated before any job is scheduled by sslmem.config (against
# workflow/schemas/params.schema.yaml, then by its cross-field rules; see workflow/rules/common.smk). Not by
# snakemake.utils.validate as well: its first message would be a schema dump, and sslmem's names the key.
# Choose the preset with
#   snakemake --config preset=paper ...
from snakemake.utils import min_version

min_version("9.0")

configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/feldman.smk"
include: "workflow/rules/dejavu.smk"
include: "workflow/rules/classmem.smk"
include: "workflow/rules/allpoints.smk"
include: "workflow/rules/studies.smk"
include: "workflow/rules/planted.smk"
include: "workflow/rules/overlap.smk"
include: "workflow/rules/measure_views.smk"
include: "workflow/rules/dynamics.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        ALL_TARGETS,


# Stage targets (dvc.yaml runs one per stage).
rule splits:
    input:
        expand(artifacts.SPLIT, dataset=DATASETS),
        all_encoder_files(artifacts.TRAINING_SET),


rule checkpoints:
    input:
        all_encoder_files(artifacts.CHECKPOINT),


rule alignments:
    input:
        all_encoder_files(artifacts.ALIGN),
        all_encoder_files(artifacts.LAYER_ALIGN),
        all_encoder_files(artifacts.UNITS),


rule scores:
    input:
        all_score_files(),
        all_layer_score_files(),


rule probes:
    input:
        all_probe_files(),


rule reports:
    input:
        DEFAULT_TARGETS,
