"""The pipeline steps behind `sslmem <verb>`: each reads files, computes, and writes its outputs atomically.

One module per stage (split, train, align, score, probe) so that each DVC stage depends on the code it runs and
an edit to one stage's code does not invalidate the others' cached outputs; `common` holds what they share.
Every `run_*` function is one Snakemake rule's body; they take settings (validated by `sslmem.config`) and paths,
never global state, so they are equally callable from tests.
"""

from sslmem.pipeline.align import measurement_images, measurement_set, run_align
from sslmem.pipeline.common import (
    ENCODER_KEYS,
    ROLES,
    environment_versions,
    image_size_of,
    load_images,
    setup_of,
)
from sslmem.pipeline.encoders import load_trained_method
from sslmem.pipeline.probe import run_probe
from sslmem.pipeline.score import run_layer_score, run_score
from sslmem.pipeline.split import run_split
from sslmem.pipeline.train import run_spec_meta, run_train

__all__ = [
    "ENCODER_KEYS", "ROLES", "environment_versions", "image_size_of", "load_images", "load_trained_method",
    "measurement_images", "measurement_set", "run_align", "run_layer_score", "run_probe", "run_score", "run_spec_meta", "run_split",
    "run_train", "setup_of",
]
