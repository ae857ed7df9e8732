"""Text bodies: CSV (with or without a header, RFC 4180's ``header=present|absent`` honoured,
never a guess that moves a row) and JSON Lines (one object or array per line).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from predictor.errors import MalformedRequestError, PayloadTooLargeError
from predictor.io.csv.dialect import allow_long_fields
from predictor.protocols.json_bodies import load_json, named_rows
from predictor.rows import ParsedRequest, check_widths, columns_by_position, positional_rows
from predictor.schema import FeatureSchema
from predictor.values import shortened


def parse_jsonlines(text: str, max_rows: int, names: Sequence[str]) -> ParsedRequest:
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
        return named_rows(rows)
    return positional_rows(rows, names, text=False)


def parse_csv(
    text: str, max_rows: int, schema: FeatureSchema, has_header: bool | None
) -> ParsedRequest:
    """CSV rows, the first one a header or not (:func:`_first_row_is_header`)."""
    allow_long_fields()  # the same field limit as batch files, in every process
    rows: list[list[str]] = []
    try:
        # skipinitialspace: "1, red" is "red", as training's reader (pandas) reads it
        reader = csv.reader(io.StringIO(text, newline=""), strict=True, skipinitialspace=True)
        for record in reader:
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
    check_widths(rows[1:], len(header), "one per name in the CSV header", "the header has")
    return ParsedRequest(columns_by_position(header, rows[1:]), len(rows) - 1, text=True)


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
