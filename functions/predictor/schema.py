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
        extra = [name for name in columns if name not in self.names]
        rejected = np.zeros(n_rows, dtype=bool)
        problems: list[tuple[int, int, str]] = []  # (row, column position, reason)
        coerced: list[np.ndarray] = []
        for position, spec in enumerate(self.columns):
            raw = columns.get(spec.name)
            cells = _as_cells(raw, n_rows)
            if spec.kind == NUMERIC:
                values, is_missing, bad = _coerce_numeric(cells, text)
            else:
                values, is_missing, bad = _coerce_categorical(cells, text)
            if not spec.nullable:
                reason = "missing value in a column that does not allow one"
                bad.extend((int(row), reason) for row in np.flatnonzero(is_missing))
            for bad_row, bad_reason in bad:
                rejected[bad_row] = True
                problems.append((bad_row, position, bad_reason))
            coerced.append(values)

        accepted = np.flatnonzero(~rejected)
        all_accepted = len(accepted) == n_rows
        features: Features = {
            spec.name: (values if all_accepted else values[accepted]).reshape(-1, 1)
            for spec, values in zip(self.columns, coerced, strict=True)
        }
        problems.sort()
        errors = [RowError(row, self.names[pos], reason) for row, pos, reason in problems]
        return ValidatedRows(features=features, rows=accepted, errors=errors, extra_columns=extra)


def _as_cells(raw: Sequence[Any] | np.ndarray | None, n_rows: int) -> np.ndarray:
    """A 1-D object array of ``n_rows`` cells, even when cells are themselves lists."""
    cells = np.empty(n_rows, dtype=object)
    if raw is None:
        return cells  # an absent (nullable) column: every cell missing
    if isinstance(raw, np.ndarray) and raw.ndim == 1:
        if len(raw) != n_rows:
            raise ValueError(f"column has {len(raw)} cells, expected {n_rows}")
        cells[:] = raw
        return cells
    if len(raw) != n_rows:
        raise ValueError(f"column has {len(raw)} cells, expected {n_rows}")
    for i, value in enumerate(raw):  # element-wise: np.asarray would nest lists
        cells[i] = value
    return cells


def _missing_mask(cells: np.ndarray, text: bool) -> np.ndarray:
    """Missing cells: JSON null, or an empty field of a CSV."""
    is_missing = cells == None  # noqa: E711 (element-wise comparison, not identity)
    if text:
        is_missing |= cells == ""
    return np.asarray(is_missing, dtype=bool)


def _coerce_numeric(
    cells: np.ndarray, text: bool
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """float32 values, the missing mask, and (row, reason) for each unusable cell."""
    n = len(cells)
    is_missing = _missing_mask(cells, text)
    values = np.full(n, np.nan, dtype=np.float64)
    present = np.flatnonzero(~is_missing)
    bad: list[tuple[int, str]] = []
    if text:
        try:
            values[present] = cells[present].astype(np.float64)
        except (ValueError, TypeError):
            bad = _parse_numbers_one_by_one(cells, present, values)
    else:
        bad = _take_json_numbers(cells, present, values)
    flagged = {row for row, _ in bad}
    with np.errstate(over="ignore", invalid="ignore"):
        as_float32 = values.astype(np.float32)
        nonfinite = ~np.isfinite(values)
        overflow = np.isfinite(values) & ~np.isfinite(as_float32)
    for row in present[nonfinite[present]]:
        if row not in flagged:
            bad.append((int(row), f"not a finite number: {_quote(cells[row])}"))
    for row in present[overflow[present]]:
        bad.append((int(row), f"number out of range (|x| > {_FLOAT32_MAX:.4g}): {cells[row]}"))
    return as_float32, is_missing, bad


def _parse_numbers_one_by_one(
    cells: np.ndarray, present: np.ndarray, values: np.ndarray
) -> list[tuple[int, str]]:
    bad = []
    for row in present:
        try:
            values[row] = float(cells[row])
        except (ValueError, TypeError):
            bad.append((int(row), f"not a number: {_quote(cells[row])}"))
    return bad


def _take_json_numbers(
    cells: np.ndarray, present: np.ndarray, values: np.ndarray
) -> list[tuple[int, str]]:
    bad = []
    for row in present:
        value = cells[row]
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "boolean" if isinstance(value, bool) else type(value).__name__
            bad.append((int(row), f"expected a number, got {kind}: {_quote(value)}"))
            continue
        try:
            values[row] = float(value)
        except OverflowError:
            values[row] = math.inf  # reported as out of range below
    return bad


def _coerce_categorical(
    cells: np.ndarray, text: bool
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """Strings (missing as :data:`MISSING_CATEGORY`), the missing mask, and bad cells."""
    is_missing = _missing_mask(cells, text)
    bad: list[tuple[int, str]] = []
    values = cells.copy()
    if not text:
        # JSON strings are taken as they are; booleans and integers as their text
        # ("True", "3"), which is how training saw them in a CSV. Anything else is an error.
        for row in np.flatnonzero(~is_missing):
            value = cells[row]
            if isinstance(value, str):
                continue
            if isinstance(value, bool | int):
                values[row] = str(value)
            else:
                bad.append(
                    (int(row), f"expected a string, got {type(value).__name__}: {_quote(value)}")
                )
    values[is_missing] = MISSING_CATEGORY
    return values, is_missing, bad
