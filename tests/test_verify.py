"""`sslmem verify`, the main job's self-check: every number of the committed tables against the recomputed ones.
Unit tests on small tables written in tmp_path with hand-made differences, and the committed results verified
against a copy of themselves. (scripts/reproduce.sh, which recomputes and then verifies, is run as a dry run by
tests/test_docs_commands.py.)"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sslmem import cli
from sslmem.report.verify import (
    Tolerance, compare_numbers, compare_tables, distinct_texts, key_columns, table_line, verdict_lines, verify,
)

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = Tolerance(relative=1e-6, absolute=1e-12)


def table2_like() -> pd.DataFrame:
    """Two setups × two hypotheses: text keys, numbers, a boolean verdict, a column that is always empty."""
    return pd.DataFrame({
        "dataset": ["fashion_mnist"] * 4,
        "setup": ["simclr-resnet18", "simclr-resnet18", "mae-vit_tiny", "mae-vit_tiny"],
        "hypothesis": ["C>S", "S>I", "C>S", "S>I"],
        "n_1": [100, 100, 100, 100],
        "t_statistic": [1.93, 1.73, 1.23, 1.18],
        "p_value": [0.027, 0.043, 0.11, 0.12],
        "reject_h0": [False, False, False, False],
        "paper_p_value": [math.nan] * 4,
    })


def curves_like() -> pd.DataFrame:
    """A per-epoch log: rows told apart only by numeric columns (seed, epoch), and timing columns."""
    rows = [{"setup": "simclr-resnet18", "role": role, "seed": seed, "epoch": epoch, "loss": 4.0 - 0.1 * epoch + seed,
             "seconds": 1.5, "images_per_second": 600.0}
            for role in ("f", "g") for seed in (0, 1) for epoch in (1, 2, 3)]
    return pd.DataFrame(rows)


def test_numbers_are_identical_within_tolerance_or_differ():
    assert compare_numbers(0.027, 0.027, TOLERANCE) == ("identical", 0.0, 0.0)
    assert compare_numbers(math.nan, math.nan, TOLERANCE)[0] == "identical"
    assert compare_numbers(1.0, 1.0 + 1e-9, TOLERANCE)[0] == "within"
    assert compare_numbers(0.0, 1e-13, TOLERANCE)[0] == "within"  # the absolute floor, where relative means nothing
    verdict, absolute, relative = compare_numbers(0.027, 0.197, TOLERANCE)
    assert verdict == "differs" and absolute == pytest.approx(0.17) and relative == pytest.approx(0.17 / 0.197)
    assert compare_numbers(0.5, math.nan, TOLERANCE) == ("differs", math.inf, math.inf)
    assert distinct_texts(0.1234567, 0.1234568) == ("0.1234567", "0.1234568")
    assert distinct_texts(0.027, 0.197) == ("0.027", "0.197")


def test_a_table_against_itself_is_identical_in_every_number():
    result = compare_tables("table2.csv", table2_like(), table2_like(), TOLERANCE)
    assert result.reproduced and result.n_numbers == 16 and result.identical == 16  # NaN = NaN
    assert result.key_columns == ("setup", "hypothesis") and result.n_other_cells == 8  # dataset, reject_h0
    assert table_line(result) == "table2.csv: 16 numbers, 16 identical"


def test_hand_made_differences_are_counted_and_the_largest_is_named():
    reference, candidate = table2_like(), table2_like()
    candidate.loc[0, "p_value"] = 0.197                    # differs
    candidate.loc[1, "t_statistic"] *= 1 + 1e-9            # within tolerance
    candidate.loc[2, "t_statistic"] = 2.5                  # differs, less (relative) than the p-value
    candidate.loc[3, "reject_h0"] = True                   # a non-numeric cell
    candidate = candidate.iloc[::-1].reset_index(drop=True)  # rows in another order: matched by key, not position
    result = compare_tables("table2.csv", reference, candidate, TOLERANCE)
    assert (result.identical, result.within_tolerance, result.differing) == (13, 1, 2)
    assert result.other_differing == 1 and not result.reproduced
    assert result.largest.column == "p_value" and result.largest.row == "setup=simclr-resnet18, hypothesis=C>S"
    line = table_line(result)
    assert line.startswith("table2.csv: 16 numbers, 13 identical, 1 within tolerance, 2 differ (largest: p_value "
                           "0.027 vs 0.197 in row setup=simclr-resnet18, hypothesis=C>S")
    assert ("1 of 8 other cells differ (first: reject_h0 False vs True in row setup=mae-vit_tiny, hypothesis=S>I)"
            in line)


def test_within_tolerance_alone_is_reproduced():
    candidate = table2_like()
    candidate["t_statistic"] *= 1 + 1e-9
    result = compare_tables("table2.csv", table2_like(), candidate, TOLERANCE)
    assert result.reproduced and result.within_tolerance == 4 and "largest within tolerance: t_statistic" in \
        table_line(result)


def test_missing_and_extra_rows_and_columns_are_reported_and_their_numbers_counted():
    reference, candidate = table2_like(), table2_like()
    candidate = candidate.drop(index=3).drop(columns="t_statistic")
    candidate.loc[9] = ["fashion_mnist", "dino-resnet18", "C>S", 100, 0.5, False, math.nan]
    candidate["cohens_d"] = 0.1
    result = compare_tables("table2.csv", reference, candidate, TOLERANCE)
    assert result.missing_rows == ["setup=mae-vit_tiny, hypothesis=S>I"]
    assert result.extra_rows == ["setup=dino-resnet18, hypothesis=C>S"]
    assert result.missing_columns == ("t_statistic",) and result.extra_columns == ("cohens_d",)
    # 16 numbers: 3 matched rows × 3 numeric columns left identical; the rest (a row, a column) missing.
    assert (result.identical, result.differing, result.missing_numbers) == (9, 0, 7)
    assert not result.reproduced
    line = table_line(result)
    assert "7 missing" in line and "1 rows missing (first: setup=mae-vit_tiny, hypothesis=S>I)" in line
    assert "columns missing: t_statistic" in line and "columns extra: cohens_d" in line


def test_rows_told_apart_by_numbers_are_matched_by_seed_and_epoch_and_timings_are_not_compared():
    reference, candidate = curves_like(), curves_like()
    candidate["seconds"] = 9.0                             # another machine's speed: never compared
    candidate["loss"] = candidate["loss"] + 0.5            # every loss differs: loss can never be a key
    candidate = candidate.sample(frac=1, random_state=0).reset_index(drop=True)
    assert key_columns(reference, candidate) == (("role", "seed", "epoch"), True)
    result = compare_tables("training_curves.csv", reference, candidate, TOLERANCE)
    assert result.n_numbers == 12 * 3 and result.differing == 12 and result.identical == 24
    assert result.skipped_columns == ("seconds", "images_per_second")
    assert result.largest.column == "loss" and "seed=0" in result.largest.row and "epoch=3" in result.largest.row


def test_a_result_column_is_not_a_key_and_rows_without_keys_match_in_order_within_their_group():
    reference = pd.DataFrame({"setup": ["a", "a", "b"], "m": [0.3, 0.1, 0.2]})  # "a" twice, nothing tells them apart
    candidate = reference.assign(m=[0.3, 0.1, 0.25])
    assert key_columns(reference, candidate) == (("setup",), False)
    result = compare_tables("t.csv", reference, candidate, TOLERANCE)
    assert (result.identical, result.differing) == (2, 1) and result.largest.row == "setup=b (#1 of its key)"


def test_verify_reports_tables_the_candidate_lacks_as_not_recomputed(tmp_path):
    reference, candidate = tmp_path / "results", tmp_path / "runs/reproduce/results"
    for folder in (reference, candidate):
        folder.mkdir(parents=True)
        table2_like().to_csv(folder / "table2.csv", index=False)
    curves_like().to_csv(reference / "training_curves.csv", index=False)  # committed, not recomputed
    comparisons = verify(reference, candidate, ["table2.csv", "training_curves.csv", "table9.csv"], TOLERANCE)
    assert [(c.table, c.status) for c in comparisons] == [("table2.csv", "compared"),
                                                          ("training_curves.csv", "not_recomputed")]
    assert not comparisons[1].reproduced and comparisons[1].n_numbers == 36
    lines = verdict_lines(comparisons, TOLERANCE, "results", "runs/reproduce/results")
    assert lines[1] == "  table2.csv: 16 numbers, 16 identical"
    assert lines[2] == "  training_curves.csv: not recomputed by this run (36 numbers not compared)"
    assert lines[3] == "REPRODUCED 1 of 2 tables, 16 numbers: 16 identical, 0 within tolerance, 0 differ"
    assert lines[4].startswith("NOT COMPARED 1 of 2 tables") and "training_curves.csv" in lines[4]
    assert "not across CPUs" in lines[-1]


def run_cli(*argv: str) -> int:
    try:
        return cli.main(["--params", str(REPO / "params.yaml"), *argv])
    except SystemExit as stop:
        return stop.code


def test_the_verb_prints_and_writes_the_verdict_and_fails_on_a_difference(tmp_path, capsys):
    reference, candidate = tmp_path / "reference", tmp_path / "candidate"
    for folder in (reference, candidate):
        folder.mkdir()
        table2_like().to_csv(folder / "table2.csv", index=False)
    out = tmp_path / "verification.csv"
    assert run_cli("verify", "--reference", str(reference), "--candidate", str(candidate), "--out", str(out)) == 0
    assert "REPRODUCED 1 of 1 tables, 16 numbers" in capsys.readouterr().out
    written = pd.read_csv(out)
    assert written.loc[0, "table"] == "table2.csv" and written.loc[0, "identical"] == 16
    assert written.loc[0, "relative_tolerance"] == 1e-6  # params.yaml report.verify_tolerance
    assert "REPRODUCED" in out.with_suffix(".txt").read_text()

    changed = table2_like()
    changed.loc[0, "p_value"] = 0.197
    changed.to_csv(candidate / "table2.csv", index=False)
    assert run_cli("verify", "--reference", str(reference), "--candidate", str(candidate), "--out", str(out)) == 1
    printed = capsys.readouterr().out
    assert "NOT REPRODUCED" in printed and "p_value 0.027 vs 0.197" in printed
    assert pd.read_csv(out).loc[0, "largest_column"] == "p_value"
    # A looser tolerance on the command line turns the difference into one within it.
    assert run_cli("verify", "--reference", str(reference), "--candidate", str(candidate), "--out", str(out),
                   "--relative-tolerance", "0.9") == 0
    assert run_cli("verify", "--reference", str(reference), "--candidate", str(tmp_path / "empty"),
                   "--out", str(out)) == 2


def test_the_committed_results_against_a_copy_of_themselves_are_all_identical(tmp_path, capsys):
    tables = sorted((REPO / "results").glob("*.csv"))
    assert tables
    copy = tmp_path / "runs/reproduce/results"
    copy.mkdir(parents=True)
    for table in tables:
        shutil.copy(table, copy / table.name)
    out = tmp_path / "runs/reproduce/verification.csv"
    assert run_cli("verify", "--reference", str(REPO / "results"), "--candidate", str(copy), "--out", str(out)) == 0
    written = pd.read_csv(out)
    assert (written["status"] == "compared").all() and written["reproduced"].all()
    assert (written["identical"] == written["n_numbers"]).all() and written["n_numbers"].sum() > 1000
    assert "REPRODUCED" in capsys.readouterr().out


def test_the_tolerance_is_a_named_setting():
    from sslmem import plan

    settings = plan.load_settings(REPO / "params.yaml", preset="default", check_roots=False)
    assert settings["report"]["verify_tolerance"] == {"relative": 1e-6, "absolute": 1e-12}
    assert Tolerance(**settings["report"]["verify_tolerance"]) == TOLERANCE
