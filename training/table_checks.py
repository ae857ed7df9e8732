"""What a training table must be before anything is learned from it, and what was done to it.

The job refuses, naming the column, what would otherwise be learned wrongly or served
badly: duplicate or empty header names (pandas would rename them), infinite numbers,
identifier and date columns (a new id would change the answer), categories too long to
list. It repairs, and says so in the summary and the manifest, what a person expects
repaired: a few non-numeric cells in a numeric column ("?", "n/a") become missing values,
rows without a target are left out, columns named with ``--drop`` are dropped.
"""

from __future__ import annotations

import collections
import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: A column stays numeric when at most this share of its non-missing cells is not a
#: number (those cells become missing values): a few "?" do not make 200 categories.
MAX_NON_NUMERIC_SHARE = 0.05
#: The longest category the schema (the manifest, the card, the page's list) may hold.
MAX_CATEGORY_CHARS = 256
#: A text column with at least this share of distinct values among its non-missing cells
#: (and more than MIN_ID_VALUES of them) is an identifier, not a feature.
ID_DISTINCT_SHARE = 0.9
MIN_ID_VALUES = 20
#: The fewest labelled rows the job trains on (cross-validation and a holdout need rows).
MIN_ROWS = 20

#: Dates and times as tables write them: 2024-03-01, 2024/03/01, 01/03/2024, 1.3.2024,
#: optionally followed by a time.
_DATE = re.compile(
    r"\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})"
    r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?\s*"
)
#: A column counts as dates when this share of its non-missing cells look like one.
DATE_SHARE = 0.9


class TableError(ValueError):
    """The table cannot be trained on as it is; the message names the column and the fix."""


def check_header(names: Sequence[str], source: str) -> None:
    """Header names as the file has them: none empty, none repeated (after stripping).

    pandas would rename them (``a.1``, ``Unnamed: 0``) and the model would then refuse
    its own training file.
    """
    stripped = [name.strip() for name in names]
    empty = [str(position) for position, name in enumerate(stripped, start=1) if not name]
    if empty:
        raise TableError(
            f"{source}: the header has no name for column(s) {', '.join(empty)}: name every column"
        )
    repeated = [name for name, count in collections.Counter(stripped).items() if count > 1]
    if repeated:
        raise TableError(
            f"{source}: the header names {', '.join(repr(n) for n in repeated)} more than once "
            "(spaces around names do not count): give each column its own name"
        )


