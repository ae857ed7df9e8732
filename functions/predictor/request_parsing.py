"""Request bodies to raw input columns, within the configured size limits.

Bodies: JSON in MLflow's scoring protocol (``dataframe_split``, ``dataframe_records``,
``instances``, ``inputs``, optional ``params``), CSV with or without a header, and JSON
Lines (SageMaker's ``application/jsonlines``). Rows given without names are read in the
model's column order.

Every client mistake becomes a typed :class:`~predictor.errors.RequestError`; the columns
then go to :func:`predictor.scoring.score_rows`.
"""

from __future__ import annotations

import base64
import binascii
import csv
import functools
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from predictor.csv_dialect import allow_long_fields
from predictor.errors import (
    MalformedRequestError,
    PayloadTooLargeError,
    SchemaViolationError,
    UnsupportedMediaTypeError,
)
from predictor.schema import FeatureSchema
from predictor.values import OversizedInteger, shortened

JSON_TYPES = frozenset({"application/json"})
CSV_TYPES = frozenset({"text/csv", "application/csv"})
#: JSON Lines, under the names SageMaker and others use for it.
JSONLINES_TYPES = frozenset(
    {"application/jsonlines", "application/jsonl", "application/x-jsonlines"}
)
#: What the request-body error messages offer.
ACCEPTED_TYPES = "application/json, text/csv or application/jsonlines"


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
    """Raw input columns of a request; ``text`` tells CSV text from JSON values.

    ``ignored_params`` names the MLflow ``params`` the request carried: no model here
    takes any, so they are ignored and named in the response rather than refused.
    """

    columns: Mapping[str, Sequence[Any]]
    n_rows: int
    text: bool
    ignored_params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContentType:
    """A request's media type, its parameters checked.

    ``charset=utf-8`` is taken on every type; on CSV, RFC 4180's ``header=present`` or
    ``header=absent`` says whether the first row names the columns (``header`` is None
    when the client did not say).
    """

    media: str
    header: bool | None = None

    @classmethod
    @functools.lru_cache(maxsize=64)  # the same few headers, request after request
    def parse(cls, header: str | None) -> ContentType:
        """Parse a Content-Type header: 415 for a charset other than UTF-8, or another parameter."""
        media, *parameters = (header or "").split(";")
        media = media.strip().lower()
        has_header: bool | None = None
        unknown: list[str] = []
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"').lower()
            if not key and not value:
                continue  # "application/json;" has an empty parameter list
            if key == "charset":
                if value not in ("utf-8", "utf8"):
                    raise UnsupportedMediaTypeError(
                        f"charset {shortened(value)!r} is not supported: send UTF-8 "
                        "(charset=utf-8, or no charset)"
                    )
            elif key == "header" and media in CSV_TYPES:
                if value not in ("present", "absent"):
                    raise UnsupportedMediaTypeError(
                        f"header={shortened(value)!r}: say header=present (the first row "
                        "names the columns) or header=absent (every row is values)"
                    )
                has_header = value == "present"
            else:
                unknown.append(key)
        if unknown:
            raise UnsupportedMediaTypeError(
                "unrecognized content type parameter(s): "
                + ", ".join(repr(shortened(k)) for k in unknown)
                + " (accepted: charset=utf-8; for CSV, header=present or header=absent)"
            )
        return cls(media, has_header)


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
    body: bytes,
    content_type: str | None,
    max_rows: int,
    max_bytes: int,
    schema: FeatureSchema,
) -> ParsedRequest:
    """Parse a request body into columns, enforcing the size limits.

    Rows given as lists (``instances`` of lists, ``dataframe_split`` without ``columns``,
    JSON Lines arrays, a CSV without a header) are read in the order of ``schema``'s
    columns, and one of another width is a 422 naming it.
    """
    if len(body) > max_bytes:
        raise PayloadTooLargeError(f"request body is {len(body)} bytes; the limit is {max_bytes}")
    content = ContentType.parse(content_type)
    kind = content.media
    schema_names = schema.names
    if kind not in JSON_TYPES and kind not in CSV_TYPES and kind not in JSONLINES_TYPES:
        raise UnsupportedMediaTypeError(
            f"unsupported content type {shortened(kind) or '(none)'!r}: send {ACCEPTED_TYPES}"
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedRequestError(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    if kind in CSV_TYPES:
        parsed = _parse_csv(text, max_rows, schema, content.header)
    elif kind in JSONLINES_TYPES:
        parsed = _parse_jsonlines(text, max_rows, schema_names)
    else:
        parsed = _parse_json(text, schema_names)
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
        raise MalformedRequestError(f"JSON object has the key {shortened(twice)!r} more than once")
    return document


def _int_or_oversized(literal: str) -> int | OversizedInteger:
    try:
        return int(literal)
    except ValueError:  # over Python's 4,300-digit limit for converting text to int
        return OversizedInteger(literal)


def load_json(text: str, what: str = "body") -> Any:
    """Parse JSON text: duplicate keys refused, integers too long to convert kept as text."""
    try:
        try:
            return json.loads(text, object_pairs_hook=_object_without_duplicate_keys)
        except json.JSONDecodeError:
            raise
        except ValueError:
            # An integer literal too long to convert; parse again keeping such literals
            # as text (rare, so the usual request does not pay for a parse_int hook).
            return json.loads(
                text,
                object_pairs_hook=_object_without_duplicate_keys,
                parse_int=_int_or_oversized,
            )
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MalformedRequestError(f"{what} is not valid JSON: {exc}") from exc


#: The keys of a JSON body that carry rows: exactly one. MLflow's scoring protocol, and
#: ``feature_array`` (one row in the model's column order), which the Flask app of the
#: wine tutorial reads.
DATA_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs", "feature_array")

_SHAPES = (
    'JSON body must be an object with exactly one of "dataframe_split" '
    '({"columns": [...], "data": [[...], ...]}), "dataframe_records" (a list of objects), '
    '"instances" (a list of objects, or of lists in the model\'s column order), "inputs" '
    '({"column": [values...], ...}) or "feature_array" (one row in the model\'s column order), '
    'and optionally "params"'
)


def _parse_json(text: str, names: Sequence[str]) -> ParsedRequest:
    document = load_json(text)
    if not isinstance(document, dict):
        raise MalformedRequestError(_SHAPES)
    forms = [key for key in DATA_KEYS if key in document]
    unknown = [key for key in document if key not in DATA_KEYS and key != "params"]
    if len(forms) != 1 or unknown:
        extra = (
            f" (found {', '.join(repr(shortened(k)) for k in forms + unknown)})" if document else ""
        )
        raise MalformedRequestError(_SHAPES + extra)
    params = document.get("params", {})
    if not isinstance(params, dict):
        raise MalformedRequestError('"params" must be an object of parameter names to values')
    form, value = forms[0], document[forms[0]]
    if form == "dataframe_split":
        parsed = _from_split(value, names)
    elif form == "dataframe_records":
        parsed = _from_records(value, '"dataframe_records"')
    elif form == "inputs" and isinstance(value, dict):
        parsed = _from_columnar(value)
    elif form == "feature_array":
        parsed = _from_feature_array(value, names)
    else:
        parsed = _from_instances(value, f'"{form}"', names)
    if params:
        return ParsedRequest(parsed.columns, parsed.n_rows, parsed.text, tuple(params))
    return parsed


def _from_records(records: object, where: str) -> ParsedRequest:
    if not isinstance(records, list):
        raise MalformedRequestError(f"{where} must be a list of objects, one per row")
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            raise MalformedRequestError(f"{where}[{row}] is not an object")
    return _named_rows(records)


def _named_rows(records: list[dict[str, Any]]) -> ParsedRequest:
    if len(records) == 1:  # the common realtime case
        return ParsedRequest({k: [v] for k, v in records[0].items()}, 1, text=False)
    keys = dict.fromkeys(name for record in records for name in record)
    columns = LazyColumns(keys, lambda name: [record.get(name) for record in records])
    return ParsedRequest(columns, len(records), text=False)


def _from_instances(instances: object, where: str, names: Sequence[str]) -> ParsedRequest:
    """A list of objects (rows by name), of lists (rows in schema order), or of scalars."""
    if not isinstance(instances, list):
        raise MalformedRequestError(
            f"{where} must be a list of rows: objects, or lists in the model's column order"
        )
    if not instances:
        return ParsedRequest({}, 0, text=False)
    if isinstance(instances[0], dict):
        return _from_records(instances, where)
    if isinstance(instances[0], list):
        for row, values in enumerate(instances):
            if not isinstance(values, list):
                raise MalformedRequestError(
                    f"{where}[{row}] is not a list: give every row as an object, or every row "
                    "as a list"
                )
        return positional_rows(instances, names, text=False)
    for row, value in enumerate(instances):
        if isinstance(value, dict | list):
            raise MalformedRequestError(
                f"{where}[{row}] is a{'n object' if isinstance(value, dict) else ' list'} "
                "among single values: give every row the same way"
            )
    return positional_rows([[value] for value in instances], names, text=False)


def _from_feature_array(values: object, names: Sequence[str]) -> ParsedRequest:
    """``feature_array``: one row of values in schema order, or a list of such rows."""
    if not isinstance(values, list) or not values:
        raise MalformedRequestError(
            '"feature_array" must be a list of values in the model\'s column order (one row), '
            "or a list of such lists"
        )
    if all(isinstance(v, list) for v in values):
        return positional_rows(values, names, text=False)
    for position, value in enumerate(values):
        if isinstance(value, dict | list):
            raise MalformedRequestError(
                f'"feature_array"[{position}] is not a single value: give one row of values, '
                "or a list of rows"
            )
    return positional_rows([values], names, text=False)


def _from_columnar(inputs: dict[str, Any]) -> ParsedRequest:
    """MLflow's columnar ``inputs``: one list of values per column (or one value each: a row)."""
    if not inputs:
        return ParsedRequest({}, 0, text=False)
    lists = [isinstance(v, list) for v in inputs.values()]
    if not any(lists):
        return ParsedRequest({k: [v] for k, v in inputs.items()}, 1, text=False)
    if not all(lists):
        column = next(k for k, v in inputs.items() if not isinstance(v, list))
        raise MalformedRequestError(
            f'"inputs" must map every column to a list of values; {shortened(column)!r} is '
            "not a list"
        )
    lengths = {len(v) for v in inputs.values()}
    if len(lengths) != 1:
        raise MalformedRequestError(
            '"inputs" columns must all have the same number of values (found '
            + ", ".join(str(n) for n in sorted(lengths)[:5])
            + ")"
        )
    return ParsedRequest(inputs, lengths.pop(), text=False)


def _from_split(split: object, names: Sequence[str]) -> ParsedRequest:
    if not isinstance(split, dict) or set(split) - {"columns", "data", "index"}:
        raise MalformedRequestError(
            '"dataframe_split" must be an object with "columns" and "data" (and optional "index")'
        )
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(data, list):
        raise MalformedRequestError('"dataframe_split.data" must be a list of rows')
    index = split.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise MalformedRequestError(
            '"dataframe_split.index" must be a list with one label per row of "data"'
        )
    for row, values in enumerate(data):
        if not isinstance(values, list):
            raise MalformedRequestError(f'"dataframe_split.data"[{row}] must be a list of values')
    if columns is None:  # pandas' split orient without column names: schema order
        return positional_rows(data, names, text=False)
    if not isinstance(columns, list) or not all(type(n) is str for n in columns):
        raise MalformedRequestError('"dataframe_split.columns" must be a list of strings')
    if len(set(columns)) != len(columns):
        raise MalformedRequestError('"dataframe_split.columns" has duplicate names')
    for row, values in enumerate(data):
        if len(values) != len(columns):
            raise MalformedRequestError(
                f'"dataframe_split.data"[{row}] must be a list of {len(columns)} values '
                f"(one per column)"
            )
    return ParsedRequest(_columns_by_position(columns, data), len(data), text=False)


def _columns_by_position(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> LazyColumns:
    position = {name: i for i, name in enumerate(names)}
    return LazyColumns(position, lambda name: [row[position[name]] for row in rows])


#: How many rows of the wrong width one 422 names (its message counts them all).
MAX_WIDTH_ERRORS = 100


def positional_rows(
    rows: Sequence[Sequence[Any]], names: Sequence[str], *, text: bool, first_row: int = 0
) -> ParsedRequest:
    """Rows of values in the schema's column order; any other width is a 422 naming the row.

    ``first_row`` is the request position of ``rows[0]`` (a CSV's header moves it).
    """
    width = len(names)
    wrong = [row for row, values in enumerate(rows) if len(values) != width]
    if wrong:
        raise SchemaViolationError(
            f"{len(wrong)} row(s) do not have {width} values, one per column of the model "
            f"in its order ({', '.join(names[:3])}{', ...' if width > 3 else ''}); "
            "no row was scored",
            [
                {
                    "row": row + first_row,
                    "column": None,
                    "reason": f"row has {len(rows[row])} values; the model takes {width}",
                }
                for row in wrong[:MAX_WIDTH_ERRORS]
            ],
        )
    return ParsedRequest(_columns_by_position(names, rows), len(rows), text=text)


def _parse_jsonlines(text: str, max_rows: int, names: Sequence[str]) -> ParsedRequest:
    """One JSON object (a row by name) or array (a row in schema order) per line."""
    rows: list[Any] = []
    for line, content in enumerate(text.split("\n"), start=1):
        if not content.strip():
            continue
        if len(rows) == max_rows:
            raise PayloadTooLargeError(
                f"request has more than {max_rows} rows; the limit is {max_rows}"
            )
        value = load_json(content, f"JSON Lines line {line}")
        if not isinstance(value, dict | list):
            raise MalformedRequestError(
                f"JSON Lines line {line} is not an object or an array: one row per line"
            )
        if rows and isinstance(value, dict) != isinstance(rows[0], dict):
            raise MalformedRequestError(
                f"JSON Lines line {line} mixes objects and arrays: give every row the same way"
            )
        rows.append(value)
    if rows and isinstance(rows[0], dict):
        return _named_rows(rows)
    return positional_rows(rows, names, text=False)


def _parse_csv(
    text: str, max_rows: int, schema: FeatureSchema, has_header: bool | None
) -> ParsedRequest:
    """CSV rows, the first one a header or not (:func:`_first_row_is_header`)."""
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
    if not _first_row_is_header(rows[0], schema, has_header):
        return positional_rows(rows, schema.names, text=True)
    header = [name.strip() for name in rows[0]]
    if len(set(header)) != len(header):
        raise MalformedRequestError("CSV header has duplicate column names")
    for line, values in enumerate(rows[1:], start=2):
        if len(values) != len(header):
            raise MalformedRequestError(
                f"CSV row {line - 1} has {len(values)} fields; the header has {len(header)}"
            )
    return ParsedRequest(_columns_by_position(header, rows[1:]), len(rows) - 1, text=True)


def _first_row_is_header(first: list[str], schema: FeatureSchema, has_header: bool | None) -> bool:
    """Whether a CSV body's first row names its columns; never a guess that moves a row.

    The client's ``header=present|absent`` decides. Without it, a first row that names
    none of the model's columns is values; one that names some is the header unless it
    could also be values (a number under each numeric column, a known category under each
    categorical one). A row that could be either is values when, read as a header, it
    would leave a required column out; otherwise it is refused (a model whose columns are
    called ``0,1,2``, say): read the wrong way, a row of values would be lost and the
    others scored with permuted columns.
    """
    if has_header is not None:
        return has_header
    names = [cell.strip() for cell in first]
    named = sorted(set(names) & set(schema.names))
    if not named:
        return False
    if not schema.could_be_values(first):
        return True
    if schema.missing_columns(names):
        return False
    raise MalformedRequestError(
        "the first CSV row could be a header (it names the column(s) "
        + ", ".join(repr(shortened(n)) for n in named[:5])
        + (", ..." if len(named) > 5 else "")
        + ") or a row of values: say which in the content type, "
        "'text/csv; header=present' or 'text/csv; header=absent'"
    )
