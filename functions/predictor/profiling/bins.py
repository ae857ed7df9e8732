"""Fixed bins and the counts that fill them: the units every profile and baseline is made of.

A numeric column's bins are its training range cut at the deciles, plus one below the
minimum and one above the maximum; a categorical column has one bin per training
category plus one for unknown values; both have one for missing values.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from predictor.schema import CATEGORICAL, NUMERIC, Kind
from predictor.values import MISSING_CATEGORY

#: The name of the predictions' entry in statistics and profiles (not a feature's).
PREDICTION = "prediction"


#: Numeric columns are cut at this many quantiles of the training data (SageMaker also
#: materialises 10 buckets); repeated values can leave fewer bins.
QUANTILE_BINS = 10


#: Slots every feature's counts start with: missing values, then values outside the
#: training data (below its minimum for a numeric column, an unknown category otherwise).
MISSING_SLOT = 0


OUTSIDE_SLOT = 1


@dataclass(frozen=True, slots=True)
class Bins:
    """The bins of one column (or of the predictions), fixed at training.

    Numeric counts are ``[missing, below minimum, bin 0 .. bin k, above maximum]``, where
    bin ``i`` holds ``inner[i-1] <= value < inner[i]`` within ``[minimum, maximum]``.
    Categorical counts are ``[missing, unknown, category 0 .. category m-1]``.
    """

    name: str
    kind: Kind
    minimum: float = 0.0
    maximum: float = 0.0
    inner: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """The number of counters."""
        if self.kind == NUMERIC:
            return len(self.inner) + 4
        return len(self.categories) + 2

    @property
    def above_slot(self) -> int:
        """The counter of numeric values above the training maximum."""
        return self.size - 1

    def labels(self) -> list[str]:
        """One short label per counter, for reports."""
        if self.kind == CATEGORICAL:
            return ["missing", "unknown", *self.categories]
        bounds = [self.minimum, *self.inner, self.maximum]
        inside = [f"[{_short(lo)}, {_short(hi)})" for lo, hi in itertools.pairwise(bounds)]
        if inside:
            inside[-1] = inside[-1][:-1] + "]"
        return ["missing", f"< {_short(self.minimum)}", *inside, f"> {_short(self.maximum)}"]

    def count(self, values: np.ndarray) -> np.ndarray:
        """The counts of ``values`` (one column of model input or the predictions)."""
        flat = np.asarray(values).ravel()
        if self.kind == NUMERIC:
            if flat.dtype.kind != "f":
                flat = flat.astype(np.float64)
            # Counting the values at or above each bound (a dozen vectorised comparisons)
            # is several times faster than a binary search per value. The bounds are
            # [min, inner..., just above max] in the values' own precision: every edge is
            # a training value, so a float32 input is compared with exactly that value.
            bounds = np.asarray([self.minimum, *self.inner, self.maximum], dtype=flat.dtype)
            bounds[-1] = np.nextafter(bounds[-1], bounds.dtype.type(np.inf))
            at_least = [np.count_nonzero(flat >= bound) for bound in bounds.tolist()]
            missing = int(np.count_nonzero(np.isnan(flat)))
            counts = np.empty(self.size, dtype=np.int64)
            counts[MISSING_SLOT] = missing
            counts[OUTSIDE_SLOT] = len(flat) - at_least[0] - missing  # NaN is never >= a bound
            counts[2:-1] = np.diff(-np.asarray(at_least, dtype=np.int64))
            counts[-1] = at_least[-1]
            return counts
        index = {category: slot for slot, category in enumerate(self.categories, start=2)}
        index[MISSING_CATEGORY] = MISSING_SLOT
        counts = np.zeros(self.size, dtype=np.int64)
        for value in flat.tolist():
            counts[MISSING_SLOT if value is None else index.get(str(value), OUTSIDE_SLOT)] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (also what the layout fingerprint is taken of)."""
        if self.kind == NUMERIC:
            return {
                "name": self.name,
                "kind": self.kind,
                "min": self.minimum,
                "max": self.maximum,
                "inner": list(self.inner),
            }
        return {"name": self.name, "kind": self.kind, "categories": list(self.categories)}


