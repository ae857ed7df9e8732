"""The rows batch runs scored, read back from their outputs for joining labels.

A batch output is already a record of what was predicted: each row keeps its input,
its prediction (and probabilities) and its inference id, ``<input key>:<line>``. Such an
id names the file, so only the outputs that labels name are read: those of runs that
succeeded with this model within the retention. (Rows named by the model's id column do
not name their file; their labels are joined when the predictions were kept, else
counted as unknown.)
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from predictor.batch_keys import output_keys
from predictor.io import s3_store
from predictor.monitoring.kept import ID, PREDICTION, PROBABILITY, TIME
from predictor.rows import INFERENCE_ID

#: A batch output's probability columns (``probability_<class>``).
OUTPUT_PROBABILITY = "probability_"


def batch_rows(
    s3: object,
    bucket: str,
    model: str,
    wanted: Iterable[str],
    cutoff: float,
    features_of: Callable[[str], list[str]],
) -> Iterator[tuple[str, tuple[str, ...], list[list[str]], int]]:
    """(version, column names, the wanted rows of one output, the rows it scored) for each
    batch output the ids name, the rows' cells in the order of the names: the id, time
    and prediction first, as kept predictions have them.

    ``features_of(version)`` gives a version's feature names: a joined row keeps those
    (as the kept predictions do), not the input's other columns.
    """
    by_key: dict[str, set[str]] = {}
    for identity in wanted:
        key, colon, line = identity.rpartition(":")
        if colon and line.isdigit() and output_keys(key) is not None:
            by_key.setdefault(key, set()).add(identity)
    for key, ids in sorted(by_key.items()):
        keys = output_keys(key)
        assert keys is not None
        found = s3_store.read_json(s3, bucket, keys.report)
        report = found[0] if found is not None else {}
        scored_by = report.get("model") or {}
        finished = report.get("finished_at")
        if report.get("status") != "succeeded" or scored_by.get("name") != model or not finished:
            continue
        when = datetime.fromisoformat(finished).timestamp()
        if when < cutoff:
            continue
        body = s3_store.get_bytes(s3, bucket, keys.predictions)
        if body is None:
            continue
        if keys.gzipped:
            body = gzip.decompress(body)
        version = str(scored_by["version"])
        text = body.decode("utf-8", errors="replace")
        names, rows = _rows(text, ids, f"{when:.3f}", features_of(version))
        if rows:
            yield version, names, rows, int((report.get("rows") or {}).get("scored", len(rows)))


def _rows(
    text: str, ids: set[str], when: str, features: list[str]
) -> tuple[tuple[str, ...], list[list[str]]]:
    header = text.split("\n", 1)[0].rstrip("\r")
    if not header.endswith(INFERENCE_ID) or len(header) == len(INFERENCE_ID):
        return (), []  # an output written before rows had ids
    delimiter = header[-len(INFERENCE_ID) - 1]
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    columns = [name.strip() for name in next(reader)]
    probabilities = [c for c in columns if c.startswith(OUTPUT_PROBABILITY)]
    wanted = [PREDICTION, *probabilities, *(c for c in features if c in columns)]
    names = (ID, TIME, *(_kept_name(c) for c in wanted))
    positions = [columns.index(c) for c in wanted]
    found = []
    for row in reader:
        if len(row) == len(columns) and row[-1] in ids:
            found.append([row[-1], when, *(row[at] for at in positions)])
    return names, found


def _kept_name(column: str) -> str:
    """A batch output column's name in kept predictions (``probability_x`` is ``proba:x``)."""
    if column.startswith(OUTPUT_PROBABILITY):
        return PROBABILITY + column[len(OUTPUT_PROBABILITY) :]
    return column
