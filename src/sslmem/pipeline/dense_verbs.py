"""The sslmem verb of the dense study (``dense``), added to the CLI by :func:`sslmem.cli.build_parser`. Cheap to
import (argparse only): the work is in :mod:`sslmem.pipeline.dense`, imported when the verb runs."""

from __future__ import annotations

from pathlib import Path

TASKS = ("segmentation", "depth")


def add_verbs(verb) -> None:
    """dense (added to the sslmem CLI by sslmem.cli.build_parser)."""
    sub = verb("dense", _cmd_dense, "fine-tune one encoder end to end on a dense task (UPerNet; studies.dense.<task>), "
               "score it on the task's test set and linear-probe the fine-tuned encoder on its own dataset")
    sub.add_argument("--task", required=True, choices=TASKS, help="the dense task (its recipe: studies.dense.<task>)")
    sub.add_argument("--checkpoint", required=True, help="a removal-study or half-A checkpoint")
    sub.add_argument("--out", required=True, help="one-row CSV: the task's metrics and the probe's top-1")


def _cmd_dense(args) -> None:
    from sslmem.pipeline.dense import run_dense
    from sslmem.plan import load_settings  # as sslmem.cli's verbs (the CLI imports this module: no cycle)

    run_dense(load_settings(args.params, preset=args.preset), args.task, Path(args.checkpoint), Path(args.out))