def _short(value: float) -> str:
    return f"{value:.4g}"


def numeric_bins(name: str, values: np.ndarray) -> Bins:
    """Bins cut at the deciles of ``values`` (missing values ignored).

    Every edge is one of the values themselves, so the float32 inputs serving sees fall
    on the same side of it as they did here.
    """
    present = np.asarray(values, dtype=np.float64).ravel()
    present = present[~np.isnan(present)]
    if len(present) == 0:
        return Bins(name, NUMERIC, math.nan, math.nan)
    low, high = float(present.min()), float(present.max())
    quantiles = np.quantile(present, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1], method="lower")
    inner = tuple(float(q) for q in np.unique(quantiles) if low < q)
    return Bins(name, NUMERIC, low, high, inner)


def categorical_bins(name: str, categories: Iterable[str]) -> Bins:
    """One bin per known category."""
    return Bins(name, CATEGORICAL, categories=tuple(str(c) for c in categories))


#: The largest count a stored profile may hold: far more rows than any window sees, and
#: small enough that hundreds of such profiles add up within 64-bit integers (a sum
#: beyond 2**62 is refused, never wrapped).
MAX_COUNT = 2**53


@dataclass(slots=True)
class Counts:
    """One column's counters, and the smallest and largest number seen (numeric only)."""

    counts: np.ndarray
    minimum: float | None = None
    maximum: float | None = None

    def merged(self, other: Counts) -> Counts:
        """The sum of both (exact: integers, minima and maxima)."""
        if int(self.counts.max(initial=0)) + int(other.counts.max(initial=0)) > 2**62:
            raise ValueError("counts too large to add exactly")
        return Counts(
            self.counts + other.counts,
            pick(min, self.minimum, other.minimum),
            pick(max, self.maximum, other.maximum),
        )

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"counts": self.counts.tolist()}
        if self.minimum is not None:
            document["min"], document["max"] = self.minimum, self.maximum
        return document

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], size: int) -> Counts:
        """Inverse of :meth:`to_dict`; ValueError unless there are ``size`` whole counts
        and the minimum and maximum are finite numbers (or both absent).
        """
        raw = document["counts"]
        if not isinstance(raw, list) or len(raw) != size:
            raise ValueError(f"expected a list of {size} counts")
        counts = np.asarray([count_of(value) for value in raw], dtype=np.int64)
        low, high = document.get("min"), document.get("max")
        if (low is None) != (high is None):
            raise ValueError("a minimum without a maximum, or the other way round")
        if low is None:
            return cls(counts)
        return cls(counts, finite(low), finite(high))


def finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def pick(choose: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(choose(a, b))


def count_column(bins: Bins, values: np.ndarray) -> Counts:
    """The counts of one batch of values."""
    counts = bins.count(values)
    if bins.kind != NUMERIC or counts[MISSING_SLOT] == counts.sum():
        return Counts(counts)
    numbers = np.asarray(values).ravel()
    # fmin and fmax skip NaN (a missing value), as long as one value is present.
    low, high = float(np.fmin.reduce(numbers)), float(np.fmax.reduce(numbers))
    if not (math.isfinite(low) and math.isfinite(high)):  # +-inf cannot be stored as JSON
        return Counts(counts)
    return Counts(counts, low, high)


@dataclass(frozen=True, slots=True)
class Layout:
    """The bins of every column and of the predictions: what profiles are counted into."""

    features: tuple[Bins, ...]
    prediction: Bins

    @property
    def fingerprint(self) -> str:
        """A short digest of the bins: profiles merge only with the same fingerprint."""
        document = [b.to_dict() for b in (*self.features, self.prediction)]
        text = json.dumps(document, sort_keys=True, allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def zeros(bins: Bins) -> Counts:
    return Counts(np.zeros(bins.size, dtype=np.int64))


def text_of(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    return value


def count_of(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"expected a whole count from 0 to 2**53, got {value!r}")
    return value
