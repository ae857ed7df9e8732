"""Cell values to model input: the number rule, categories, missing values.

Each coercer takes one column's raw cells (text from a CSV, or Python values from JSON)
and returns the coerced column plus (row, reason) for every cell it refuses. Numeric
columns become ``float32`` (what the ONNX graph takes; missing values are NaN and the
pipeline imputes them); categorical columns become ``object`` strings (a missing value
becomes :data:`MISSING_CATEGORY`, which the one-hot encoder treats as a category).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: What a missing categorical value becomes; the encoder learns it like any category.
MISSING_CATEGORY = "__missing__"

#: How many characters of an offending value an error message quotes.
_QUOTE_LIMIT = 40

_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: The smallest magnitude that rounds to infinity as float32: halfway between the largest
#: float32 and 2**128 (round half to even goes up there). Below it, a number is in range.
_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103


def shortened(text: str, limit: int = _QUOTE_LIMIT) -> str:
    """``text``, cut to ``limit`` characters (ending in "...") when it is longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote(value: object) -> str:
    return shortened(repr(value))


_NOT_NULLABLE = "missing value in a column that does not allow one"
_NOT_FINITE = "not a finite number"
_OUT_OF_RANGE = f"number out of range (|x| > {_FLOAT32_MAX:.4g})"

Coerced = tuple[np.ndarray, list[tuple[int, str]]]


class OversizedInteger(str):
    """A JSON integer literal too long for Python to convert (over 4,300 digits), as text.

    The request parser keeps such a literal as this marker instead of failing on it, so
    the validator can refuse it like any other out-of-range number, naming row and column.
    """


def _kind_of(value: object) -> str:
    return "boolean" if isinstance(value, bool) else type(value).__name__


# One rule for numbers, in JSON and CSV alike, and the one training's CSV reader applies:
# ASCII digits with an optional sign, decimal point and exponent, optionally padded with
# spaces or tabs. Python's float() is looser (it takes "3_4", full-width or Arabic-Indic
# digits and any Unicode space), so text is checked against this before float() reads it.
_NUMBER = re.compile(r"[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*", re.ASCII)
#: Words float() reads as NaN or infinity: numbers, but never finite ones.
_NON_FINITE_WORD = re.compile(r"[ \t]*[+-]?(?:nan|inf|infinity)[ \t]*", re.ASCII | re.IGNORECASE)
#: Characters float() accepts that the rule above does not: all but printable ASCII
#: (less "_", 0x5f) and tab. One character class, so one fast pass finds them.
_LOOSE_NUMBER_CHARACTER = re.compile(r"[^\x20-\x5e\x60-\x7e\t]")


def number_from_text(text: str) -> float | None:
    """One text by the number rule, as float64; None where the rule refuses it (not a
    number, or not finite once rounded to float32)."""
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if -_FLOAT32_OVERFLOW < number < _FLOAT32_OVERFLOW else None


def _loose_number_text(text: str) -> bool:
    """Whether ``text`` has a character float() reads but the number rule refuses."""
    if text.isascii() and "_" not in text and text.isprintable():
        return False  # the usual column: three C-speed passes, no regex
    return _LOOSE_NUMBER_CHARACTER.search(text) is not None


