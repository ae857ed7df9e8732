"""The feature schema: stored in the manifest, enforced on every input.

One validator serves the realtime API and batch scoring. It takes the input column by
column (raw cells: text from a CSV, or Python values from JSON), coerces each cell to
the model's input type (:mod:`predictor.values`), and reports every problem as (row,
column, reason) instead of stopping at the first. Model input is a mapping of column
name to a 2-D ``(n, 1)`` array. The training job infers a schema from its data
(:mod:`training.schema_inference`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from predictor.errors import MissingColumnsError
from predictor.learned_values import (
    answer_unknown_categories,
    keep_learned_markers,
    refuse_unlearned_numbers,
)
from predictor.values import (
    COERCERS,
    MISSING_CATEGORY,
    MISSING_MARKERS,
    OversizedInteger,
    unusable_text,
)

__all__ = ["MISSING_CATEGORY", "ColumnSpec", "FeatureSchema", "OversizedInteger", "RowError"]

Kind = Literal["numeric", "categorical"]
NUMERIC: Kind = "numeric"
CATEGORICAL: Kind = "categorical"

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
    #: The training median of a numeric column (the try-it page's placeholder); None in
    #: manifests written before it was recorded.
    median: float | None = None
    #: A column whose encoder raises on a category it did not learn (one-hot or ordinal
    #: ``handle_unknown="error"``): such a value is refused (422), as scikit-learn would.
    refuses_unknown: bool = False
    #: A known category an unknown one is answered as (a one-hot encoder's infrequent
    #: category, where scikit-learn puts unknown ones: ``"infrequent_if_exist"``).
    unknown_as: str | None = None
    #: The values a one-hot encoder (or one that raises on others) learned for a numeric
    #: column. A one-hot graph casts such a column to integers, so 3.5 would be answered
    #: as the category 3: a value not among these is refused where the graph would answer
    #: otherwise or the encoder raises
    #: (:func:`predictor.learned_values.refuse_unlearned_numbers`).
    encoded_values: tuple[float, ...] | None = None

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
            if self.median is not None:
                out["median"] = self.median
            if self.encoded_values is not None:
                out["encoded_values"] = list(self.encoded_values)
        else:
            out["categories"] = list(self.categories or ())
        if self.refuses_unknown:
            out["refuses_unknown"] = True
        if self.unknown_as is not None:
            out["unknown_as"] = self.unknown_as
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
            median=data.get("median"),
            refuses_unknown=bool(data.get("refuses_unknown", False)),
            unknown_as=data.get("unknown_as"),
            encoded_values=(
                tuple(float(v) for v in data["encoded_values"])
                if data.get("encoded_values") is not None
                else None
            ),
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
        self._known = {c.name: frozenset(c.categories or ()) for c in columns if c.categories}

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

    # ----- serving side ------------------------------------------------------------
    def example_features(self) -> Features:
        """One row of valid model input (zeros, or a missing category): a warm-up row."""
        return {
            spec.name: (
                np.zeros((1, 1), dtype=np.float32)
                if spec.kind == NUMERIC
                else np.full((1, 1), MISSING_CATEGORY, dtype=object)
            )
            for spec in self.columns
        }

    def could_be_values(self, cells: Sequence[str]) -> bool:
        """Whether a CSV row reads as one row of values for this model, in its column order.

        A number (or nothing) under each numeric column and a known category (or nothing)
        under each categorical one: a row of column names that passes could equally be
        data, and whether it is a header cannot be told from the row itself.
        """
        if len(cells) != len(self.columns):
            return False
        for spec, cell in zip(self.columns, cells, strict=True):
            text = cell.strip()
            if not text:
                continue
            if spec.kind == CATEGORICAL:
                if text not in (spec.categories or ()):
                    return False
            elif COERCERS[NUMERIC, True]([text], True)[1]:
                return False
        return True

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
            raise MissingColumnsError(missing, list(columns))
        extra = [name for name in columns if name not in self._name_set]
        problems: list[tuple[int, int, str]] = []  # (row, column position, reason)
        coerced: list[np.ndarray] = []
        for position, spec in enumerate(self.columns):
            raw = columns.get(spec.name)
            if raw is None:
                raw = [None] * n_rows  # an absent (nullable) column: every cell missing
            elif len(raw) != n_rows:
                raise ValueError(f"column {spec.name!r} has {len(raw)} cells, expected {n_rows}")
            coerce = COERCERS[spec.kind, text]
            values, bad = coerce(raw, spec.nullable)
            known = self._known.get(spec.name, frozenset())
            if spec.kind == CATEGORICAL:
                if text and not known.isdisjoint(MISSING_MARKERS):
                    bad = keep_learned_markers(raw, values, bad, known)
                bad.extend(unusable_text(values, spec.categories))
                if spec.refuses_unknown or spec.unknown_as is not None:
                    bad.extend(answer_unknown_categories(values, known, spec.unknown_as))
            elif spec.encoded_values is not None:
                every = spec.refuses_unknown or spec.unknown_as is not None
                learned, raises = spec.encoded_values, spec.refuses_unknown
                bad.extend(refuse_unlearned_numbers(values, learned, every, raises))
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
