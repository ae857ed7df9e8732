"""Requests capture noted as they came, read back by the counting thread: parsed again with
their route's own parser and validated in bulk by the validator that accepted them (its
rules look at one row at a time, so in bulk it gives what it gave each request).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from predictor.models.registry import LoadedModel
from predictor.rows import ParsedRequest, row_ids
from predictor.schema import Features


class Scored(NamedTuple):
    """Scored rows as capture counts and keeps them."""

    features: Features
    predictions: np.ndarray
    ids: list[str]
    times: list[float]
    probabilities: np.ndarray | None


def validated_again(
    model: LoadedModel, items: list[tuple[Any, ...]], failed: Callable[[str], None]
) -> list[Scored]:
    """The model input of requests noted as they came: parsed again, and validated in
    bulk by the validator that accepted them (its rules look at one row at a time, so
    in bulk it gives what it gave each request), one bulk per kind of cell; with each
    row's id, time and probabilities.
    """
    if not items:
        return []
    schema = model.predictor.schema
    dtype = np.float64 if model.predictor.task == "regression" else object
    bulks: dict[bool, tuple[dict[str, list[Any]], list[Any], list[Any]]] = {}
    for item in items:
        try:
            parsed: ParsedRequest = item[2]()
        except Exception:
            failed(f"capture could not parse a request of {model.name} again")
            continue
        if parsed.n_rows != len(item[3]):
            failed(f"capture parsed a request of {model.name} into other rows")
            continue
        columns, predictions, extras = bulks.setdefault(
            parsed.text, ({name: [] for name in schema.names}, [], [])
        )
        for name, cells in columns.items():
            raw = parsed.columns.get(name)
            cells.extend([None] * parsed.n_rows if raw is None else raw)
        predictions.extend(item[3])
        probabilities = item[6] if item[6] is not None else [None] * parsed.n_rows
        ids = row_ids(item[5], parsed.n_rows)
        extras.extend(zip(ids, [item[0]] * parsed.n_rows, probabilities, strict=True))
    found = []
    for text, (columns, predictions, extras) in bulks.items():
        validated = schema.validate(columns, len(predictions), text=text)
        if validated.errors:  # never met: these rows were accepted once already
            failed(f"capture refused {len(validated.errors)} row(s) it scored")
        kept = [extras[row] for row in validated.rows.tolist()]
        probabilities = [p for _, _, p in kept]
        found.append(
            Scored(
                validated.features,
                np.array(predictions, dtype=dtype)[validated.rows],
                [i for i, _, _ in kept],
                [t for _, t, _ in kept],
                np.array(probabilities) if kept and probabilities[0] is not None else None,
            )
        )
    return found
