"""The pipeline steps behind `sslmem <verb>`: each reads files, computes, and writes its outputs atomically.

One module per stage (split, train, align, score, probe) so that each DVC stage depends on the code it runs and
an edit to one stage's code does not invalidate the others' cached outputs; `common` holds what they share.
This file imports nothing, so that a stage's job loads (and its DVC stage depends on) only its own module.
Every `run_*` function is one Snakemake rule's body; they take settings (validated by `sslmem.config`) and paths,
never global state, so they are equally callable from tests.
"""
