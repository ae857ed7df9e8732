"""The rows batch runs scored, read back from their outputs for joining labels.

A batch output is already a record of what was predicted: each row keeps its input,
its prediction (and probabilities) and its inference id,
``<input key>@<upload>:<line>`` (:func:`predictor.batch_keys.row_id_prefix`). Such an id
names the file and its upload, so only the outputs that labels name are read, streamed:
those of runs that succeeded with this model, on that very upload (a file uploaded again
under the same key is another upload, whose rows other labels name), within the
retention. (Rows named by the model's own id column do not name their file: their
labels are counted as unknown.)
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from predictor.batch_keys import output_keys, parse_row_id, same_upload
from predictor.io import s3_store
from predictor.io.csv.lines import open_text
from predictor.monitoring.kept import ID, PROBABILITY, TIME
from predictor.rows import INFERENCE_ID

#: A batch output's probability columns (``probability_<class>``).
OUTPUT_PROBABILITY = "probability_"
#: A field of a batch output may be as long as a batch input's record (1 MiB).
MAX_FIELD_CHARS = 1 << 20


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
    by_upload: dict[tuple[str, str], set[str]] = {}
    for identity in wanted:
        parsed = parse_row_id(identity)
        if parsed is not None:
            by_upload.setdefault(parsed[:2], set()).add(identity)
    for (key, tag), ids in sorted(by_upload.items()):
        keys = output_keys(key)
        assert keys is not None
        found = s3_store.read_json(s3, bucket, keys.report)
        report = found[0] if found is not None else {}
        scored_by = report.get("model") or {}
        finished = report.get("finished_at")
        if (
            report.get("status") != "succeeded"
            or scored_by.get("name") != model
            or not finished
            or not same_upload(tag, str((report.get("input") or {}).get("etag", "")))
        ):
            continue  # not scored, by another model, or another upload of the key
        when = datetime.fromisoformat(finished).timestamp()
        if when < cutoff:
            continue
        body = s3_store.open_object(s3, bucket, keys.predictions)
        if body is None:
            continue
        version = str(scored_by["version"])
        try:
            names, rows = _rows(
                open_text(body, keys.gzipped), ids, f"{when:.3f}", features_of(version)
            )
        finally:
            body.close()
        if rows:
            yield version, names, rows, int((report.get("rows") or {}).get("scored", len(rows)))


def _rows(
    text: Iterator[str], ids: set[str], when: str, features: list[str]
) -> tuple[tuple[str, ...], list[list[str]]]:
    """The rows of one output whose id is in ``ids`` (streamed: only those are kept)."""
    header = next(iter(text), "").rstrip("\r\n")
    if not header.endswith(INFERENCE_ID) or len(header) == len(INFERENCE_ID):
        return (), []  # an output written before rows had ids
    delimiter = header[-len(INFERENCE_ID) - 1]
    header_cells = next(csv.reader([header], delimiter=delimiter, skipinitialspace=True))
    columns = [name.strip() for name in header_cells]
    # The appended columns are the last ones: the prediction, the probabilities, the id.
    # Counted back from the id, as the input may have its own "prediction" and
    # "probability_*" columns (a classifier's output scored again), which come before.
    first_probability = len(columns) - 1
    while first_probability > 1 and columns[first_probability - 1].startswith(OUTPUT_PROBABILITY):
        first_probability -= 1
    appended = first_probability - 1
    positions = [appended, *range(first_probability, len(columns) - 1)]
    positions += [columns.index(c) for c in features if c in columns[:appended]]
    names = (ID, TIME, *(_kept_name(columns[at]) for at in positions))
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
    found = []
    # as the run read its input: spaces after a delimiter skipped (' "a,b"' is one field)
    for row in csv.reader(text, delimiter=delimiter, skipinitialspace=True):
        if len(row) == len(columns) and row[-1] in ids:
            found.append([row[-1], when, *(row[at] for at in positions)])
    return names, found


def _kept_name(column: str) -> str:
    """A batch output column's name in kept predictions (``probability_x`` is ``proba:x``)."""
    if column.startswith(OUTPUT_PROBABILITY):
        return PROBABILITY + column[len(OUTPUT_PROBABILITY) :]
    return column
