"""The sslmem verb of the localization study (align-parts), added to the CLI by :func:`sslmem.cli.build_parser`.
Cheap to import (argparse only): the work is in :mod:`sslmem.pipeline.align`, imported when the verb runs."""

from __future__ import annotations

from pathlib import Path


def add_verbs(verb) -> None:
    """align-parts (added to the sslmem CLI by sslmem.cli.build_parser)."""
    sub = verb("align-parts", _cmd_align_parts, "align one ViT encoder and measure LayerMem and UnitMem on each "
               "block's attention and MLP branches separately (studies.localization, Encoder.named_parts)")
    sub.add_argument("--checkpoint", required=True, help="final checkpoint of a ViT encoder")
    sub.add_argument("--split", required=True, help="the split CSV the encoder was trained on")
    sub.add_argument("--out", required=True, help="per-point alignment of the representation (Parquet)")
    sub.add_argument("--layers-out", required=True, help="per-point alignment of every branch output (Parquet)")
    sub.add_argument("--units-out", required=True, help="UnitMem of every unit of Encoder.part_units (Parquet)")


def _cmd_align_parts(args) -> None:
    from sslmem.pipeline.align import run_align
    from sslmem.plan import load_settings  # as sslmem.cli's verbs (the CLI imports this module: no cycle)

    run_align(load_settings(args.params, preset=args.preset), Path(args.checkpoint), Path(args.split),
              Path(args.out), Path(args.layers_out), Path(args.units_out), layer_view="parts")
