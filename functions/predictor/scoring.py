"""Realtime scoring without transport: request body in, response document out.

``parse_request`` turns a JSON (``instances`` or ``dataframe_split``, the MLflow scoring
formats) or CSV body into raw columns; ``score_rows`` validates them with the model's
schema, predicts, and builds the response. Handlers only adapt events to these two
calls, and every client mistake becomes a typed :class:`~predictor.errors.RequestError`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from predictor.errors import (
    MalformedRequestError,
    MissingColumnsError,
    PayloadTooLargeError,
    SchemaViolationError,
    UnsupportedMediaTypeError,
)
from predictor.registry import LoadedModel
from predictor.schema import OversizedInteger

JSON_TYPES = frozenset({"application/json"})
CSV_TYPES = frozenset({"text/csv", "application/csv"})
#: How many row problems one error response lists (the message gives the total).
MAX_ERROR_DETAILS = 100
#: How many ignored column names one response lists (``ignored_columns_count`` has all).
MAX_IGNORED_LISTED = 100


class LazyColumns(Mapping[str, list[Any]]):
    """The columns of row-shaped input, each built only when asked for.

    Rows may carry any keys, and building a column for every distinct key would cost
    rows times keys: a small request of many rows, each with a key of its own, would
    take seconds and gigabytes. The validator asks only for the schema's columns and
    lists the other names, so the work stays proportional to the request's size plus
    rows times the schema's columns.
    """

    def __init__(self, names: Mapping[str, Any], column: Callable[[str], list[Any]]) -> None:
        self._names = names
        self._column = column

    def __getitem__(self, name: str) -> list[Any]:
        if name not in self._names:
            raise KeyError(name)
        return self._column(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """Raw input columns of a request; ``text`` tells CSV text from JSON values."""

    columns: Mapping[str, Sequence[Any]]
    n_rows: int
    text: bool


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header, lower-cased (``""`` when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_request(
    body: bytes, content_type: str | None, max_rows: int, max_bytes: int
) -> ParsedRequest:
    """Parse a request body into columns, enforcing the size limits."""
    if len(body) > max_bytes:
        raise PayloadTooLargeError(f"request body is {len(body)} bytes; the limit is {max_bytes}")
    kind = media_type(content_type)
    if kind not in JSON_TYPES and kind not in CSV_TYPES:
        raise UnsupportedMediaTypeError(
            f"unsupported content type {kind or '(none)'!r}: send application/json or text/csv"
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedRequestError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    parsed = _parse_csv(text) if kind in CSV_TYPES else _parse_json(text)
    if parsed.n_rows == 0:
        raise MalformedRequestError("the request has no rows")
    if parsed.n_rows > max_rows:
        raise PayloadTooLargeError(f"request has {parsed.n_rows} rows; the limit is {max_rows}")
    return parsed


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a key given twice (json keeps the last silently)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise MalformedRequestError(f"JSON object has the key {twice!r} more than once")
    return document


def _int_or_oversized(literal: str) -> int | OversizedInteger:
    try:
        return int(literal)
    except ValueError:  # over Python's 4,300-digit limit for converting text to int
        return OversizedInteger(literal)


def _parse_json(text: str) -> ParsedRequest:
    try:
        try:
            document = json.loads(text, object_pairs_hook=_object_without_duplicate_keys)
        except json.JSONDecodeError:
            raise
        except ValueError:
            # An integer literal too long to convert; parse again keeping such literals
            # as text (rare, so the usual request does not pay for a parse_int hook).
            document = json.loads(
                text,
                object_pairs_hook=_object_without_duplicate_keys,
                parse_int=_int_or_oversized,
            )
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MalformedRequestError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedRequestError(_SHAPES)
    forms = [key for key in ("instances", "dataframe_split") if key in document]
    if len(forms) != 1 or len(document) != 1:
        raise MalformedRequestError(_SHAPES)
    if forms[0] == "instances":
        return _from_instances(document["instances"])
    return _from_split(document["dataframe_split"])


_SHAPES = (
    'JSON body must be an object with exactly one of "instances" (a list of objects, one '
    'per row) or "dataframe_split" ({"columns": [...], "data": [[...], ...]})'
)


def _from_instances(instances: object) -> ParsedRequest:
    if not isinstance(instances, list):
        raise MalformedRequestError('"instances" must be a list of objects, one per row')
    for row, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise MalformedRequestError(f'"instances"[{row}] is not an object')
    if len(instances) == 1:  # the common realtime case
        return ParsedRequest({k: [v] for k, v in instances[0].items()}, 1, text=False)
    names = dict.fromkeys(name for instance in instances for name in instance)
    columns = LazyColumns(names, lambda name: [instance.get(name) for instance in instances])
    return ParsedRequest(columns, len(instances), text=False)


def _from_split(split: object) -> ParsedRequest:
    if not isinstance(split, dict) or set(split) - {"columns", "data", "index"}:
        raise MalformedRequestError(
            '"dataframe_split" must be an object with "columns" and "data" (and optional "index")'
        )
    names, data = split.get("columns"), split.get("data")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise MalformedRequestError('"dataframe_split.columns" must be a list of strings')
    if len(set(names)) != len(names):
        raise MalformedRequestError('"dataframe_split.columns" has duplicate names')
    if not isinstance(data, list):
        raise MalformedRequestError('"dataframe_split.data" must be a list of rows')
    for row, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(names):
            raise MalformedRequestError(
                f'"dataframe_split.data"[{row}] must be a list of {len(names)} values '
                f"(one per column)"
            )
    return ParsedRequest(_positional_columns(names, data), len(data), text=False)


def _positional_columns(names: list[str], rows: list[list[Any]]) -> LazyColumns:
    position = {name: i for i, name in enumerate(names)}
    return LazyColumns(position, lambda name: [row[position[name]] for row in rows])


def _parse_csv(text: str) -> ParsedRequest:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise MalformedRequestError(f"body is not valid CSV: {exc}") from exc
    rows = [r for r in rows if r]  # blank lines carry no row
    if not rows:
        raise MalformedRequestError("CSV body is empty: expected a header row and data rows")
    header = [name.strip() for name in rows[0]]
    if len(set(header)) != len(header):
        raise MalformedRequestError("CSV header has duplicate column names")
    for line, values in enumerate(rows[1:], start=2):
        if len(values) != len(header):
            raise MalformedRequestError(
                f"CSV row {line - 1} has {len(values)} fields; the header has {len(header)}"
            )
    return ParsedRequest(_positional_columns(header, rows[1:]), len(rows) - 1, text=True)


def score_rows(model: LoadedModel, request: ParsedRequest) -> dict[str, Any]:
    """Validate every row, predict them all, and build the response document.

    Any invalid row fails the request with a 422 that lists each problem as
    (row, column, reason); rows are 0-based positions in the request.
    """
    schema = model.predictor.schema
    try:
        validated = schema.validate(request.columns, request.n_rows, text=request.text)
    except MissingColumnsError as exc:
        details = [
            {"row": None, "column": c, "reason": "required column is missing"} for c in exc.columns
        ]
        raise SchemaViolationError(str(exc), details) from exc
    if validated.errors:
        problems = validated.errors
        raise SchemaViolationError(
            f"{len(problems)} problem(s) in {request.n_rows - validated.accepted} of "
            f"{request.n_rows} row(s); no row was scored",
            [p.to_dict() for p in problems[:MAX_ERROR_DETAILS]],
        )
    predictions = model.predictor.predict(validated.features)
    response: dict[str, Any] = {
        "model": {"name": model.name, "version": model.version},
        "predictions": predictions.values.tolist(),
    }
    if predictions.probabilities is not None and predictions.classes is not None:
        labels = [str(c) for c in predictions.classes]
        response["probabilities"] = [
            dict(zip(labels, row, strict=True)) for row in predictions.probabilities.tolist()
        ]
    if validated.extra_columns:
        response["ignored_columns"] = validated.extra_columns[:MAX_IGNORED_LISTED]
        response["ignored_columns_count"] = len(validated.extra_columns)
    return response


PUBLIC_MANIFEST_KEYS: Sequence[str] = (
    "name",
    "version",
    "created_at",
    "task",
    "target",
    "estimator",
    "schema",
    "classes",
    "metrics",
    "versions",
    "onnx",
)


def public_manifest(model: LoadedModel) -> dict[str, Any]:
    """The part of the manifest a client may see (no training data location)."""
    return {key: model.manifest.get(key) for key in PUBLIC_MANIFEST_KEYS}