@dataclass(slots=True)
class TableNotes:
    """What the job did to the table before learning from it (summary and manifest)."""

    unlabeled_rows_dropped: int = 0
    dropped_columns: list[str] = field(default_factory=list)
    #: column -> how many cells were not numbers and became missing, and a few of them.
    cells_made_missing: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``training.table`` entry."""
        return {
            "unlabeled_rows_dropped": self.unlabeled_rows_dropped,
            "dropped_columns": list(self.dropped_columns),
            "cells_made_missing": dict(self.cells_made_missing),
            "warnings": list(self.warnings),
        }

    def lines(self) -> list[str]:
        """What the printed summary says of the table."""
        lines = []
        if self.unlabeled_rows_dropped:
            lines.append(f"{self.unlabeled_rows_dropped} row(s) without a target left out")
        if self.dropped_columns:
            lines.append("column(s) dropped as asked: " + ", ".join(self.dropped_columns))
        for column, found in self.cells_made_missing.items():
            examples = ", ".join(repr(v) for v in found["examples"])
            lines.append(
                f"{found['cells']} cell(s) of numeric column {column!r} are not numbers "
                f"({examples}): treated as missing"
            )
        return lines + self.warnings


def drop_columns(frame: pd.DataFrame, drop: Sequence[str], target: str) -> pd.DataFrame:
    """The table without the ``--drop`` columns: names, each of which must exist, or
    patterns with ``*`` (``proba:*``), which may match none; never the target."""
    unknown = [name for name in drop if "*" not in name and name not in frame.columns]
    if unknown:
        raise TableError(
            f"--drop {', '.join(repr(n) for n in unknown)}: no such column; columns are: "
            + ", ".join(frame.columns)
        )
    dropped = [c for c in frame.columns if any(fnmatch.fnmatchcase(str(c), p) for p in drop)]
    if target in dropped:
        raise TableError(f"--drop {target!r}: that is the target column")
    return frame.drop(columns=dropped)


def label_rows(frame: pd.DataFrame, target: str, notes: TableNotes) -> pd.DataFrame:
    """The rows that have a target value; refuses a target without enough of them."""
    labelled = frame[target].notna().to_numpy()
    notes.unlabeled_rows_dropped = int((~labelled).sum())
    if not labelled.any():
        raise TableError(f"the target column {target!r} has no values")
    if int(labelled.sum()) < MIN_ROWS:
        raise TableError(
            f"the target column {target!r} has {int(labelled.sum())} value(s); at least "
            f"{MIN_ROWS} labelled rows are needed (cross-validation and a holdout)"
        )
    return frame[labelled].reset_index(drop=True)


def check_classes(counts: pd.Series, holdout: float, rows: int, folds: int) -> None:
    """Classes the job can cross-validate and hold out: each with a row per fold, and no
    more classes than holdout rows (a stratified holdout needs one row of each)."""
    if len(counts) < 2:
        raise TableError("classification needs at least two classes in the target")
    held = int(np.ceil(holdout * rows))
    if len(counts) > held:
        raise TableError(
            f"the target has {len(counts)} classes but the holdout would have {held} rows "
            f"({holdout:g} of {rows}): a holdout needs a row of each class; use fewer "
            "classes, more rows, or a larger --holdout"
        )
    if counts.min() < folds:
        raise TableError(
            f"class {counts.idxmin()!r} has {counts.min()} rows; each class needs at "
            f"least {folds} (the number of CV folds)"
        )


def vet_features(inputs: pd.DataFrame, notes: TableNotes) -> pd.DataFrame:
    """The feature columns as the schema should see them; TableError for what cannot be."""
    inputs = inputs.copy()
    for name in inputs.columns:
        series = inputs[name]
        if pd.api.types.is_bool_dtype(series):
            continue
        if not pd.api.types.is_numeric_dtype(series):
            series = _numbers_with_a_few_stray_cells(name, series, notes)
            inputs[name] = series
        if pd.api.types.is_numeric_dtype(series):
            _check_finite(name, series)
            _warn_if_identifier(name, series, notes)
        else:
            _check_text_column(name, series)
    return inputs


def _numbers_with_a_few_stray_cells(name: str, series: pd.Series, notes: TableNotes) -> pd.Series:
    present = series.dropna()
    if present.empty:
        return series
    numbers = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    stray = present[numbers.isna()]
    if stray.empty:
        return pd.to_numeric(series)
    if len(stray) > MAX_NON_NUMERIC_SHARE * len(present):
        if len(stray) <= len(present) / 2:  # mostly numbers: say why it is read as text
            examples = ", ".join(repr(str(v)[:20]) for v in dict.fromkeys(stray.tolist()))
            commas = _decimal_commas(stray)
            notes.warnings.append(
                f"column {name!r} is read as text: {len(present) - len(stray)} of its "
                f"{len(present)} cells are numbers, {len(stray)} are not (such as "
                f"{examples[:80]}); "
                + ("numbers need decimal points, not commas" if commas else
                   "if it holds numbers, leave the others empty (missing): more than "
                   f"{MAX_NON_NUMERIC_SHARE:.0%} are not made missing for you")
            )  # fmt: skip
        return series
    notes.cells_made_missing[name] = {
        "cells": len(stray),
        "examples": [str(v)[:40] for v in dict.fromkeys(stray.tolist())][:3],
    }
    return pd.to_numeric(series.where(~series.index.isin(stray.index)), errors="coerce")


_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+\s*$")


def _decimal_commas(values: pd.Series) -> bool:
    """Whether most ``values`` are numbers written with a decimal comma ("1,5")."""
    text = values.dropna().astype(str)
    return len(text) > 0 and text.str.match(_DECIMAL_COMMA).mean() >= 0.9


def check_target(name: str, target: pd.Series) -> None:
    """TableError for a target nothing can be learned from, or whose numbers are written
    with decimal commas (read as text, they would be taken for classes)."""
    if target.nunique(dropna=True) < 2:
        raise TableError(f"the target {name!r} has one value in every row: nothing to learn")
    if not pd.api.types.is_numeric_dtype(target) and _decimal_commas(target):
        raise TableError(
            f"the target {name!r} holds numbers written with decimal commas (such as "
            f"{target.dropna().iloc[0]!r}): write them with decimal points (1.5)"
        )


def warn_of_target_copies(inputs: pd.DataFrame, target: pd.Series, notes: TableNotes) -> None:
    """A warning for each feature column equal to the target in every row (a leak: known
    only with the label, it would answer for the model and be missing when it serves)."""
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    wanted = target.to_numpy(dtype=np.float64) if numeric else target.astype(str).to_numpy()
    for name in inputs.columns:
        column = inputs[name]
        try:
            same = (
                np.array_equal(column.to_numpy(dtype=np.float64), wanted, equal_nan=True)
                if numeric
                else bool((column.astype(str).to_numpy() == wanted).all())
            )
        except (TypeError, ValueError):  # text against a numeric target: not a copy
            continue
        if same:
            notes.warnings.append(
                f"column {name!r} equals the target in every row: if it is known only with the "
                f"label, it leaks the answer; train again with --drop {name!r}"
            )


def _check_finite(name: str, series: pd.Series) -> None:
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        raise TableError(
            f"column {name!r} has {len(infinite)} infinite value(s) (first in data row "
            f"{infinite[0] + 1}): give a finite number or leave the cell empty"
        )


def _warn_if_identifier(name: str, series: pd.Series, notes: TableNotes) -> None:
    present = series.dropna()
    values = present.to_numpy(dtype=np.float64)
    if len(present) < 50 or not np.all(values == np.round(values)):
        return
    if present.nunique() >= 0.99 * len(present):
        notes.warnings.append(
            f"column {name!r} has a different whole number in (nearly) every row: if it is an "
            f"identifier, train again with --drop {name!r} (a new id would change the answer)"
        )


def _check_text_column(name: str, series: pd.Series) -> None:
    present = series.dropna().astype(str)
    if present.empty:
        return
    longest = int(present.str.len().max())
    if longest > MAX_CATEGORY_CHARS:
        raise TableError(
            f"column {name!r} has a value of {longest:,} characters (categories are at most "
            f"{MAX_CATEGORY_CHARS}): free text is not a feature here; drop it with --drop"
        )
    if present.str.fullmatch(_DATE).mean() >= DATE_SHARE:
        raise TableError(
            f"column {name!r} holds dates: a date learned as a category never generalises; "
            "drop it with --drop, or derive numeric columns from it (day of week, age)"
        )
    distinct = present.nunique()
    if distinct > MIN_ID_VALUES and distinct >= ID_DISTINCT_SHARE * len(present):
        raise TableError(
            f"column {name!r} looks like an identifier ({distinct} distinct values in "
            f"{len(present)} rows): a new id would change the answer; drop it with --drop"
        )
