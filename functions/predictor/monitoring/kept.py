"""Predictions kept for joining with labels: each scored row's id, time, prediction (and
class probabilities) and model input, in gzipped CSV objects per model version and
window (``monitoring/predictions/<model>/<version>/<window>/<writer>-<n>.csv.gz``).

A serving container gathers what capture counted (:meth:`KeptPredictions.add`, on the
capture thread) and stores it on each flush as new objects, never rewriting one; the
joiner reads them back (:func:`read_kept`). The columns: ``inference_id``, ``time``
(epoch seconds), ``prediction``, ``proba:<class>`` for each class of a classifier with
probabilities, then the model's input columns (empty for a missing value).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from predictor.io import s3_store
from predictor.monitoring.layout import WINDOW_SECONDS, kept_key
from predictor.rows import INFERENCE_ID

#: Rows kept in memory while they cannot be stored (the oldest go first beyond it).
MAX_UNSTORED_ROWS = 200_000
ID, TIME, PREDICTION, PROBABILITY = INFERENCE_ID, "time", "prediction", "proba:"


@dataclass(slots=True)
class _Block:
    """Scored rows of one model version in one window, not stored yet."""

    classes: tuple[Any, ...] | None
    columns: tuple[str, ...]
    rows: list[list[Any]] = field(default_factory=list)


def _column(values: np.ndarray) -> list[Any]:
    """A model input column as cells: float32 numbers in their shortest text (what the
    model read), missing values empty."""
    flat = values.ravel()
    if flat.dtype == np.float32:
        return ["" if text == "nan" else text for text in flat.astype(str).tolist()]
    return flat.tolist()


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


class KeptPredictions:
    """One writer's scored rows, gathered per model version and window until stored."""

    def __init__(self, writer: str) -> None:
        self.writer = writer
        self._blocks: dict[tuple[str, str, int], _Block] = {}
        self._sequence = 0
        self.dropped = 0

    def add(
        self,
        model: str,
        version: str,
        classes: tuple[Any, ...] | None,
        features: dict[str, np.ndarray],
        predictions: np.ndarray,
        ids: list[str],
        times: list[float],
        probabilities: np.ndarray | None,
    ) -> None:
        """Gather rows: each one's id, time, prediction, probabilities and input."""
        if not ids:
            return
        names = tuple(features)
        window = int(times[0]) // WINDOW_SECONDS
        block = self._blocks.get((model, version, window))
        if block is None:  # a version's columns and classes never change
            block = _Block(classes if probabilities is not None else None, names)
            self._blocks[(model, version, window)] = block
        columns = [_column(features[name]) for name in names]
        values = predictions.tolist()
        probability_rows = None
        if block.classes is not None and probabilities is not None:
            probability_rows = probabilities.tolist()
        for row, identity in enumerate(ids):
            kept = [identity, round(times[row], 3), values[row]]
            if probability_rows is not None:
                kept.extend(probability_rows[row])
            kept.extend(column[row] for column in columns)
            block.rows.append(kept)
        self._bound()

    def _bound(self) -> None:
        total = sum(len(block.rows) for block in self._blocks.values())
        for key in sorted(self._blocks):
            if total <= MAX_UNSTORED_ROWS:
                break
            total -= len(self._blocks[key].rows)
            self.dropped += len(self._blocks.pop(key).rows)

    def store(self, s3: Any, bucket: str, failed: Callable[[str], None]) -> None:
        """Store every gathered block as a new object; a block that fails stays for the
        next flush."""
        for key in sorted(self._blocks):
            model, version, window = key
            block = self._blocks[key]
            self._sequence += 1
            start = datetime.fromtimestamp(window * WINDOW_SECONDS, UTC)
            name = f"{self.writer}-{self._sequence:06d}"
            try:
                s3_store.put_bytes(
                    s3,
                    bucket,
                    kept_key(model, version, start, name),
                    encode(block.classes, block.columns, block.rows),
                    "application/gzip",
                )
            except Exception:
                failed(f"capture could not keep the predictions of {model} {version}")
                continue
            del self._blocks[key]


def header(classes: tuple[Any, ...] | None, columns: tuple[str, ...]) -> list[str]:
    """The CSV header of kept predictions."""
    probabilities = [f"{PROBABILITY}{c}" for c in classes] if classes is not None else []
    return [ID, TIME, PREDICTION, *probabilities, *columns]


def encode(
    classes: tuple[Any, ...] | None, columns: tuple[str, ...], rows: list[list[Any]]
) -> bytes:
    """Rows as a gzipped CSV with :func:`header`."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header(classes, columns))
    writer.writerows([_cell(v) for v in row] for row in rows)
    return gzip.compress(text.getvalue().encode(), compresslevel=6)


@dataclass(frozen=True, slots=True)
class KeptRow:
    """One kept prediction, read back: its cells by column name, as text."""

    inference_id: str
    time: float
    prediction: str
    cells: dict[str, str]


def read_kept(body: bytes) -> Iterator[KeptRow]:
    """The rows of one kept-predictions object."""
    reader = csv.reader(io.StringIO(gzip.decompress(body).decode()))
    names = next(reader, None)
    if names is None or names[:3] != [ID, TIME, PREDICTION]:
        raise ValueError("not a kept-predictions file")
    for row in reader:
        cells = dict(zip(names, row, strict=True))
        yield KeptRow(cells[ID], float(cells[TIME]), cells[PREDICTION], cells)
