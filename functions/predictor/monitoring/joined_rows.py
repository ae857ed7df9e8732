"""Labels joined to their predictions, as the monitor writes them: each labels file's rows
per version, one gzipped CSV under ``monitoring/joined/<model>/<version>/<window the file
arrived in>/`` (named after the file, so reading it again writes the same object), with
the id, times, prediction, label (under the model's target column), probabilities and
features: what live quality measures and a retraining learns from.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from predictor.io import s3_store
from predictor.monitoring.kept import ID, PREDICTION, PROBABILITY, TIME
from predictor.monitoring.layout import WINDOW_SECONDS, joined_key

#: When a label came back, in a joined row.
LABEL_TIME = "label_time"


def first_column(body: bytes) -> list[str]:
    """The ids of a gzipped CSV of kept predictions or joined rows (its first column)."""
    rows = csv.reader(io.StringIO(gzip.decompress(body).decode()))
    next(rows, None)
    return [row[0] for row in rows if row]


def labelled_rows(
    rows: Iterator[list[str]], wanted: dict[str, Any], seen: list[int]
) -> Iterator[list[str]]:
    """The rows whose id a label names, one at a time (an object's other rows are never
    kept); ``seen[0]`` counts every row."""
    for row in rows:
        seen[0] += 1
        if row and row[0] in wanted:
            yield row


class JoinedRows:
    """One labels file's rows of one version joined to their labels, held as CSV text
    (about 200 bytes a wine row, where a dict per row took over 1 KB): the columns are
    the id, times, prediction, label (under the model's target), probabilities, features.
    """

    def __init__(self, names: tuple[str, ...], target: str) -> None:
        leading = [ID, TIME, LABEL_TIME, PREDICTION, target]
        probabilities = [n for n in names if n.startswith(PROBABILITY)]
        rest = [n for n in names if n not in leading and n not in probabilities]
        self.columns = leading + probabilities + rest
        self.text = io.StringIO()
        self._writer = csv.writer(self.text, lineterminator="\n")
        self._writer.writerow(self.columns)
        self._positions: dict[tuple[str, ...], list[int | None]] = {}

    def add(self, names: tuple[str, ...], row: list[str], extra: dict[str, str]) -> None:
        """Add ``row`` (cells in the order of ``names``) with the ``extra`` cells."""
        positions = self._positions.get(names)
        if positions is None:
            index = {name: i for i, name in enumerate(names)}
            positions = self._positions[names] = [index.get(c) for c in self.columns]
        self._writer.writerow(
            [
                extra[column] if column in extra else ("" if at is None else row[at])
                for column, at in zip(self.columns, positions, strict=True)
            ]
        )


def store_joined(
    s3: Any, bucket: str, model: str, label_file: str, arrived: float, rows: dict[str, JoinedRows]
) -> None:
    """Store one labels file's joined ``rows`` (by version) in the window it arrived in."""
    # Named after the upload: reading it again writes the same object, another upload
    # of the same key another one.
    digest = hashlib.sha256(f"{label_file}@{int(arrived)}".encode()).hexdigest()[:20]
    window = datetime.fromtimestamp(int(arrived) // WINDOW_SECONDS * WINDOW_SECONDS, UTC)
    for version, joined in rows.items():
        body = gzip.compress(joined.text.getvalue().encode())
        key = joined_key(model, version, window, digest)
        s3_store.put_bytes(s3, bucket, key, body, "application/gzip")
