"""Recomputed result tables against committed ones, number by number (`sslmem verify`, the main job's self-check).

Every registered table (:func:`sslmem.studies.plugins.load_results`, kind ``table``) that the reference folder holds
is read from both folders and compared cell by cell, by column name. Rows are matched by the table's key columns (its
non-numeric columns, plus, where those do not tell rows apart, the numeric columns that do, such as a seed, an epoch
or a threshold, taken only if both tables have the same values there), never by position. A numeric cell is
*identical* (equal to the last digit as written, or NaN in both), *within tolerance* (|a - b| <= max(relative *
max(|a|, |b|), absolute)) or *differs*; a non-numeric cell (names, booleans such as ``reject_h0``) is equal or
differs. Rows and columns that only one table has are reported, and the numbers of missing rows and columns are
counted, so that every number of the reference ends up in exactly one count. Wall-clock columns
(:data:`TIMING_COLUMNS`) are never compared: they measure the machine, not the method.

Training is bit-for-bit deterministic on one machine but not across CPUs, so on another CPU than the one that
made the reference, every number downstream of training may differ beyond the tolerance; the verdict says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

# Columns that time the run (per-epoch seconds and images per second of training_curves.csv): not compared.
TIMING_COLUMNS = ("seconds", "images_per_second")
# Where a recomputed number may differ from the committed one, and why (the last line of every verdict).
MACHINE_NOTE = ("Training is bit-for-bit deterministic on one machine but not across CPUs (docs/results.md, "
                "\"These numbers depend on the machine\"): on another CPU than the one that made the reference, the "
                "numbers that depend on training differ beyond the tolerance, and that is not an error of the run.")
_OCCURRENCE = "__occurrence"


@dataclass(frozen=True)
class Tolerance:
    """|a - b| <= max(relative * max(|a|, |b|), absolute) counts as within tolerance (params.yaml
    ``report.verify_tolerance``)."""

    relative: float
    absolute: float

    @classmethod
    def from_settings(cls, configured: dict, relative: float | None = None, absolute: float | None = None):
        """params.yaml's report.verify_tolerance, with either part replaced where given."""
        return cls(relative=configured["relative"] if relative is None else relative,
                   absolute=configured["absolute"] if absolute is None else absolute)

    def allows(self, a: float, b: float) -> bool:
        return abs(a - b) <= max(self.relative * max(abs(a), abs(b)), self.absolute)

    def __str__(self) -> str:
        return f"relative {self.relative:g}, absolute {self.absolute:g}"


@dataclass(frozen=True)
class Difference:
    """One cell that differs: its column, its row (described by key values), both values and how far apart."""

    column: str
    row: str
    reference: object
    candidate: object
    absolute: float = math.nan
    relative: float = math.nan

    def describe(self) -> str:
        if isinstance(self.reference, float) and isinstance(self.candidate, float):
            first, second = distinct_texts(self.reference, self.candidate)
        else:
            first, second = _text(self.reference) or "empty", _text(self.candidate) or "empty"
        return f"{self.column} {first} vs {second} in row {self.row}"


@dataclass
class TableComparison:
    """What comparing one table found; `status` is ``compared`` or ``not_recomputed`` (no candidate file)."""

    table: str
    status: str = "compared"
    key_columns: tuple[str, ...] = ()
    n_numbers: int = 0
    identical: int = 0
    within_tolerance: int = 0
    differing: int = 0
    missing_numbers: int = 0
    n_other_cells: int = 0
    other_differing: int = 0
    missing_rows: list[str] = field(default_factory=list)
    extra_rows: list[str] = field(default_factory=list)
    missing_columns: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    skipped_columns: tuple[str, ...] = ()
    largest: Difference | None = None
    first_other: Difference | None = None

    @property
    def reproduced(self) -> bool:
        """Every number identical or within tolerance, every other cell equal, the same rows and columns."""
        return self.status == "compared" and not (self.differing or self.other_differing or self.missing_rows
                                                  or self.extra_rows or self.missing_columns or self.extra_columns)


