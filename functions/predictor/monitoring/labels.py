"""Labels files as callers drop them under ``labels/<model>/``: read, each bad line named.

Two formats, by the file's name (``.gz`` after either is read gzipped):

- ``.csv``: a header naming ``inference_id`` and ``label`` (other columns are ignored),
  then one label per line;
- ``.jsonl`` (or ``.json``): one object per line, SageMaker Model Monitor's ground truth
  (``{"groundTruthData": {"data": "7", "encoding": "CSV"}, "eventMetadata": {"eventId":
  "<inference id>"}, "eventVersion": "0"}``) or ``{"inference_id": ..., "label": ...}``.

A line that holds no usable label is reported with its line number and reason, as a
batch file's refused rows are; the others are labels.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from predictor.io.csv.dialect import sniff_delimiter
from predictor.values import number_from_text

#: Labels read from one file at the most (a larger file is refused whole).
MAX_LABELS = 1_000_000
#: Lines longer than this are refused (a label is an id and a value).
MAX_LINE_CHARS = 10_000


class Label(NamedTuple):
    """One label: its line in the file, the inference id it names, its value as text."""

    line: int
    inference_id: str
    value: str


@dataclass(slots=True)
class LabelsFile:
    """What one labels file holds: its labels, and each bad line with why."""

    labels: list[Label] = field(default_factory=list)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    lines: int = 0


class UnreadableLabelsError(ValueError):
    """The file as a whole cannot be read as labels (its name, its header, its size)."""


def labels_format(key: str) -> str | None:
    """``csv`` or ``jsonl`` by the key's ending (``.gz`` after either); None otherwise."""
    name = key.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    return None


def read_labels(key: str, body: bytes) -> LabelsFile:
    """The labels of one file; UnreadableLabelsError when it cannot be read at all."""
    kind = labels_format(key)
    if kind is None:
        raise UnreadableLabelsError("not a labels file: name it .csv or .jsonl (optionally .gz)")
    if key.lower().endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise UnreadableLabelsError(f"the file ends in .gz but is not gzip: {exc}") from exc
    text = body.decode("utf-8", errors="replace").removeprefix("\ufeff")
    found = _csv_labels(text) if kind == "csv" else _jsonl_labels(text)
    _check_count(found)
    return found


def _csv_labels(text: str) -> LabelsFile:
    """Each physical line parsed on its own: an id and a label never span lines, so a
    stray quote costs its own line, not the lines after it."""
    lines = text.splitlines()
    found = LabelsFile()
    if not lines:
        raise UnreadableLabelsError("the file is empty")
    delimiter = sniff_delimiter("\n".join(lines[:50]))  # comma or semicolon, as batch files
    try:
        header = [name.strip() for name in next(csv.reader([lines[0]], delimiter=delimiter))]
    except (csv.Error, StopIteration) as exc:
        raise UnreadableLabelsError(f"the header is not CSV: {exc}") from exc
    if "inference_id" not in header or "label" not in header:
        raise UnreadableLabelsError(
            f"the header must name inference_id and label; it names {header[:10]}"
        )
    id_at, label_at = header.index("inference_id"), header.index("label")
    for line, raw in _usable_lines(found, lines[1:], first=2):
        try:
            row = next(csv.reader([raw], delimiter=delimiter, strict=True, skipinitialspace=True))
        except csv.Error as exc:
            found.bad_lines.append((line, f"not CSV: {exc}"))
            continue
        if len(row) != len(header):
            found.bad_lines.append((line, f"expected {len(header)} fields, got {len(row)}"))
        else:
            _add(found, row[id_at], row[label_at], line)
    return found


def _check_count(found: LabelsFile) -> None:
    """Refuse a file past MAX_LABELS labels as soon as it gets there (not after it all)."""
    if len(found.labels) > MAX_LABELS:
        raise UnreadableLabelsError(f"more than {MAX_LABELS:,} labels in one file: split it")


def _usable_lines(found: LabelsFile, lines: list[str], first: int) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line worth parsing; blank and overlong lines are
    reported as bad, and a file past MAX_LABELS labels is refused."""
    for line, raw in enumerate(lines, start=first):
        _check_count(found)
        found.lines += 1
        if not raw.strip():
            found.bad_lines.append((line, "blank line"))
        elif len(raw) > MAX_LINE_CHARS:
            found.bad_lines.append((line, f"a line longer than {MAX_LINE_CHARS:,} characters"))
        else:
            yield line, raw


def _jsonl_labels(text: str) -> LabelsFile:
    found = LabelsFile()
    for line, raw in _usable_lines(found, text.splitlines(), first=1):
        try:
            document = json.loads(raw)
        except ValueError as exc:
            found.bad_lines.append((line, f"not JSON: {exc}"))
            continue
        identity, value, problem = _from_document(document)
        if problem is not None:
            found.bad_lines.append((line, problem))
        else:
            _add(found, identity, value, line)
    return found


def _from_document(document: Any) -> tuple[Any, Any, str | None]:
    """(id, value, None), or (None, None, why not) for one JSON line."""
    if not isinstance(document, dict):
        return None, None, "not a JSON object"
    if "groundTruthData" in document:  # SageMaker's ground truth record
        data, metadata = document.get("groundTruthData"), document.get("eventMetadata")
        if not isinstance(data, dict) or not isinstance(metadata, dict):
            return None, None, "groundTruthData and eventMetadata must be objects"
        value = data.get("data")
        if data.get("encoding", "CSV") == "JSON" and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None, None, "groundTruthData.data is not the JSON its encoding says"
        return metadata.get("eventId"), value, None
    return document.get("inference_id"), document.get("label"), None


def _add(found: LabelsFile, identity: Any, value: Any, line: int) -> None:
    if isinstance(identity, int) and not isinstance(identity, bool):
        identity = str(identity)  # a JSON number as pandas writes an integer id: 42 is "42"
    if identity is None or (isinstance(identity, str) and not identity.strip()):
        found.bad_lines.append((line, "no inference_id"))
    elif not isinstance(identity, str):
        found.bad_lines.append((line, f"inference_id must be text, not {identity!r}"))
    elif value is None or (isinstance(value, str) and not value.strip()):
        found.bad_lines.append((line, "no label"))
    elif isinstance(value, dict | list):
        found.bad_lines.append((line, "a label must be a single value"))
    else:
        found.labels.append(Label(line, identity.strip(), str(value).strip()))


# ----- a label as the model reads it ----------------------------------------------------
def label_column(manifest: dict[str, Any]) -> str:
    """The joined rows' label column: the model's target (so that retraining on them
    predicts the same column), or ``label``."""
    return str(manifest.get("target") or "label")


def typed_label(value: str, manifest: dict[str, Any]) -> str | None:
    """The label as the model's task reads it; None when it cannot be one."""
    if manifest.get("task") == "regression":
        # The number rule of the model's inputs (no "1_0" or full-width digits, finite as
        # float32): a label the API would refuse as an input is no label either, and one
        # beyond float32 would square to infinity in the quality figures.
        return None if _number(value) is None else value
    classes = [str(c) for c in manifest.get("classes") or []]
    if value in classes:
        return value
    if value.lower() in ("true", "false"):  # a JSON boolean, or a CSV's "true"
        matches = [c for c in classes if c.lower() == value.lower()]
        if matches:
            return matches[0]
    number = _number(value)  # 7.0 for the class 7
    if number is None:
        return None
    matches = [c for c in classes if _number(c) == number]
    return matches[0] if matches else None


def _number(text: str) -> float | None:
    """``text`` as a number by the inputs' number rule; None when it is not one."""
    return number_from_text(text)
