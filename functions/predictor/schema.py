"""The feature schema: inferred from training data, stored in the manifest, enforced on input.

One validator serves the realtime API and batch scoring. It takes the input column by
column (raw cells: text from a CSV, or Python values from JSON), coerces each cell to
the model's input type, and reports every problem as (row, column, reason) instead of
stopping at the first. Model input is a mapping of column name to a 2-D ``(n, 1)`` array:
``float32`` for numeric columns (what the ONNX graph takes; missing values are NaN and
the pipeline imputes them) and ``object`` strings for categorical columns (a missing
value becomes :data:`MISSING_CATEGORY`, which the one-hot encoder treats as a category).

numpy only: pandas is imported lazily by :meth:`FeatureSchema.infer` and
:meth:`FeatureSchema.from_frame`, which only training uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from predictor.errors import MissingColumnsError

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["numeric", "categorical"]
NUMERIC: Kind = "numeric"
CATEGORICAL: Kind = "categorical"

#: What a missing categorical value becomes; the encoder learns it like any category.
MISSING_CATEGORY = "__missing__"

#: How many characters of an offending value an error message quotes.
_QUOTE_LIMIT = 40

_FLOAT32_MAX = float(np.finfo(np.float32).max)

Features = dict[str, np.ndarray]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One input column of the model, as observed in the training data."""

    name: str
    kind: Kind
    dtype: str
    nullable: bool
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in the manifest."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "nullable": self.nullable,
        }
        if self.kind == NUMERIC:
            out["min"], out["max"] = self.minimum, self.maximum
        else:
            out["categories"] = list(self.categories or ())
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        """Inverse of :meth:`to_dict`."""
        kind = data["kind"]
        if kind not in (NUMERIC, CATEGORICAL):
            raise ValueError(f"column {data.get('name')!r}: unknown kind {kind!r}")
        categories = data.get("categories")
        return cls(
            name=str(data["name"]),
            kind=kind,
            dtype=str(data["dtype"]),
            nullable=bool(data["nullable"]),
            minimum=data.get("min"),
            maximum=data.get("max"),
            categories=tuple(categories) if categories is not None else None,
        )


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem with one input cell (or a whole row when ``column`` is None)."""

    row: int
    column: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form used in API error details."""
        return {"row": self.row, "column": self.column, "reason": self.reason}


