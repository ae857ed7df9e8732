"""Request bodies to raw input columns: JSON (MLflow's ``instances`` and ``dataframe_split``)
or CSV with a header, within the configured size limits.

Every client mistake becomes a typed :class:`~predictor.errors.RequestError`; the columns
then go to :func:`predictor.scoring.score_rows`.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from predictor.csv_dialect import allow_long_fields
from predictor.errors import (
    MalformedRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from predictor.values import OversizedInteger

JSON_TYPES = frozenset({"application/json"})
CSV_TYPES = frozenset({"text/csv", "application/csv"})


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


def body_bytes(body: str | None, base64_encoded: bool, max_bytes: int) -> bytes:
    """The bytes of an API Gateway or Function URL event's body (base64 when it says so)."""
    raw = body or ""
    if not base64_encoded:
        return raw.encode("utf-8")
    # Base64 inflates by 4/3: refuse what could not fit before decoding it.
    if len(raw) > max_bytes * 4 // 3 + 4:
        raise PayloadTooLargeError(f"request body exceeds the limit of {max_bytes} bytes")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedRequestError(f"body is marked base64 but is not: {exc}") from exc


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
    parsed = _parse_csv(text, max_rows) if kind in CSV_TYPES else _parse_json(text)
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
        shown = twice if len(twice) <= 40 else twice[:37] + "..."
        raise MalformedRequestError(f"JSON object has the key {shown!r} more than once")
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
    if not isinstance(names, list) or not all(type(n) is str for n in names):
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


def _parse_csv(text: str, max_rows: int) -> ParsedRequest:
    allow_long_fields()  # the same field limit as batch files, in every process
    rows: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), strict=True):
            if not record:
                continue  # blank lines carry no row (and are not kept: a body of line breaks)
            rows.append(record)
            if len(rows) > max_rows + 1:  # stop reading: the header and max_rows rows fit
                raise PayloadTooLargeError(
                    f"request has more than {max_rows} rows; the limit is {max_rows}"
                )
    except csv.Error as exc:
        raise MalformedRequestError(f"body is not valid CSV: {exc}") from exc
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
