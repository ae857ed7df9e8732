"""JSON bodies in MLflow's scoring protocol (``dataframe_split``, ``dataframe_records``,
``instances``, ``inputs``, optional ``params``) and the tutorials' ``feature_array``: one
shape each, every mistake a typed RequestError.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from predictor.errors import MalformedRequestError
from predictor.rows import (
    LazyColumns,
    ParsedRequest,
    columns_by_position,
    positional_rows,
)
from predictor.values import OversizedInteger, shortened


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a key given twice (json keeps the last silently)."""
    if len(pairs) < 2:  # no key can repeat: the common row and a flood of {} stay cheap
        return dict(pairs)
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


def parse_json(text: str, names: Sequence[str]) -> ParsedRequest:
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
    return named_rows(records)


#: Keys of a single row whose columns are all built at once (the common realtime case); a
#: row with more builds only the columns the schema asks for, as many rows do.
EAGER_ROW_KEYS = 256


def named_rows(records: list[dict[str, Any]]) -> ParsedRequest:
    if len(records) == 1 and len(records[0]) <= EAGER_ROW_KEYS:
        return ParsedRequest({k: [v] for k, v in records[0].items()}, 1, text=False)
    keys = records[0] if len(records) == 1 else dict.fromkeys(n for r in records for n in r)
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
    _refuse_nested(instances, where, "among single values: give every row the same way")
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
    where = '"feature_array"'
    _refuse_nested(values, where, "among single values: give one row of values, or a list of rows")
    return positional_rows([values], names, text=False)


def _refuse_nested(values: list[Any], where: str, advice: str) -> None:
    """MalformedRequestError for the first object or list among ``values`` (one row's)."""
    for position, value in enumerate(values):
        if isinstance(value, dict | list):
            kind = "an object" if isinstance(value, dict) else "a list"
            raise MalformedRequestError(f"{where}[{position}] is {kind} {advice}")


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
    return ParsedRequest(columns_by_position(columns, data), len(data), text=False)
