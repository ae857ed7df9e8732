"""Cells answered as the model's own encoder answers them, where the graph alone would not.

A published model's schema records what its one-hot encoders learned
(:class:`predictor.schema.ColumnSpec`): whether one raises on an unknown category, the
infrequent category it pools unknown ones with, the whole numbers it learned for a
numeric column. Each function here takes one validated column and returns (row, reason)
for each cell it refuses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from predictor.values import MISSING_CATEGORY, MISSING_MARKERS, shortened


def answer_unknown_categories(
    values: np.ndarray, known: frozenset[str], unknown_as: str | None
) -> list[tuple[int, str]]:
    """Categories not in ``known``: made ``unknown_as`` in place (the infrequent category
    scikit-learn answers them as), or each refused (the encoder raises on one)."""
    unknown = [
        row for row, value in enumerate(values) if value not in known and value != MISSING_CATEGORY
    ]
    if unknown_as is not None:
        values[unknown] = unknown_as
        return []
    return [
        (row, f"unknown category {shortened(repr(values[row]))}: the model refuses "
         "categories it did not learn (as scikit-learn does, or where its graph would "
         "answer them otherwise; the publish notes say which)")
        for row in unknown
    ]  # fmt: skip


def refuse_unlearned_numbers(
    values: np.ndarray, learned: tuple[float, ...], refuse_every: bool, raises: bool = False
) -> list[tuple[int, str]]:
    """A one-hot encoded numeric column's values its encoder did not learn, refused where
    the graph would answer otherwise: every one when the encoder raises on them or pools
    them with an infrequent value (``refuse_every``), else those that are not whole
    numbers (the graph casts 3.5 to the category 3; a whole number it did not learn it
    ignores, as scikit-learn does). ``raises``: the encoder raises on them (the reason
    says so). No value is changed: the column may feed other steps.
    """
    unknown = np.flatnonzero(~np.isin(values, np.asarray(learned, np.float32)) & ~np.isnan(values))
    if not refuse_every:
        unknown = unknown[values[unknown] != np.trunc(values[unknown])]
    why = (
        "the model refuses values it did not learn (as scikit-learn does, or where its graph "
        "would answer them otherwise)"
        if raises
        else "the graph would answer it as another: refused"
    )
    return [
        (int(row), f"{float(values[row]):.9g} is not one of the values the model's encoder "
         f"learned for this column; {why}")
        for row in unknown
    ]  # fmt: skip


def keep_learned_markers(
    raw: Sequence[object] | np.ndarray,
    values: np.ndarray,
    bad: list[tuple[int, str]],
    known: frozenset[str],
) -> list[tuple[int, str]]:
    """A CSV cell such as ``NA`` is a missing value (as pandas reads it) unless the
    model's encoder learned it as a category of this column: then it is that category
    again, in place, and not refused as missing. Returns ``bad`` without those rows."""
    learned = known & MISSING_MARKERS
    cells = list(raw)
    kept = {row for row, cell in enumerate(cells) if cell in learned}
    for row in kept:
        values[row] = cells[row]
    return [(row, reason) for row, reason in bad if row not in kept]
