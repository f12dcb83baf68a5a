"""`sslmem <verb>`: the command every Snakemake rule calls (`sslmem <verb> --help` documents each verb). Every verb
reads params.yaml (``--params``, default ./params.yaml) with the preset chosen there or by ``--preset``, validates
it, pins the CPU kernels it names (:mod:`sslmem.cpu_kernels`), and only then touches data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from sslmem import cpu_kernels


def _settings(args, check_roots: bool = True) -> dict:
    from sslmem.plan import load_settings

    return load_settings(args.params, preset=args.preset, check_roots=check_roots)


def _add_common(parser: argparse.ArgumentParser, top_level: bool = False) -> None:
    # Accepted before or after the verb; the verb's copy must not overwrite a value given before it.
    default = (lambda value: value) if top_level else (lambda value: argparse.SUPPRESS)
    parser.add_argument("--params", default=default("params.yaml"), help="params file (default: ./params.yaml)")
    parser.add_argument(
        "--preset", default=default(None), help="preset to merge over `common` (default: params.yaml's `preset`)"
    )


def cmd_check(args) -> None:
    from sslmem import plan
    from sslmem.config import setup_name

    # Always the full validation (never the validation cache); on success it refreshes the cache for the jobs.
    # The plan is built too: what crosses stages is checked there, before any job.
    settings = plan.load_settings(args.params, preset=args.preset, check_roots=True, read_cache=False)
    plan.build(settings)

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
        if not isinstance(value, dict):  # preset, root_preset: names, not sections; derived_setups: the studies'
            continue
        atomic_write_text(out / f"{section}.json", json.dumps(value, indent=2, sort_keys=True) + "\n")
    print(f"{out}: settings of preset {settings['preset']!r}, one file per section")


def cmd_split(args) -> None:
    from sslmem.pipeline.split import run_sized_split, run_split

    if args.sizes:  # a study's split of other sizes (the overlap study's levels)
        sizes = dict(zip(("shared", "candidate", "independent", "extra"), args.sizes))
        digest = run_sized_split(_settings(args), args.dataset, sizes, Path(args.out), setup=args.setup)
    else:
        digest = run_split(_settings(args), args.dataset, Path(args.out))
    print(f"{args.out}: sha256 {digest}")


def cmd_plant(args) -> None:
    from sslmem.pipeline.planted import run_planted_split

    digest = run_planted_split(_settings(args), args.dataset, Path(args.split), Path(args.out))
    print(f"{args.out}: sha256 {digest}")


def _run_spec(settings: dict, args):
    """The encoder the arguments name: a core one (role f or g) or, with --study, one the study plans."""
    from sslmem.config import ConfigError, RunSpec
    from sslmem.artifacts import ROLES

    if args.study:
        from sslmem.studies.plugins import study_run

        return study_run(settings, args.study, args.dataset, args.setup, args.seed, args.role)
    if args.role not in ROLES:
        raise ConfigError(f"--role {args.role!r}: a core encoder is f or g; a study's encoders need --study")
    return RunSpec.for_setup(settings, args.dataset, args.setup, args.seed, args.role)


def cmd_training_set(args) -> None:
    from sslmem.pipeline.training_set import run_training_set
    from sslmem.studies.plugins import recipe_for

    settings = _settings(args, check_roots=False)  # reads the split and scores, not images
    run = _run_spec(settings, args)
    digest = run_training_set(recipe_for(settings, run, args.study), Path(args.out))
    print(f"{args.out}: sha256 {digest}")


def cmd_train(args) -> None:
    from sslmem.pipeline.train import run_train

    settings = _settings(args)
    spec = _run_spec(settings, args)
    if (args.snapshots is None) != (args.snapshot_epochs is None):
        raise SystemExit("sslmem train: give --snapshots and --snapshot-epochs together")
    run_train(
        settings, spec, Path(args.training_set), Path(args.out), Path(args.log), Path(args.resume),
        stop_after_epochs=args.stop_after_epochs,
        progress_csv=Path(args.progress_csv) if args.progress_csv else None,
        snapshots=Path(args.snapshots) if args.snapshots else None,
        snapshot_epochs=tuple(args.snapshot_epochs or ()),
    )


def cmd_align(args) -> None:
    from sslmem.pipeline.align import run_align

    run_align(
        _settings(args), Path(args.checkpoint), Path(args.split), Path(args.out),
        Path(args.layers_out) if args.layers_out else None,
        Path(args.units_out) if args.units_out else None,
        points=args.points,
        view_family=args.view_family,
    )


def cmd_score(args) -> None:
    from sslmem.pipeline.score import run_score

    if args.in_out:
        from sslmem.pipeline.score import run_in_out_score

        if not args.training_sets:
            raise SystemExit("sslmem score --in-out: give --training-sets, one per --align file, in the same order")
        bootstrap = _settings(args, check_roots=False)["stats"]["bootstrap"]
        run_in_out_score([Path(p) for p in args.align], [Path(p) for p in args.training_sets], Path(args.out),
                         bootstrap=bootstrap)
    elif args.layers:
        from sslmem.pipeline.score import run_layer_score

        run_layer_score([Path(p) for p in args.align], Path(args.out))
    else:
        run_score([Path(p) for p in args.align], Path(args.out))


def cmd_probe(args) -> None:
    from sslmem.pipeline.probe import run_probe

    run_probe(_settings(args), Path(args.checkpoint), Path(args.out))


def cmd_feldman(args) -> None:
    from sslmem.pipeline.feldman import run_feldman

    run_feldman(_settings(args), [Path(p) for p in args.checkpoints], Path(args.split), Path(args.out))


def cmd_dejavu(args) -> None:
    from sslmem.pipeline.dejavu import run_dejavu

    run_dejavu(_settings(args), [Path(p) for p in args.checkpoints], Path(args.split), Path(args.out))


def cmd_classmem(args) -> None:
    from sslmem.pipeline.classmem import run_classmem

    run_classmem(_settings(args), Path(args.checkpoint), Path(args.split), Path(args.out))


def cmd_allpoints(args) -> None:
    from sslmem.config import ConfigError, experiment_runs
    from sslmem.report.allpoints import allpoints
    from sslmem.studies.halves import ranked_pairs

    settings = _settings(args, check_roots=False)  # reads score files, not images
    # The core's setups, and those only the halves study scores (a studies_only setup).
    scored = {(run.dataset, run.setup) for run in experiment_runs(settings)} | set(ranked_pairs(settings))
    if (args.dataset, args.setup) not in scored:
        raise ConfigError(f"no setup {args.setup!r} on {args.dataset!r} in preset {settings['preset']!r}")
    table = allpoints(args.dataset, args.setup, Path(args.out), inout=args.inout, scores=args.scores,
                      reliability=args.reliability)
    print(f"{args.out}: {len(table)} points ranked by the {table['estimator'].iat[0]} score")


def cmd_report(args) -> None:
    from sslmem.studies.plugins import get_result, load_results

    results = load_results()
    if args.list:
        for result in results.values():
            inputs = ", ".join(f"{argument} ({source})" for argument, source in result.inputs.items())
            print(f"{result.name:14s} {result.path:28s} {result.title}; inputs: {inputs}")
        return
    if args.name is None or args.out is None:
        raise SystemExit("sslmem report: give NAME and --out (or --list)")
    result = get_result(args.name)
    inputs = {argument: [Path(path) for path in paths] for argument, *paths in (args.input or [])}
    settings = _settings(args, check_roots=False)  # results need only the tidy files they read
    result.build(inputs, settings, Path(args.out))
    print(f"{args.out}: {result.title}")


def cmd_plan(args) -> None:
    from sslmem.plan.costs import print_plan

    print_plan(_settings(args, check_roots=False), args.targets, args.throughput)


def cmd_dvc_yaml(args) -> None:
    from sslmem import plan
    from sslmem.plan import dvc

    dvc.write(plan.build(_settings(args, check_roots=False)), Path(args.out))
    print(f"{args.out}: written from the plan of preset {args.preset or 'from params.yaml'}")


def cmd_verify(args) -> None:
    from sslmem.report.verify import Tolerance, run_verify
    from sslmem.studies.plugins import load_results

    configured = _settings(args, check_roots=False)["report"].get("verify_tolerance")
    if configured is None:
        from sslmem.config import ConfigError

        raise ConfigError("report.verify_tolerance: missing; e.g. {relative: 1.0e-6, absolute: 1.0e-12}")
    tolerance = Tolerance.from_settings(configured, relative=args.relative_tolerance, absolute=args.absolute_tolerance)
    tables = [result.path for result in load_results().values() if result.kind == "table"]
    status = run_verify(Path(args.reference), Path(args.candidate), tables, tolerance, Path(args.out))
    if status:
        raise SystemExit(status)


def cmd_versions(args) -> None:
    from sslmem.pipeline.common import environment_versions

    print(json.dumps(environment_versions(), indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sslmem", description=__doc__.splitlines()[0])
    _add_common(parser, top_level=True)
    from sslmem import __version__

    parser.add_argument("--version", action="version", version=f"sslmem {__version__}")
    verbs = parser.add_subparsers(
        dest="verb", required=True, metavar="VERB", help="the step to run; `sslmem VERB --help` lists its options"
    )

    def verb(name, func, help_text):
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        _add_common(sub)
        sub.set_defaults(func=func)
        return sub

    from sslmem.pipeline.dense_verbs import add_verbs as _dense_verbs
    from sslmem.pipeline.localization_verbs import add_verbs as _localization_verbs
    from sslmem.pipeline.uses_verbs import add_verbs as _uses_verbs
    for add_verbs in (_settings_verbs, _data_verbs, _training_verbs, _measure_verbs, _table_verbs, _report_verbs,
                      _localization_verbs, _dense_verbs, _uses_verbs):
        add_verbs(verb)
    return parser


def _encoder_arguments(sub) -> None:
    sub.add_argument("--dataset", required=True, help="a dataset of the setup (or of the study)")
    sub.add_argument("--setup", required=True, help="name of an experiment.setups entry (default <method>-<arch>)")
    sub.add_argument("--seed", type=int, required=True, help="training seed (one of the setup's or study's seeds)")
    sub.add_argument("--role", required=True,
                     help="the training set: f (S_S ∪ S_C) or g (S_S ∪ S_I), or a study's (with --study)")
    sub.add_argument("--study", default=None, help="a study of sslmem.studies that plans this encoder")


def _settings_verbs(verb) -> None:
    """check, show-config, versions, settings, plan, dvc-yaml, verify."""
    verb("check", cmd_check, "validate params.yaml (schema, cross-field rules, dataset roots) and exit")
    verb("show-config", cmd_show_config, "print the merged, validated settings of the chosen preset")
    verb("versions", cmd_versions, "print the versions of python, torch, timm, opacus and the device")
    sub = verb("settings", cmd_settings, "write the merged settings, one JSON file per section (DVC stage deps)")
    sub.add_argument("--out-dir", required=True, help="folder for <section>.json (results/settings)")

    sub = verb("plan", cmd_plan, "print, per target, the encoders and jobs it needs and their estimated cost")
    sub.add_argument("targets", nargs="*", help="named targets or files (default: every named target)")
    sub.add_argument("--throughput", default=None,
                     help="CSV of measured training throughput (benchmarks/throughput.py's output) for the estimate")
    sub = verb("dvc-yaml", cmd_dvc_yaml, "write dvc.yaml from the plan (its stages, deps and outputs)")
    sub.add_argument("--out", default="dvc.yaml", help="where to write it (default: dvc.yaml)")

    sub = verb("verify", cmd_verify, "compare every registered table of a recomputed results folder with the "
               "reference's cell by cell, print the verdict and write it (--out, and .txt beside it); exit 1 unless "
               "every number is identical or within report.verify_tolerance")
    sub.add_argument("--reference", default="results", help="the results folder compared against (default: results)")
    sub.add_argument("--candidate", required=True, help="the recomputed results folder, e.g. runs/reproduce/results")
    sub.add_argument("--out", required=True, help="the verdict as CSV, one row per table")
    sub.add_argument("--relative-tolerance", type=float, help="instead of report.verify_tolerance.relative")
    sub.add_argument("--absolute-tolerance", type=float, help="instead of report.verify_tolerance.absolute")


def _data_verbs(verb) -> None:
    """split, plant."""
    sub = verb("split", cmd_split, "draw the S_S/S_C/S_I/S_E split of a dataset and write it with its hash")
    sub.add_argument("--dataset", required=True, help="a dataset of experiment.datasets, e.g. fashion_mnist")
    sub.add_argument("--out", required=True, help="split CSV; its hash goes to the .json beside it")
    sub.add_argument("--sizes", type=int, nargs=4, metavar=("SHARED", "CANDIDATE", "INDEPENDENT", "EXTRA"),
                     help="draw with these subset sizes instead of splits.* (the same seed and pool permutation): a "
                          "study's split, e.g. an overlap level")
    sub.add_argument("--setup", default=None, help="with --sizes: the study setup the split is for (in its sidecar)")

    sub = verb("plant", cmd_plant, "write the planted study's split: the core split with studies.planted.count "
               "candidates replaced by images of studies.planted.source")
    sub.add_argument("--dataset", required=True, help="a dataset of studies.planted.runs")
    sub.add_argument("--split", required=True, help="the dataset's core split CSV")
    sub.add_argument("--out", required=True, help="planted split CSV; its hash goes to the .json beside it")


def _training_verbs(verb) -> None:
    """training-set, train."""
    sub = verb("training-set", cmd_training_set,
               "write one encoder's training-set file (point ids in slot order) and its hash")
    _encoder_arguments(sub)
    sub.add_argument("--out", required=True, help="training-set CSV; its hash goes to the .json beside it")

    sub = verb("train", cmd_train, "train one encoder on its training-set file, resuming if possible")
    _encoder_arguments(sub)
    sub.add_argument("--training-set", required=True, help="training-set CSV written by `sslmem training-set`")
    sub.add_argument("--out", required=True, help="final checkpoint (written only when training completes)")
    sub.add_argument("--log", required=True, help="per-epoch training log CSV")
    sub.add_argument("--resume", required=True, help="resumable checkpoint, written every training.checkpoint_every epochs")
    sub.add_argument("--progress-csv", default=None,
                     help="CSV rewritten after every epoch with the epochs so far, to follow a long job "
                          "(default: beside --resume, with .csv; removed when training completes)")
    sub.add_argument("--stop-after-epochs", type=int, default=None, help=argparse.SUPPRESS)
    sub.add_argument("--snapshots", default=None,
                     help="folder for snapshots of the encoder during training (epoch<e>.pt, the final checkpoint's "
                          "format; the dynamics study, Fig. 2b), written when training completes")
    sub.add_argument("--snapshot-epochs", type=int, nargs="+", default=None,
                     help="with --snapshots: after which epochs (counted from 1) a snapshot is kept")


def _measure_verbs(verb) -> None:
    """align, score, probe."""
    sub = verb("align", cmd_align, "measure one encoder's alignment loss on every scored point")
    sub.add_argument("--checkpoint", required=True, help="final checkpoint written by `sslmem train`")
    sub.add_argument("--split", required=True, help="the split CSV the encoder was trained on")
    sub.add_argument("--out", required=True, help="per-point alignment (Parquet)")
    sub.add_argument("--layers-out", default=None, help="per-point, per-layer alignment (Parquet; LayerMem)")
    sub.add_argument("--units-out", default=None, help="UnitMem of every unit (Parquet), over measure.unitmem.subset")
    sub.add_argument("--points", choices=["protocol", "pool"], default="protocol",
                     help="protocol: S_C, a sample of S_S, S_I and S_E (the SSLMem scores); pool: every point of "
                          "the split (the in/out scores and their reliability, halves study)")
    sub.add_argument("--view-family", default=None,
                     help="a family of measure.view_families whose views replace the encoder's training augmentation "
                          "(Table 8); default: the training augmentation")

    sub = verb("score", cmd_score, "combine f and g alignments into per-point SSLMem (or per-layer) scores")
    sub.add_argument("--align", nargs="+", required=True, help="per-encoder alignment files of one setup")
    sub.add_argument("--layers", action="store_true", help="the files are per-layer alignments: write LayerMem")
    sub.add_argument("--in-out", action="store_true",
                     help="the files are pool alignments of encoders on different training sets: write the in/out "
                          "score of every point (needs --training-sets)")
    sub.add_argument("--training-sets", nargs="+", default=None,
                     help="with --in-out: the training-set file of each --align file's encoder, in the same order")
    sub.add_argument("--out", required=True, help="per-point scores (Parquet)")

    sub = verb("probe", cmd_probe, "linear-probe accuracy of one encoder on the held-out test split of its own "
               "dataset and of each of probe.downstream.<dataset>")
    sub.add_argument("--checkpoint", required=True, help="final checkpoint written by `sslmem train`")
    sub.add_argument("--out", required=True, help="probe result CSV (one row per probed dataset)")


def _table_verbs(verb) -> None:
    """feldman, dejavu, classmem."""
    sub = verb("feldman", cmd_feldman, "Feldman's label memorisation of one supervised setup on S_C (and on the "
               "control S_E): the true label's softmax probability under f minus under g, per pair and averaged "
               "(Table 12, Fig. 8)")
    sub.add_argument("--checkpoints", nargs="+", required=True,
                     help="the f and g checkpoints of one supervised setup, every seed's pair (any order)")
    sub.add_argument("--split", required=True, help="the split CSV the encoders were trained on")
    sub.add_argument("--out", required=True, help="per-candidate Feldman scores (Parquet)")

    sub = verb("dejavu", cmd_dejavu, "Déjà Vu memorisation (Meehan et al. 2023) of one setup on S_C (and on the "
               "control S_E): the kNN label guess from a corner crop by f and by g, per encoder and point (Table 4)")
    sub.add_argument("--checkpoints", nargs="+", required=True,
                     help="the f and g checkpoints of one setup, every seed's pair (any order)")
    sub.add_argument("--split", required=True, help="the split CSV the encoders were trained on")
    sub.add_argument("--out", required=True, help="per-point kNN guesses (Parquet)")

    sub = verb("classmem", cmd_classmem, "UnitMem and ClassMem of every unit of one f encoder on a class-balanced "
               "sample of its training points (report.classmem; localization paper, Fig. 3)")
    sub.add_argument("--checkpoint", required=True, help="the final checkpoint of an f encoder")
    sub.add_argument("--split", required=True, help="the split CSV the encoder was trained on")
    sub.add_argument("--out", required=True, help="per-unit UnitMem and ClassMem (Parquet)")


def _report_verbs(verb) -> None:
    """allpoints, report."""
    sub = verb("allpoints", cmd_allpoints, "rank every scored point of one setup by its in/out score (halves study) "
               "or, without one, the f/g ensemble score of the candidates (results/allpoints/, Figs. 1 and 9)")
    sub.add_argument("--dataset", required=True, help="a dataset of the setup")
    sub.add_argument("--setup", required=True, help="name of an experiment.setups entry")
    scores = sub.add_mutually_exclusive_group(required=True)
    scores.add_argument("--inout", help="the halves study's in/out score file of the setup (every pool point)")
    scores.add_argument("--scores", help="the core score file of the setup (its ensemble score of S_C)")
    sub.add_argument("--reliability", default=None,
                     help="with --inout: results/reliability.csv, whose split-half reliability of the setup goes "
                          "on every row")
    sub.add_argument("--out", required=True, help="the ranked points (Parquet)")

    sub = verb("report", cmd_report, "build one registered table or figure from its input files (--list: all)")
    sub.add_argument("name", nargs="?", help="a registered result, e.g. table2 (see --list)")
    sub.add_argument("--input", action="append", nargs="+", metavar=("ARGUMENT", "FILE"),
                     help="the files of one of the result's inputs: --input score_paths a.parquet b.parquet")
    sub.add_argument("--out", help="the result's file (results/<name>.csv or .png)")
    sub.add_argument("--list", action="store_true", help="list the registered results and their inputs")


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors that mean bad input (settings, data, files), printed as one line instead of a traceback. The
    dataset error is caught only if its module was imported: importing it here would load torch for every verb."""
    from sslmem.config import ConfigError
    from sslmem.data.splits import SplitError
    from sslmem.data.training_sets import TrainingSetError
    from sslmem.io import CheckpointError

    errors = [ConfigError, SplitError, TrainingSetError, CheckpointError]
    datasets = sys.modules.get("sslmem.data.datasets")
    if datasets is not None:
        errors.append(datasets.DatasetNotFoundError)
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cpu_kernels.pin_for_params(args.params, args.preset, sys.argv[1:] if argv is None else argv)
        args.func(args)
    except Exception as error:  # noqa: BLE001 — re-raised unless it is one of the user errors
        if not isinstance(error, _user_errors()):
            raise
        print(f"sslmem {args.verb}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