def _finish_numeric(
    values: np.ndarray, missing: np.ndarray, bad: list[tuple[int, str]], shown: Any, nullable: bool
) -> Coerced:
    """float64 ``values`` to the model's float32, refusing non-finite and out-of-range ones.

    A value is in range when it stays finite as float32 (what the graph computes with),
    so ``3.4028235e38`` is accepted from JSON and CSV alike and ``1e39`` from neither.
    ``shown[row]`` is how an error message quotes the value of ``row``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        as_float32 = values.astype(np.float32)
    finite = np.isfinite(values)
    nonfinite = np.flatnonzero(~finite & ~missing)
    overflow = np.flatnonzero(finite & ~np.isfinite(as_float32))
    bad.extend((int(row), f"{_NOT_FINITE}: {_quote(shown[row])}") for row in nonfinite)
    bad.extend((int(row), f"{_OUT_OF_RANGE}: {_quote_text(shown[row])}") for row in overflow)
    if not nullable:
        bad.extend((int(row), _NOT_NULLABLE) for row in np.flatnonzero(missing))
    return as_float32, bad


def _quote_text(value: object) -> str:
    return shortened(str(value))


# JSON values: requests are small (bounded by MAX_REQUEST_ROWS), so plain Python per
# cell beats a dozen numpy calls per column (about 2 µs instead of 30 µs per column).
def _numeric_from_json(raw: Sequence[Any] | np.ndarray, nullable: bool) -> Coerced:
    values: list[float] = []
    bad: list[tuple[int, str]] = []
    for row, value in enumerate(raw):
        kind = type(value)
        if kind is float or kind is int:
            try:
                number = float(value)
            except OverflowError:  # an int beyond float64, so beyond float32 too
                number = math.inf
            if -_FLOAT32_OVERFLOW < number < _FLOAT32_OVERFLOW:
                values.append(number)  # the usual case: finite, and finite as float32
                continue
            if number != number or (kind is float and math.isinf(number)):
                bad.append((row, f"{_NOT_FINITE}: {_quote(value)}"))  # NaN, Infinity, 1e309
            else:
                bad.append((row, f"{_OUT_OF_RANGE}: {_quote_text(value)}"))
        elif value is None:
            values.append(math.nan)
            if not nullable:
                bad.append((row, _NOT_NULLABLE))
            continue
        elif kind is OversizedInteger:
            bad.append((row, f"{_OUT_OF_RANGE}: {_quote_text(value)}"))
        else:
            bad.append((row, f"expected a number, got {_kind_of(value)}: {_quote(value)}"))
        values.append(0.0)  # the row is refused
    return np.array(values, dtype=np.float32), bad


def _categorical_from_json(raw: Sequence[Any] | np.ndarray, nullable: bool) -> Coerced:
    values: list[str] = []
    bad: list[tuple[int, str]] = []
    for row, value in enumerate(raw):
        if type(value) is str:
            values.append(value)
        elif value is None:
            values.append(MISSING_CATEGORY)
            if not nullable:
                bad.append((row, _NOT_NULLABLE))
        elif isinstance(value, bool | int | OversizedInteger):
            # Booleans and integers as their text ("True", "3"), as training read them.
            values.append(str(value))
        else:
            values.append(MISSING_CATEGORY)
            bad.append((row, f"expected a string, got {_kind_of(value)}: {_quote(value)}"))
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out, bad


#: Characters no category is made of: C0 and C1 controls, DEL, and surrogates (a lone
#: surrogate escaped in JSON, or a CSV byte that was not UTF-8). onnxruntime cannot
#: even encode a surrogate; a control character is corrupt input, not a new category.
_UNUSABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def unusable_text(values: np.ndarray, known: tuple[str, ...] | None) -> list[tuple[int, str]]:
    if not _UNUSABLE.search("".join(values)):  # one pass over the column: the usual case
        return []
    allowed = set(known or ())
    return [
        (row, f"text with a control character or invalid Unicode: {_quote(value)}")
        for row, value in enumerate(values)
        if _UNUSABLE.search(value) and value not in allowed
    ]


# CSV text: chunks of tens of thousands of rows, so vectorised numpy with a per-cell
# fallback only for chunks that hold an unparseable value.
def _text_cells(raw: Sequence[Any] | np.ndarray) -> np.ndarray:
    if isinstance(raw, np.ndarray) and raw.dtype == object:
        return raw
    cells = np.empty(len(raw), dtype=object)
    cells[:] = list(raw)
    return cells


#: What training's CSV reader (pandas' defaults) reads as a missing value: an empty cell
#: and these markers. A CSV cell that is one is missing here too, so that a file scores
#: as the model's training read it (tests/unit/test_values_text.py holds it to pandas').
MISSING_MARKERS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
     "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip


def _text_missing(cells: np.ndarray) -> np.ndarray:
    marked = np.array(list(map(MISSING_MARKERS.__contains__, cells)), dtype=bool)
    return marked | np.asarray(cells == None, dtype=bool)  # noqa: E711 (element-wise)


def _numeric_from_text(raw: Sequence[Any] | np.ndarray, nullable: bool) -> Coerced:
    cells = _text_cells(raw)
    is_missing = _text_missing(cells)
    values = np.full(len(cells), np.nan, dtype=np.float64)
    present = np.flatnonzero(~is_missing)
    bad: list[tuple[int, str]] = []
    try:
        text = cells[present]
        if _loose_number_text("".join(text)):
            raise ValueError("a value float() reads but the number rule refuses")
        values[present] = text.astype(np.float64)
    except (ValueError, TypeError):
        for row in present:
            cell = cells[row]
            if _NUMBER.fullmatch(cell):
                values[row] = float(cell)
            elif _NON_FINITE_WORD.fullmatch(cell):
                values[row] = float(cell)  # refused as not finite below, with its text
            else:
                bad.append((int(row), f"not a number: {_quote(cell)}"))
                values[row] = 0.0  # the row is refused; keep the finiteness checks quiet
    return _finish_numeric(values, is_missing, bad, cells, nullable)


def _categorical_from_text(raw: Sequence[Any] | np.ndarray, nullable: bool) -> Coerced:
    cells = _text_cells(raw)
    is_missing = _text_missing(cells)
    values = cells.copy()
    values[is_missing] = MISSING_CATEGORY
    bad: list[tuple[int, str]] = []
    if not nullable:
        bad.extend((int(row), _NOT_NULLABLE) for row in np.flatnonzero(is_missing))
    return values, bad


Coercer = Callable[[Sequence[Any] | np.ndarray, bool], Coerced]

#: (column kind, cells are CSV text) -> the coercer of that column.
COERCERS: dict[tuple[str, bool], Coercer] = {
    ("numeric", False): _numeric_from_json,
    ("categorical", False): _categorical_from_json,
    ("numeric", True): _numeric_from_text,
    ("categorical", True): _categorical_from_text,
}