# --- cells ------------------------------------------------------------------------------------------------------

def _is_nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value) -> str:
    """A cell as text for equality and for key values: empty for a missing value, the shortest exact repr for a
    float (1.0 and 1 are the same number)."""
    if _is_nan(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def distinct_texts(a: float, b: float) -> tuple[str, str]:
    """The two numbers with as few significant digits (at least 3) as tell them apart."""
    for digits in range(3, 18):
        first, second = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if first != second:
            return first, second
    return repr(a), repr(b)


def compare_numbers(a: float, b: float, tolerance: Tolerance) -> tuple[str, float, float]:
    """("identical" | "within" | "differs", absolute difference, relative difference) of two numbers; NaN equals
    NaN, NaN against a number differs by infinity."""
    if (math.isnan(a) and math.isnan(b)) or a == b:
        return "identical", 0.0, 0.0
    if math.isnan(a) or math.isnan(b):
        return "differs", math.inf, math.inf
    absolute = abs(a - b)
    relative = absolute / max(abs(a), abs(b))
    return ("within" if tolerance.allows(a, b) else "differs"), absolute, relative


# --- tables -------------------------------------------------------------------------------------------------------

def read_table(path: Path):
    """A result CSV; pandas reads every float exactly as written (round trip), so equality means the same digits."""
    import pandas as pd

    return pd.read_csv(path)


def _numeric(series) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return is_numeric_dtype(series) and not is_bool_dtype(series)


def _kind(series) -> str:
    """"bool", "int", "float" or "text": what a column holds, as a key candidate."""
    from pandas.api.types import is_bool_dtype, is_integer_dtype

    if is_bool_dtype(series):
        return "bool"
    if is_integer_dtype(series):
        return "int"
    return "float" if _numeric(series) else "text"


def key_columns(reference, candidate) -> tuple[tuple[str, ...], bool]:
    """The columns that identify a row (in table order), and whether they do so alone (else rows are matched within
    each group of equal keys in the order written). A column is taken only while rows still repeat, only if it tells
    more rows apart and only if the values of one table are among those of the other (rows may be missing or extra,
    but a key never takes values of its own on both sides): first the text columns, in table order;
    then, one at a time, the numeric column that leaves the fewest rows repeating among those sorted (either way)
    within each group of the keys so far (a seed, an epoch, a threshold, a kept percentage: the order a table is
    written in, not a result). Booleans (a test's verdict) never."""
    shared = [c for c in reference.columns if c in candidate.columns and c not in TIMING_COLUMNS]
    kinds = {c: _kind(reference[c]) for c in shared if _kind(reference[c]) == _kind(candidate[c])}

    def repeats(columns) -> int:
        return int(reference.duplicated(list(columns)).sum()) if columns else max(len(reference) - 1, 0)

    def helps(column, keys) -> bool:
        ours, theirs = set(reference[column].map(_text)), set(candidate[column].map(_text))
        return repeats([*keys, column]) < repeats(keys) and (ours <= theirs or theirs <= ours)

    keys: list[str] = []
    for column in (c for c in shared if kinds.get(c) == "text"):
        if repeats(keys) and helps(column, keys):
            keys.append(column)
    numeric = [c for c in shared if kinds.get(c) in ("int", "float")]
    while repeats(keys):
        usable = [c for c in numeric if c not in keys and helps(c, keys) and _sorted_in_groups(reference, keys, c)]
        if not usable:
            break
        keys.append(min(usable, key=lambda c: repeats([*keys, c])))
    return tuple(c for c in reference.columns if c in keys), repeats(keys) == 0


def _sorted_in_groups(table, keys: Sequence[str], column: str) -> bool:
    values = table[column]
    if values.isna().any():
        return False
    groups = values.groupby([table[k].map(_text) for k in keys], sort=False) if keys else [(None, values)]
    return all(group.is_monotonic_increasing or group.is_monotonic_decreasing for _, group in groups)


def _keyed(table, keys: Sequence[str]):
    """A frame of the table's key values as text, the occurrence of each key within the table and the row's index."""
    import pandas as pd

    keyed = pd.DataFrame({f"__key_{column}": table[column].map(_text) for column in keys}, index=table.index)
    names = list(keyed.columns)
    keyed[_OCCURRENCE] = keyed.groupby(names, sort=False).cumcount() if names else range(len(keyed))
    keyed["__row"] = table.index
    return keyed, [*names, _OCCURRENCE]


def match_rows(reference, candidate, keys: Sequence[str]) -> tuple[list, list, list]:
    """Rows matched by key: ([(reference index, candidate index)], reference-only indices, candidate-only indices)."""
    ref, names = _keyed(reference, keys)
    cand, _ = _keyed(candidate, keys)
    merged = ref.merge(cand, on=names, how="outer", suffixes=("_ref", "_cand"), indicator=True, sort=False)
    both = merged[merged["_merge"] == "both"]
    pairs = list(zip(both["__row_ref"].astype(int), both["__row_cand"].astype(int)))
    missing = merged.loc[merged["_merge"] == "left_only", "__row_ref"].astype(int).tolist()
    extra = merged.loc[merged["_merge"] == "right_only", "__row_cand"].astype(int).tolist()
    return pairs, missing, extra


def occurrences(table, keys: Sequence[str]):
    """Each row's place (1, 2, ...) among the rows of the table with the same key values."""
    return _keyed(table, keys)[0][_OCCURRENCE] + 1


def row_label(table, index: int, keys: Sequence[str], varying: Sequence[str], occurrence: int | None = None) -> str:
    """A row described by the key columns that vary within the table (all keys if none vary), and by its place
    among the rows of equal keys where keys do not identify rows."""
    shown = [column for column in keys if column in varying] or list(keys)
    label = ", ".join(f"{column}={_text(table.at[index, column]) or 'empty'}" for column in shown)
    if occurrence is not None:
        label = f"{label} (#{occurrence} of its key)" if label else f"#{occurrence}"
    return label


def compare_tables(name: str, reference, candidate, tolerance: Tolerance) -> TableComparison:
    """Compare one table's reference and candidate frames (see the module's docstring)."""
    reference, candidate = reference.reset_index(drop=True), candidate.reset_index(drop=True)
    keys, unique = key_columns(reference, candidate)
    numbers = [c for c in reference.columns if c not in TIMING_COLUMNS and _numeric(reference[c])]
    others = [c for c in reference.columns if c not in TIMING_COLUMNS and c not in numbers and c not in keys]
    result = TableComparison(
        table=name, key_columns=keys, n_numbers=len(reference) * len(numbers),
        missing_columns=tuple(c for c in reference.columns if c not in candidate.columns),
        extra_columns=tuple(c for c in candidate.columns if c not in reference.columns),
        skipped_columns=tuple(c for c in reference.columns if c in TIMING_COLUMNS))
    varying = [c for c in keys if reference[c].map(_text).nunique() > 1]
    pairs, missing, extra = match_rows(reference, candidate, keys)
    ref_place = None if unique else occurrences(reference, keys)
    cand_place = None if unique else occurrences(candidate, keys)

    def label(table, index, places):
        return row_label(table, index, keys, varying, None if places is None else int(places[index]))

    result.missing_rows = [label(reference, i, ref_place) for i in missing]
    result.extra_rows = [label(candidate, j, cand_place) for j in extra]
    largest: dict[str, Difference | None] = {"differs": None, "within": None}
    for i, j in pairs:
        where = label(reference, i, ref_place)
        for column in (c for c in numbers if c in candidate.columns):
            verdict, difference = _compare_number(reference, candidate, i, j, column, where, tolerance)
            setattr(result, _COUNTS[verdict], getattr(result, _COUNTS[verdict]) + 1)
            if difference is not None and _bigger(difference, largest[verdict]):
                largest[verdict] = difference
        for column in (c for c in others if c in candidate.columns):
            result.n_other_cells += 1
            a, b = reference.at[i, column], candidate.at[j, column]
            if _text(a) != _text(b):
                result.other_differing += 1
                result.first_other = result.first_other or Difference(column, where, a, b)
    result.largest = largest["differs"] or largest["within"]
    result.missing_numbers = result.n_numbers - result.identical - result.within_tolerance - result.differing
    return result


_COUNTS = {"identical": "identical", "within": "within_tolerance", "differs": "differing"}


def _compare_number(reference, candidate, i, j, column, label, tolerance) -> tuple[str, Difference | None]:
    """One numeric cell of the reference against the candidate's (compared as text where the candidate's column
    is not numeric)."""
    a, b = reference.at[i, column], candidate.at[j, column]
    if not _numeric(candidate[column]):
        same = _text(float(a)) == _text(b)
        return ("identical", None) if same else ("differs", Difference(column, label, a, b, math.inf, math.inf))
    verdict, absolute, relative = compare_numbers(float(a), float(b), tolerance)
    if verdict == "identical":
        return verdict, None
    return verdict, Difference(column, label, float(a), float(b), absolute, relative)


def _bigger(difference: Difference, than: Difference | None) -> bool:
    return than is None or (difference.relative, difference.absolute) > (than.relative, than.absolute)


def verify(reference_dir: Path, candidate_dir: Path, tables: Iterable[str], tolerance: Tolerance) -> list:
    """Compare every table of `tables` (file names, or registered paths results/<name>.csv) that the reference folder
    holds; a table the candidate folder lacks is reported as not recomputed, never as reproduced."""
    comparisons = []
    for name in (Path(table).name for table in tables):
        reference_path, candidate_path = Path(reference_dir) / name, Path(candidate_dir) / name
        if not reference_path.is_file():
            continue
        if not candidate_path.is_file():
            comparisons.append(TableComparison(table=name, status="not_recomputed",
                                               n_numbers=_count_numbers(read_table(reference_path))))
            continue
        comparisons.append(compare_tables(name, read_table(reference_path), read_table(candidate_path), tolerance))
    return comparisons


def _count_numbers(table) -> int:
    return len(table) * sum(1 for c in table.columns if c not in TIMING_COLUMNS and _numeric(table[c]))


# --- the verdict --------------------------------------------------------------------------------------------------

def table_line(comparison: TableComparison) -> str:
    """One line per table, e.g. "table2.csv: 240 numbers, 231 identical, 6 within tolerance, 3 differ (largest:
    p_value 0.027 vs 0.197 in row ...)"."""
    c = comparison
    if c.status == "not_recomputed":
        return f"{c.table}: not recomputed by this run ({c.n_numbers} numbers not compared)"
    parts = [f"{c.n_numbers} numbers", f"{c.identical} identical"]
    if c.within_tolerance:
        parts.append(f"{c.within_tolerance} within tolerance")
    if c.differing:
        parts.append(f"{c.differing} differ")
    if c.missing_numbers:
        parts.append(f"{c.missing_numbers} missing")
    line = f"{c.table}: " + ", ".join(parts)
    if c.largest is not None:
        kind = "largest" if c.differing else "largest within tolerance"
        line += f" ({kind}: {c.largest.describe()}, relative difference {c.largest.relative:.2g})"
    if c.other_differing:
        line += f"; {c.other_differing} of {c.n_other_cells} other cells differ (first: {c.first_other.describe()})"
    for what, rows in (("missing", c.missing_rows), ("extra", c.extra_rows)):
        if rows:
            line += f"; {len(rows)} rows {what} (first: {rows[0]})"
    for what, columns in (("missing", c.missing_columns), ("extra", c.extra_columns)):
        if columns:
            line += f"; columns {what}: {', '.join(columns)}"
    return line


def verdict_lines(comparisons: Sequence[TableComparison], tolerance: Tolerance, reference: str,
                  candidate: str) -> list[str]:
    """The printed verdict: a header, one line per table, the totals and what they mean."""
    compared = [c for c in comparisons if c.status == "compared"]
    skipped = [c for c in comparisons if c.status == "not_recomputed"]
    total = {key: sum(getattr(c, key) for c in compared)
             for key in ("n_numbers", "identical", "within_tolerance", "differing", "missing_numbers")}
    lines = [f"sslmem verify: {candidate} (recomputed) against {reference} (reference), every registered table; "
             f"tolerance {tolerance}; timing columns not compared ({', '.join(TIMING_COLUMNS)})"]
    lines += ["  " + table_line(c) for c in [*compared, *skipped]]
    summary = (f"{len(compared)} of {len(comparisons)} tables, {total['n_numbers']} numbers: "
               f"{total['identical']} identical, {total['within_tolerance']} within tolerance, "
               f"{total['differing']} differ")
    if total["missing_numbers"]:
        summary += f", {total['missing_numbers']} missing"
    failed = [c.table for c in compared if not c.reproduced]
    lines.append(("REPRODUCED " if not failed else "NOT REPRODUCED ") + summary
                 + (f" (tables that differ: {', '.join(failed)})" if failed else ""))
    if skipped:
        lines.append(f"NOT COMPARED {len(skipped)} of {len(comparisons)} tables, because the candidate folder does not "
                     f"have them (not recomputed): {', '.join(c.table for c in skipped)}. Most are studies' tables, "
                     f"outside the default targets: build a study's target there too (e.g. `bash scripts/reproduce.sh "
                     f"study_privacy`) and they are compared as well.")
    lines.append(MACHINE_NOTE)
    return lines


def comparisons_frame(comparisons: Sequence[TableComparison], tolerance: Tolerance):
    """The tidy verdict: one row per table."""
    import pandas as pd

    rows = []
    for c in comparisons:
        largest = c.largest
        rows.append({
            "table": c.table, "status": c.status, "reproduced": c.reproduced, "n_numbers": c.n_numbers,
            "identical": c.identical, "within_tolerance": c.within_tolerance, "differing": c.differing,
            "missing_numbers": c.missing_numbers, "n_other_cells": c.n_other_cells,
            "other_differing": c.other_differing, "missing_rows": len(c.missing_rows), "extra_rows": len(c.extra_rows),
            "missing_columns": " ".join(c.missing_columns), "extra_columns": " ".join(c.extra_columns),
            "key_columns": " ".join(c.key_columns), "largest_column": largest.column if largest else "",
            "largest_row": largest.row if largest else "",
            "largest_reference": largest.reference if largest else math.nan,
            "largest_candidate": largest.candidate if largest else math.nan,
            "largest_absolute_difference": largest.absolute if largest else math.nan,
            "largest_relative_difference": largest.relative if largest else math.nan,
            "relative_tolerance": tolerance.relative, "absolute_tolerance": tolerance.absolute,
        })
    return pd.DataFrame(rows)


def run_verify(reference: Path, candidate: Path, tables: Iterable[str], tolerance: Tolerance, out: Path) -> int:
    """`sslmem verify`: compare, print the verdict, write it (`out`: one row per table; beside it, .txt: the printed
    verdict) and return the exit status: 0 when every compared table is reproduced, 1 when one is not, 2 when the
    candidate folder has none of the reference's tables."""
    import sys

    from sslmem.io import atomic_to_csv, atomic_write_text

    comparisons = verify(reference, candidate, tables, tolerance)
    if not any(c.status == "compared" for c in comparisons):
        print(f"sslmem verify: error: no registered table of {reference} is in {candidate}: nothing was recomputed "
              "there (build the targets first)", file=sys.stderr)
        return 2
    lines = verdict_lines(comparisons, tolerance, str(reference), str(candidate))
    atomic_to_csv(comparisons_frame(comparisons, tolerance), out)
    atomic_write_text(out.with_suffix(".txt"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written: {out} (one row per table), {out.with_suffix('.txt')} (this verdict)")
    return 0 if all(c.reproduced for c in comparisons if c.status == "compared") else 1
