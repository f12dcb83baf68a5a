"""`sslmem <verb>`: the command every Snakemake rule calls. `sslmem <verb> --help` documents each verb.

Every verb reads params.yaml (``--params``, default ./params.yaml) with the preset chosen there or by
``--preset``, validates it, and only then touches data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml


def _settings(args, check_roots: bool = True) -> dict:
    from sslmem import config

    return config.load(args.params, preset=args.preset, check_roots=check_roots)


def _add_common(parser: argparse.ArgumentParser, top_level: bool = False) -> None:
    # Accepted before or after the verb; the verb's copy must not overwrite a value given before it.
    default = (lambda value: value) if top_level else (lambda value: argparse.SUPPRESS)
    parser.add_argument("--params", default=default("params.yaml"), help="params file (default: ./params.yaml)")
    parser.add_argument(
        "--preset", default=default(None), help="preset to merge over `common` (default: params.yaml's `preset`)"
    )


def cmd_check(args) -> None:
    settings = _settings(args)
    from sslmem.config import setup_name

    setups = ", ".join(setup_name(s) for s in settings["experiment"]["setups"])
    print(f"params OK: preset {settings['preset']!r}; datasets {settings['experiment']['datasets']}; setups {setups}; "
          f"seeds {settings['experiment']['seeds']}")


def cmd_show_config(args) -> None:
    print(yaml.safe_dump(_settings(args, check_roots=False), sort_keys=False))


def cmd_settings(args) -> None:
    from sslmem.io import atomic_write_text

    settings = _settings(args, check_roots=False)
    out = Path(args.out_dir)
    for section, value in settings.items():
        if section == "preset":
            continue
        atomic_write_text(out / f"{section}.json", json.dumps(value, indent=2, sort_keys=True) + "\n")
    print(f"{out}: settings of preset {settings['preset']!r}, one file per section")


def cmd_split(args) -> None:
    from sslmem.pipeline.split import run_split

    digest = run_split(_settings(args), args.dataset, Path(args.out))
    print(f"{args.out}: sha256 {digest}")


def cmd_train(args) -> None:
    from sslmem.config import RunSpec
    from sslmem.pipeline.train import run_train

    settings = _settings(args)
    spec = RunSpec.for_setup(settings, args.dataset, args.setup, args.seed, args.role)
    run_train(
        settings, spec, Path(args.split), Path(args.out), Path(args.log), Path(args.resume),
        stop_after_epochs=args.stop_after_epochs,
    )


def cmd_align(args) -> None:
    from sslmem.pipeline.align import run_align

    run_align(
        _settings(args), Path(args.checkpoint), Path(args.split), Path(args.out),
        Path(args.layers_out) if args.layers_out else None,
        Path(args.units_out) if args.units_out else None,
    )


def cmd_score(args) -> None:
    from sslmem.pipeline.score import run_score

    if args.layers:
        from sslmem.pipeline.score import run_layer_score

        run_layer_score([Path(p) for p in args.align], Path(args.out))
    else:
        run_score([Path(p) for p in args.align], Path(args.out))


def cmd_probe(args) -> None:
    from sslmem.pipeline.probe import run_probe

    run_probe(_settings(args), Path(args.checkpoint), Path(args.out))


def cmd_table(args) -> None:
    from sslmem.report import tables

    settings = _settings(args, check_roots=False)  # tables need only the tidy result files
    scores = [Path(p) for p in args.scores]
    from sslmem.config import paper_setups

    bootstrap = settings["stats"]["bootstrap"]
    resampling = dict(n_boot=bootstrap["resamples"], seed=bootstrap["seed"], level=bootstrap["level"])
    if args.name == "table1":
        tables.table1(scores, [Path(p) for p in args.probes], Path(args.out), **resampling,
                      paper_setups=paper_setups(settings))
    elif args.name == "table2":
        tables.table2(scores, Path(args.out), settings["stats"]["alpha"])
    elif args.name == "table16":
        tables.table16(scores, Path(args.out), settings["stats"]["alpha"])
    elif args.name == "table13":
        from sslmem.config import training_length_identities

        tables.table13(scores, Path(args.out), identities=training_length_identities(settings))
    elif args.name == "layermem":
        tables.layermem_table(scores, Path(args.out))
    elif args.name == "subsets":
        tables.subset_summary(scores, Path(args.out), **resampling, paper_setups=paper_setups(settings))


def cmd_table15(args) -> None:
    from sslmem.config import arch_options, experiment_runs, paper_setups
    from sslmem.models import ARCHS, build_encoder, count_parameters
    from sslmem.pipeline.common import image_size_of
    from sslmem.report import tables

    settings = _settings(args, check_roots=False)
    counts = {}
    # The backbones the experiment trains, on the datasets it trains them on; table15 keeps the ResNets.
    for dataset, arch in sorted({(run.dataset, run.arch) for run in experiment_runs(settings)}):
        if ARCHS[arch].is_vit:
            continue
        encoder = build_encoder(arch, image_size_of(settings, dataset), **arch_options(settings, arch, dataset))
        counts[(dataset, arch)] = count_parameters(encoder)
    tables.table15(Path(args.table1), counts, Path(args.out), paper_setups=paper_setups(settings))


def cmd_unitmem(args) -> None:
    from sslmem.report import tables

    tables.unitmem_table([Path(p) for p in args.units], [Path(p) for p in args.scores], Path(args.out))


def cmd_table11(args) -> None:
    from sslmem.config import setup_recipe
    from sslmem.report import tables

    settings = _settings(args, check_roots=False)
    rows = [(name, setup_recipe(settings, name)["epochs"]) for name in settings["report"]["table11"]]
    tables.table11(Path(args.table1), rows, Path(args.out))


def cmd_figure(args) -> None:
    from sslmem.report import figures

    scores = [Path(p) for p in args.scores]
    if args.name == "fig2c":
        settings = _settings(args, check_roots=False)
        figures.fig2c(scores, Path(args.out), bins=settings["report"]["histogram_bins"])
    elif args.name == "layermem":
        figures.fig_layermem(scores, Path(args.out))
    else:
        figures.fig2a(scores, Path(args.out))


def cmd_versions(args) -> None:
    from sslmem.pipeline.common import environment_versions

    print(json.dumps(environment_versions(), indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sslmem", description=__doc__.splitlines()[0])
    _add_common(parser, top_level=True)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name, func, help_text):
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        _add_common(sub)
        sub.set_defaults(func=func)
        return sub

    verb("check", cmd_check, "validate params.yaml (schema, cross-field rules, dataset roots) and exit")
    verb("show-config", cmd_show_config, "print the merged, validated settings of the chosen preset")
    verb("versions", cmd_versions, "print the versions of python, torch, timm, opacus and the device")
    sub = verb("settings", cmd_settings, "write the merged settings, one JSON file per section (DVC stage deps)")
    sub.add_argument("--out-dir", required=True)

    sub = verb("split", cmd_split, "draw the S_S/S_C/S_I/S_E split of a dataset and write it with its hash")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--out", required=True, help="split CSV; its hash goes to the .json beside it")

    sub = verb("train", cmd_train, "train one encoder (f on S_S ∪ S_C, g on S_S ∪ S_I), resuming if possible")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--setup", required=True, help="name of an experiment.setups entry (default <method>-<arch>)")
    sub.add_argument("--seed", type=int, required=True)
    sub.add_argument("--role", choices=["f", "g"], required=True)
    sub.add_argument("--split", required=True, help="split CSV written by `sslmem split`")
    sub.add_argument("--out", required=True, help="final checkpoint (written only when training completes)")
    sub.add_argument("--log", required=True, help="per-epoch training log CSV")
    sub.add_argument("--resume", required=True, help="resumable checkpoint, written every training.checkpoint_every epochs")
    sub.add_argument("--stop-after-epochs", type=int, default=None, help=argparse.SUPPRESS)

    sub = verb("align", cmd_align, "measure one encoder's alignment loss on every scored point")
    sub.add_argument("--checkpoint", required=True)
    sub.add_argument("--split", required=True)
    sub.add_argument("--out", required=True, help="per-point alignment (Parquet)")
    sub.add_argument("--layers-out", default=None, help="per-point, per-layer alignment (Parquet; LayerMem)")
    sub.add_argument("--units-out", default=None, help="UnitMem of every unit (Parquet), over measure.unitmem.subset")

    sub = verb("score", cmd_score, "combine f and g alignments into per-point SSLMem (or per-layer) scores")
    sub.add_argument("--align", nargs="+", required=True, help="per-encoder alignment files of one setup")
    sub.add_argument("--layers", action="store_true", help="the files are per-layer alignments: write LayerMem")
    sub.add_argument("--out", required=True, help="per-point scores (Parquet)")

    sub = verb("probe", cmd_probe, "linear-probe accuracy of one encoder on the held-out test split")
    sub.add_argument("--checkpoint", required=True)
    sub.add_argument("--out", required=True)

    sub = verb("table", cmd_table, "build a results table from tidy per-point files")
    sub.add_argument("name", choices=["table1", "table2", "table13", "table16", "subsets", "layermem"])
    sub.add_argument("--scores", nargs="+", required=True)
    sub.add_argument("--probes", nargs="*", default=[])
    sub.add_argument("--out", required=True)

    sub = verb("table15", cmd_table15, "Table 15: the ResNet rows of table1 with encoder parameter counts")
    sub.add_argument("--table1", required=True)
    sub.add_argument("--out", required=True)

    sub = verb("table11", cmd_table11, "Table 11: supervised vs SSL encoders (params.yaml report.table11)")
    sub.add_argument("--table1", required=True)
    sub.add_argument("--out", required=True)

    sub = verb("unitmem", cmd_unitmem, "UnitMem per layer of the f encoders, from the align stage's unit files")
    sub.add_argument("--units", nargs="+", required=True, help="results/unitmem/.../f<seed>.parquet files")
    sub.add_argument("--scores", nargs="+", required=True, help="score files of the same setups")
    sub.add_argument("--out", required=True)

    sub = verb("figure", cmd_figure, "draw a figure from tidy per-point files")
    sub.add_argument("name", choices=["fig2a", "fig2c", "layermem"])
    sub.add_argument("--scores", nargs="+", required=True)
    sub.add_argument("--out", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    from sslmem.config import ConfigError
    from sslmem.data.datasets import DatasetNotFoundError
    from sslmem.data.splits import SplitError
    from sslmem.io import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ConfigError, DatasetNotFoundError, SplitError, CheckpointError) as error:
        print(f"sslmem {args.verb}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
