"""Where the per-point score's unreliability comes from (not a test): the variance of the in/out score split into
the points' own part (signal), the measurement views' part and the training runs' part, on a built halves study.

Every encoder of the study is aligned a second time on the pool with the measurement views drawn from another seed
(`measure.seed` + 1; nothing retrained). For point i and round r, s_ir is the round's in/out score (centred
alignment of the encoder without the point − of the one with it) from the study's own alignments, t_ir the same
from the second draw of views. Then, over the trained points (canaries left out):

    view     = mean (s_ir − t_ir)² / 2                 the views' variance in one round's score
    within   = mean_i var_r(s_ir)                       all round-to-round variance (views + training + membership)
    training = within − view                            training runs and membership draws (one draw per round: not
                                                        separable in this design)
    signal   = var_i(mean_r s_ir) − within / R          the points' own, reproducible part

and the one-round reliability they imply, signal / (signal + within), beside the measured one (Spearman, on
ranks, so close but not equal). Prints the table and writes it to --out.

    .venv/bin/python benchmarks/reliability_decomposition.py --workdir /path/to/workflow --preset ranking \
        --dataset fashion_mnist --setup simclr-resnet18-e200 --out decomposition.csv
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="the workflow folder the study was built in")
    parser.add_argument("--preset", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--setup", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from sslmem.artifacts import preset_root
    from sslmem.measures.reliability import decompose_variance, single_round_scores
    from sslmem.pipeline.align import run_align
    from sslmem.plan import load_settings
    from sslmem.report.reliability import encoder_matrices

    settings = load_settings(args.workdir / "params.yaml", args.preset)
    root = args.workdir / preset_root(args.preset) / "results"
    study = root / "studies/halves"
    aligns = sorted((study / "pool_align" / args.dataset / args.setup).glob("*.parquet"))
    sets = [study / "training_sets" / args.dataset / args.setup / f"{path.stem}.csv" for path in aligns]
    redrawn = copy.deepcopy(settings)
    redrawn["measure"]["seed"] = settings["measure"]["seed"] + 1
    with tempfile.TemporaryDirectory() as folder:
        second_paths = []
        for path in aligns:
            second = Path(folder) / args.dataset / args.setup / path.name
            second.parent.mkdir(parents=True, exist_ok=True)
            run_align(redrawn, study / "checkpoints" / args.dataset / args.setup / f"{path.stem}.pt",
                      root / "splits" / f"{args.dataset}.csv", second, points="pool")
            second_paths.append(second)
        (group,) = encoder_matrices(aligns, sets).values()
        (again,) = encoder_matrices(second_paths, sets).values()
    trained = group["member"].any(axis=0) & (group["copies"] <= 1)
    rounds = np.asarray(group["rounds"])
    first = single_round_scores(group["align"][:, trained], group["member"][:, trained], rounds)
    second = single_round_scores(again["align"][:, trained], group["member"][:, trained], rounds)
    row = {"dataset": args.dataset, "setup": args.setup, "num_views": settings["measure"]["num_views"],
           **decompose_variance(first, second)}
    table = pd.DataFrame([row])
    table.to_csv(args.out, index=False)
    total = row["signal"] + row["view"] + row["training_and_membership"]
    for part in ("signal", "view", "training_and_membership"):
        print(f"{part:>24}: {row[part]:.3e} ({row[part] / total:.0%} of one round's variance)")
    print(f"{'implied one-round r':>24}: {row['implied_r_one_round']:.3f}")


if __name__ == "__main__":
    main()
