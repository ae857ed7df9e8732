"""Scoring one chunk of CSV records: pure (records in, text out), no S3.

Each record the reader could not make a row of, or the schema refuses, becomes an error
row ``line,column,reason,row``; the others are predicted together and written back as
their original text with the prediction (and class probabilities) appended.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from predictor.errors import MissingColumnsError
from predictor.inference import NOT_FINITE_PREDICTION, Predictions
from predictor.io.csv import numeric as csv_numeric
from predictor.io.csv.numeric import NumericColumns
from predictor.io.csv.problems import record_problems, shown_raw
from predictor.io.csv.stream import Chunk
from predictor.models.registry import LoadedModel
from predictor.profiling.bins import Layout
from predictor.profiling.profiles import Profile
from predictor.rows import INFERENCE_ID
from predictor.schema import NUMERIC, Features

#: Rows the graph is run on at least: fewer are padded (with copies of the first row)
#: up to this many. onnxruntime may compute a row differently in a small batch (one
#: row through a linear model, a few through a forest on several threads: the last
#: digit moves), and a row's output must not depend on which rows share its chunk: a
#: file scored whole and the same file scored in byte ranges give the same bytes.
MIN_INFERENCE_ROWS = 256


@dataclass(slots=True)
class RowCounts:
    """Records read, rows scored and records refused so far (read = scored + rejected)."""

    read: int = 0
    scored: int = 0
    rejected: int = 0

    def to_dict(self) -> dict[str, int]:
        """The JSON form in reports and logs."""
        return {"read": self.read, "scored": self.scored, "rejected": self.rejected}


def csv_field(value: str, delimiter: str) -> str:
    """One field, quoted only when it has to be."""
    if any(c in value for c in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def format_numbers(values: np.ndarray) -> list[str]:
    """Shortest text that reads back to the same float32 (what the model computed)."""
    return list(np.asarray(values, dtype=np.float32).astype(str).tolist())


@dataclass(frozen=True, slots=True)
class RowIds:
    """Where each scored row's inference id comes from: the model's id column when the
    file has it, else ``prefix`` and the line the record starts on in the file
    (:func:`predictor.batch_keys.row_id_prefix`; a range of a file adds ``line_offset``,
    the lines before it)."""

    prefix: str
    line_offset: int = 0


class ChunkScorer:
    """Validates, predicts and formats one chunk of records at a time; counts the rows."""

    def __init__(
        self, model: LoadedModel, columns: list[str], delimiter: str, ids: RowIds | None = None
    ) -> None:
        self.model = model
        self.schema = model.predictor.schema
        self.delimiter = delimiter
        self.width = len(columns)
        missing = self.schema.missing_columns(columns)
        if missing:
            raise MissingColumnsError(missing)
        # Only the columns the model uses are turned into arrays.
        self.positions = {
            name: columns.index(name) for name in self.schema.names if name in columns
        }
        self.ids = ids or RowIds(":")
        id_column = model.manifest.get("id_column")
        self._id_position = columns.index(id_column) if id_column in columns else None
        head = self.ids.prefix
        quoted = csv_field(head, delimiter) != head
        self._id_head, self._id_tail = (
            ('"' + head.replace('"', '""'), '"') if quoted else (head, "")
        )
        self.rows = RowCounts()
        #: What was scored and refused, counted into the baseline's bins (monitoring).
        self.profile = Profile.empty(model.name, model.version, self._layout)
        # Plain chunks of an all-numeric model whose columns are all in the file have
        # their values parsed in C; other models and chunks take the row path only (as do
        # columns a one-hot encoder takes, whose values the schema holds to its own).
        self._numeric: NumericColumns | None = None
        if len(self.positions) == len(self.schema.names) and all(
            spec.kind == NUMERIC and spec.encoded_values is None for spec in self.schema.columns
        ):
            order = [self.positions[name] for name in self.schema.names]
            self._numeric = NumericColumns(delimiter, self.width, order)

    @property
    def _layout(self) -> Layout | None:
        baseline = self.model.baseline
        return baseline.layout if baseline is not None else None

    def check_record(self, fields: list[str]) -> str | None:
        """Why one record is not a row of the model's (None when it is one)."""
        columns = {name: [fields[position]] for name, position in self.positions.items()}
        errors = self.schema.validate(columns, 1, text=True).errors
        return f"{errors[0].column}: {errors[0].reason}" if errors else None

    def output_header(self, header_raw: str) -> str:
        """The input header plus the prediction columns and the inference id."""
        names = ["prediction"]
        predictor = self.model.predictor
        if predictor.has_probabilities:
            names += [f"probability_{c}" for c in getattr(predictor, "classes", None) or ()]
        names.append(INFERENCE_ID)
        extra = self.delimiter.join(csv_field(n, self.delimiter) for n in names)
        return f"{header_raw}{self.delimiter}{extra}\n"

    def score(self, chunk: Chunk) -> tuple[str, list[list[str]]]:
        """Output text of the good rows, and error rows (line, column, reason, raw)."""
        n = len(chunk)
        if self._numeric is not None and chunk.plain and n >= csv_numeric.MIN_LINES:
            parsed, final = self._numeric.parse(chunk.raws)
            fast = np.flatnonzero(final)
            slow = np.flatnonzero(~final)
        else:
            parsed, fast, slow = None, np.arange(0), np.arange(n)
        problems: list[list[str]] = []
        rejected = 0
        rows = np.arange(0)  # the chunk indices of the rows to predict, ascending
        features: Features = {}
        if len(slow):
            part = chunk if len(slow) == n else chunk.subset(slow.tolist())
            accepted, features, problems, rejected = self._validate(part)
            rows = slow[accepted]
        if parsed is not None and len(fast):
            if len(rows):  # rows from both paths, back in file order
                order = np.argsort(np.concatenate([fast, rows]), kind="stable")
                features = {
                    name: np.concatenate([parsed[fast, j], features[name].ravel()])[order]
                    for j, name in enumerate(self.schema.names)
                }
                rows = np.concatenate([fast, rows])[order]
            else:
                features = {name: parsed[fast, j] for j, name in enumerate(self.schema.names)}
                rows = fast
            features = {name: values.reshape(-1, 1) for name, values in features.items()}
        text = ""
        if len(rows):
            predictions = self._predict(features, len(rows))
            overflowed = predictions.non_finite_rows()
            if len(overflowed):
                for row in overflowed:
                    index = int(rows[row])
                    line, raw = str(chunk.lines[index]), chunk.raws[index]
                    problems.append([line, "", NOT_FINITE_PREDICTION, raw])
                keep = np.setdiff1d(np.arange(len(rows)), overflowed)
                rows, predictions = rows[keep], predictions.take(keep)
                features = {name: values[keep] for name, values in features.items()}
                rejected += len(overflowed)
            self.profile.add_rows(self._layout, features, predictions.values)
            raws, chosen = chunk.raws, rows.tolist()
            text = self._format(
                [raws[i] for i in chosen], predictions, self._row_ids(chunk, chosen)
            )
        self.rows.scored += len(rows)
        self.rows.read += n
        self.rows.rejected += rejected
        if problems:
            self.profile.add_refusals(rejected, [p[1] or None for p in problems])
        problems.sort(key=lambda p: int(p[0]))
        return text, problems

    def _predict(self, features: Features, rows: int) -> Predictions:
        """Predictions for ``rows`` rows, computed in a batch of MIN_INFERENCE_ROWS or more."""
        if rows >= MIN_INFERENCE_ROWS:
            return self.model.predictor.predict(features)
        padding = MIN_INFERENCE_ROWS - rows
        padded = {
            name: np.concatenate([values, np.repeat(values[:1], padding, axis=0)])
            for name, values in features.items()
        }
        return self.model.predictor.predict(padded).take(np.arange(rows))

    def _validate(self, chunk: Chunk) -> tuple[np.ndarray, Features, list[list[str]], int]:
        """The row path: which records are rows (indices), their features, the error
        rows (one per refused record, or per bad value of a row), and how many refused.
        """
        fields = chunk.fields
        refused = record_problems(chunk, self.width)
        problems = [
            [str(chunk.lines[index]), "", reason, shown_raw(chunk.raws[index])]
            for index, reason in refused.items()
        ]
        good: Sequence[int] = range(len(fields))
        if refused:
            good = [index for index in good if index not in refused]
        if not good:
            return np.arange(0), {}, problems, len(problems)
        rows = fields if len(good) == len(fields) else [fields[i] for i in good]
        transposed = list(zip(*rows, strict=True))
        columns = {
            name: np.array(transposed[position], dtype=object)
            for name, position in self.positions.items()
        }
        validated = self.schema.validate(columns, len(rows), text=True)
        bad_rows = set()
        for error in validated.errors:
            index = good[error.row]
            bad_rows.add(index)
            line = str(chunk.lines[index])
            problems.append([line, error.column or "", error.reason, chunk.raws[index]])
        accepted = np.asarray(good)[validated.rows]
        return accepted, validated.features, problems, len(refused) + len(bad_rows)

    def _row_ids(self, chunk: Chunk, rows: list[int]) -> list[str]:
        """Each output row's inference id, as a field."""
        if self._id_position is not None:
            fields, position = chunk.fields, self._id_position
            return [csv_field(fields[i][position], self.delimiter) for i in rows]
        lines, offset = chunk.lines, self.ids.line_offset
        head, tail = self._id_head, self._id_tail
        return [f"{head}{lines[i] + offset}{tail}" for i in rows]

    def _format(self, raws: list[str], predictions: Predictions, ids: list[str]) -> str:
        d = self.delimiter
        if predictions.classes is not None and predictions.probabilities is None:
            appended = [csv_field(str(v), d) for v in predictions.values]  # labels only
        elif predictions.probabilities is None:
            appended = format_numbers(predictions.values)
        else:
            labels = [csv_field(str(v), d) for v in predictions.values]
            probabilities = np.asarray(predictions.probabilities, dtype=np.float32).astype(str)
            appended = [
                label + d + d.join(row) for label, row in zip(labels, probabilities, strict=True)
            ]
        # One C-level join over (raw, delimiter, appended, delimiter, id, newline) runs:
        # ~3x a format string.
        pieces = zip(
            raws, itertools.repeat(d), appended, itertools.repeat(d), ids, itertools.repeat("\n"),
            strict=False,
        )  # fmt: skip
        return "".join(itertools.chain.from_iterable(pieces))


def error_lines(problems: list[list[str]]) -> bytes:
    return "".join(
        ",".join(csv_field(field, ",") for field in problem) + "\n" for problem in problems
    ).encode()