@dataclass(slots=True)
class ValidatedRows:
    """The outcome of validating one batch of rows.

    ``features`` holds only the accepted rows, in input order; ``rows`` gives their
    0-based positions in the input, so callers can map them back to line numbers.
    """

    features: Features
    rows: np.ndarray
    errors: list[RowError] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Number of rows that passed validation."""
        return len(self.rows)


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."


class FeatureSchema:
    """The ordered input columns of a model and the rules for accepting values."""

    def __init__(self, columns: Sequence[ColumnSpec]) -> None:
        if not columns:
            raise ValueError("a schema needs at least one column")
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            raise ValueError("duplicate column names in schema")
        self.columns = tuple(columns)
        self.names = tuple(names)
        self._name_set = frozenset(names)
        self._required = tuple(c.name for c in columns if not c.nullable)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureSchema) and self.columns == other.columns

    def __hash__(self) -> int:
        return hash(self.columns)

    def __repr__(self) -> str:
        return f"FeatureSchema({list(self.names)!r})"

    # ----- persistence -------------------------------------------------------------
    def to_dict(self) -> list[dict[str, Any]]:
        """The JSON form stored in the manifest (a list of columns, in model order)."""
        return [c.to_dict() for c in self.columns]

    @classmethod
    def from_dict(cls, data: Sequence[Mapping[str, Any]]) -> FeatureSchema:
        """Inverse of :meth:`to_dict`."""
        return cls([ColumnSpec.from_dict(c) for c in data])

    # ----- training side -----------------------------------------------------------
    @classmethod
    def infer(cls, frame: pd.DataFrame, max_categories: int = 1000) -> FeatureSchema:
        """Infer the schema of a training frame: numeric vs categorical, nullability, ranges.

        Numeric dtypes (not bool) are numeric; everything else is categorical, with its
        observed values as categories (an error if there are more than
        ``max_categories``: such a column is an identifier or free text, not a feature).
        """
        import pandas as pd

        specs = []
        for name in frame.columns:
            series = frame[name]
            nullable = bool(series.isna().any())
            if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                present = series.dropna()
                specs.append(
                    ColumnSpec(
                        name=str(name),
                        kind=NUMERIC,
                        dtype=str(series.dtype),
                        nullable=nullable,
                        minimum=float(present.min()) if len(present) else None,
                        maximum=float(present.max()) if len(present) else None,
                    )
                )
                continue
            values = sorted({str(v) for v in series.dropna().unique()})
            if len(values) > max_categories:
                raise ValueError(
                    f"column {name!r} has {len(values)} distinct values (limit "
                    f"{max_categories}); drop it or encode it before training"
                )
            specs.append(
                ColumnSpec(
                    name=str(name),
                    kind=CATEGORICAL,
                    dtype=str(series.dtype),
                    nullable=nullable,
                    categories=tuple(values),
                )
            )
        return cls(specs)

    def from_frame(self, frame: pd.DataFrame) -> Features:
        """Model input from trusted, typed training data (NaN allowed where observed)."""
        features: Features = {}
        for spec in self.columns:
            series = frame[spec.name]
            if spec.kind == NUMERIC:
                values = series.to_numpy(dtype=np.float64, na_value=np.nan)
                features[spec.name] = values.astype(np.float32).reshape(-1, 1)
            else:
                missing = series.isna().to_numpy()
                text = np.array([str(v) for v in series.to_numpy(dtype=object)], dtype=object)
                text[missing] = MISSING_CATEGORY
                features[spec.name] = text.reshape(-1, 1)
        return features

    # ----- serving side ------------------------------------------------------------
    def missing_columns(self, present: Sequence[str]) -> list[str]:
        """Required (non-nullable) columns absent from ``present``."""
        have = set(present)
        return [name for name in self._required if name not in have]

    def validate(
        self, columns: Mapping[str, Sequence[Any] | np.ndarray], n_rows: int, *, text: bool
    ) -> ValidatedRows:
        """Validate and coerce raw input columns into model input.

        ``columns`` maps column name to its ``n_rows`` raw cells. With ``text=True``
        the cells are strings from a CSV (an empty string is a missing value); otherwise
        they are JSON values (``None`` is missing; numbers must be JSON numbers and
        categories JSON strings). An absent nullable column is all missing; an absent
        required column raises :class:`MissingColumnsError` before any row is read.
        Columns the model does not use are listed in ``extra_columns`` and ignored.
        """
        missing = self.missing_columns(list(columns))
        if missing:
            raise MissingColumnsError(missing)
        extra = [name for name in columns if name not in self._name_set]
        problems: list[tuple[int, int, str]] = []  # (row, column position, reason)
        coerced: list[np.ndarray] = []
        for position, spec in enumerate(self.columns):
            raw = columns.get(spec.name)
            if raw is None:
                raw = [None] * n_rows  # an absent (nullable) column: every cell missing
            elif len(raw) != n_rows:
                raise ValueError(f"column {spec.name!r} has {len(raw)} cells, expected {n_rows}")
            coerce = _COERCERS[spec.kind, text]
            values, bad = coerce(raw, spec.nullable)
            if spec.kind == CATEGORICAL:
                bad.extend(_unusable_text(values, spec.categories))
            problems.extend((row, position, reason) for row, reason in bad)
            coerced.append(values)

        if not problems:
            features = {
                spec.name: values.reshape(-1, 1)
                for spec, values in zip(self.columns, coerced, strict=True)
            }
            return ValidatedRows(features, np.arange(n_rows), [], extra)
        rejected = np.zeros(n_rows, dtype=bool)
        rejected[[row for row, _, _ in problems]] = True
        accepted = np.flatnonzero(~rejected)
        features = {
            spec.name: values[accepted].reshape(-1, 1)
            for spec, values in zip(self.columns, coerced, strict=True)
        }
        problems.sort()
        errors = [RowError(row, self.names[pos], reason) for row, pos, reason in problems]
        return ValidatedRows(features, accepted, errors, extra)


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
#: Characters float() accepts that the rule above does not (one pass finds them).
_LOOSE_NUMBER_CHARACTER = re.compile(r"[^\x20-\x7e\t]|_")


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
    text = str(value)
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."


# JSON values: requests are small (bounded by MAX_REQUEST_ROWS), so plain Python per
# cell beats a dozen numpy calls per column (about 2 µs instead of 30 µs per column).
def _numeric_from_json(raw: Sequence[Any] | np.ndarray, nullable: bool) -> Coerced:
    values: list[float] = []
    missing: list[bool] = []
    bad: list[tuple[int, str]] = []
    for row, value in enumerate(raw):
        if type(value) is float:  # the usual case first
            values.append(value)
            missing.append(False)
            continue
        missing.append(value is None)
        if value is None:
            values.append(math.nan)
            continue
        if type(value) is int:
            try:
                values.append(float(value))  # float32's range is checked with the rest
                continue
            except OverflowError:
                pass  # beyond float64, so beyond float32 too
        if type(value) is int or type(value) is OversizedInteger:
            bad.append((row, f"{_OUT_OF_RANGE}: {_quote_text(value)}"))
        else:
            bad.append((row, f"expected a number, got {_kind_of(value)}: {_quote(value)}"))
        values.append(0.0)  # the row is refused; keep the finiteness checks quiet
    shown = raw if isinstance(raw, list) else list(raw)
    return _finish_numeric(
        np.array(values, dtype=np.float64), np.array(missing, dtype=bool), bad, shown, nullable
    )


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


def _unusable_text(values: np.ndarray, known: tuple[str, ...] | None) -> list[tuple[int, str]]:
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


def _text_missing(cells: np.ndarray) -> np.ndarray:
    return np.asarray((cells == "") | (cells == None), dtype=bool)  # noqa: E711 (element-wise)


def _numeric_from_text(raw: Sequence[Any] | np.ndarray, nullable: bool) -> Coerced:
    cells = _text_cells(raw)
    is_missing = _text_missing(cells)
    values = np.full(len(cells), np.nan, dtype=np.float64)
    present = np.flatnonzero(~is_missing)
    bad: list[tuple[int, str]] = []
    try:
        text = cells[present]
        if _LOOSE_NUMBER_CHARACTER.search("".join(text)):
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


_COERCERS = {
    (NUMERIC, False): _numeric_from_json,
    (CATEGORICAL, False): _categorical_from_json,
    (NUMERIC, True): _numeric_from_text,
    (CATEGORICAL, True): _categorical_from_text,
}
