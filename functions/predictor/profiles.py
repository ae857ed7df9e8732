"""Feature profiles: fixed bins from the training data, and counts of what a model scores.

A model version's baseline (:class:`Baseline`) fixes, for every input column and for
the model's own predictions, a set of bins: for a numeric column the training range cut
at its deciles, plus a bin below the training minimum and one above the maximum; for a
categorical column one bin per training category plus one for unknown values; for both,
one bin for missing values. It is stored with the version as SageMaker Model Monitor's
``statistics.json`` and ``constraints.json`` (the bins are the ``kll`` and
``categorical`` buckets; the predictions are one more entry, ``prediction``).

Serving counts every scored row into those bins (:class:`Profile`). A profile holds only
integers, minima and maxima, so merging profiles is exact, associative and commutative:
any number of functions may write their own, and the monitor adds them up in any order.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from predictor.schema import CATEGORICAL, NUMERIC, FeatureSchema
from predictor.values import MISSING_CATEGORY

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
PROFILE_FORMAT = 1
#: The name of the predictions' entry in statistics and profiles (not a feature's).
PREDICTION = "prediction"
#: Numeric columns are cut at this many quantiles of the training data (SageMaker also
#: materialises 10 buckets); repeated values can leave fewer bins.
QUANTILE_BINS = 10

#: Slots every feature's counts start with: missing values, then values outside the
#: training data (below its minimum for a numeric column, an unknown category otherwise).
MISSING_SLOT = 0
OUTSIDE_SLOT = 1

Kind = Literal["numeric", "categorical"]


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
#: The most refusal columns one profile may name (a model's columns, plus "(row)").
MAX_REFUSAL_NAMES = 10_000


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
            _pick(min, self.minimum, other.minimum),
            _pick(max, self.maximum, other.maximum),
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
        counts = np.asarray([_count(value) for value in raw], dtype=np.int64)
        low, high = document.get("min"), document.get("max")
        if (low is None) != (high is None):
            raise ValueError("a minimum without a maximum, or the other way round")
        if low is None:
            return cls(counts)
        return cls(counts, _finite(low), _finite(high))


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _pick(choose: Any, a: float | None, b: float | None) -> float | None:
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


def _zeros(bins: Bins) -> Counts:
    return Counts(np.zeros(bins.size, dtype=np.int64))


@dataclass(slots=True)
class Profile:
    """What one writer saw of one model version in one time window: counts only.

    ``columns`` holds the model's input columns by name; the predictions are counted
    apart, in ``prediction`` (a column may be called "prediction" too). A profile
    counted without a baseline (``layout`` empty) holds row counts only, and merges with
    any profile of its version.
    """

    model: str
    version: str
    layout: str
    rows: int = 0
    refused_rows: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    columns: dict[str, Counts] = field(default_factory=dict)
    prediction: Counts | None = None

    @classmethod
    def empty(cls, model: str, version: str, layout: Layout | None) -> Profile:
        profile = cls(model, version, layout.fingerprint if layout else "")
        if layout is not None:
            for bins in layout.features:
                profile.columns[bins.name] = _zeros(bins)
            profile.prediction = _zeros(layout.prediction)
        return profile

    def add_rows(
        self, layout: Layout | None, features: Mapping[str, np.ndarray], predictions: np.ndarray
    ) -> None:
        """Count scored rows: model input (column name -> values) and their predictions."""
        rows = len(np.asarray(predictions).ravel())
        if rows == 0:
            return
        self.rows += rows
        if layout is None:
            return
        if not self.layout:  # rows counted before the bins were known: bins from now on
            self.layout = layout.fingerprint
            self.columns = {bins.name: _zeros(bins) for bins in layout.features}
            self.prediction = _zeros(layout.prediction)
        elif self.layout != layout.fingerprint:
            raise ValueError("counting into other bins than this profile's")
        for bins in layout.features:
            values = features.get(bins.name)
            if values is not None:
                found = count_column(bins, values)
                current = self.columns.get(bins.name)
                self.columns[bins.name] = found if current is None else current.merged(found)
        found = count_column(layout.prediction, np.asarray(predictions))
        self.prediction = found if self.prediction is None else self.prediction.merged(found)

    def add_refusals(self, rows: int, columns: Iterable[str | None]) -> None:
        """Count rows the schema refused, and the columns their problems named."""
        self.refused_rows += rows
        for column in columns:
            name = column or "(row)"
            self.refusals[name] = self.refusals.get(name, 0) + 1

    def merged(self, other: Profile) -> Profile:
        """The sum of two profiles of the same model version and bins."""
        same_bins = self.layout == other.layout or "" in (self.layout, other.layout)
        if (self.model, self.version) != (other.model, other.version) or not same_bins:
            raise ValueError(
                f"cannot merge profiles of {self.model} {self.version} (bins {self.layout}) "
                f"and {other.model} {other.version} (bins {other.layout})"
            )
        columns = dict(self.columns)
        for name, counts in other.columns.items():
            mine = columns.get(name)
            columns[name] = counts if mine is None else mine.merged(counts)
        refusals = dict(self.refusals)
        for name, count in other.refusals.items():
            refusals[name] = refusals.get(name, 0) + count
        prediction = self.prediction
        if other.prediction is not None:
            prediction = (
                other.prediction if prediction is None else prediction.merged(other.prediction)
            )
        return Profile(
            self.model,
            self.version,
            self.layout or other.layout,
            self.rows + other.rows,
            self.refused_rows + other.refused_rows,
            refusals,
            columns,
            prediction,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored under ``monitoring/profiles/``."""
        return {
            "format": PROFILE_FORMAT,
            "model": self.model,
            "version": self.version,
            "layout": self.layout,
            "rows": self.rows,
            "refused_rows": self.refused_rows,
            "refusals": dict(sorted(self.refusals.items())),
            "columns": {name: c.to_dict() for name, c in sorted(self.columns.items())},
            "prediction": self.prediction.to_dict() if self.prediction is not None else None,
        }

    @classmethod
    def from_dict(cls, document: Any, layout: Layout | None = None) -> Profile:
        """Inverse of :meth:`to_dict`; ValueError for anything malformed.

        With ``layout``, a profile with counts must have its fingerprint and sizes.
        """
        if not isinstance(document, dict) or document.get("format") != PROFILE_FORMAT:
            raise ValueError("not a profile (format 1)")
        refusals = document["refusals"]
        if not isinstance(refusals, dict) or len(refusals) > MAX_REFUSAL_NAMES:
            raise ValueError(f"refusals must name at most {MAX_REFUSAL_NAMES} columns")
        profile = cls(
            _text(document["model"]),
            _text(document["version"]),
            _text(document["layout"]),
            _count(document["rows"]),
            _count(document["refused_rows"]),
            {_text(k): _count(v) for k, v in refusals.items()},
        )
        columns, prediction = document["columns"], document.get("prediction")
        if not isinstance(columns, dict):
            raise ValueError("columns must be an object")
        if not profile.layout:
            if columns or prediction is not None:
                raise ValueError("counts without the bins they were counted into")
            return profile
        if layout is not None and profile.layout != layout.fingerprint:
            raise ValueError("counted into other bins than this version's baseline")
        sizes = {b.name: b.size for b in layout.features} if layout else None
        for name, counts in columns.items():
            size = len(counts.get("counts", ())) if sizes is None else sizes.get(name)
            if size is None:
                raise ValueError(f"column {name!r} is not in the baseline")
            profile.columns[_text(name)] = Counts.from_dict(counts, size)
        if prediction is not None:
            size = len(prediction.get("counts", ())) if layout is None else layout.prediction.size
            profile.prediction = Counts.from_dict(prediction, size)
        counted = [*profile.columns.values(), *filter(None, [profile.prediction])]
        if any(sum(c.counts.tolist()) > profile.rows for c in counted):
            raise ValueError("a column counts more values than the profile has rows")
        return profile


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"expected a whole count from 0 to 2**53, got {value!r}")
    return value


# ----- the baseline ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Baseline:
    """A version's bins and the training data's counts in them (its ``statistics.json``)."""

    layout: Layout
    training: Profile
    #: The thresholds the monitor applies (its ``constraints.json``).
    constraints: dict[str, Any]

    @property
    def rows(self) -> int:
        return self.training.rows


#: The monitor's thresholds, recorded in each version's constraints.json (an operator
#: overrides them per model: monitor.py). Why these values: the README's Monitoring section.
DEFAULT_THRESHOLDS: dict[str, float] = {
    # PSI at or above which a column has drifted (0.1-0.25 is "moderate" by the usual
    # reading of PSI; 0.25 and more is a significant shift).
    "drift_psi": 0.25,
    # PSI between this and drift_psi is reported as a moderate shift (no violation).
    "moderate_psi": 0.1,
    # The chance that sampling noise alone flags one window, over all its columns.
    "false_alarm_rate": 0.01,
    # Share of rows outside the training range, unknown categories, more missing values
    # than in training, or refused by the schema, above which a violation is reported.
    "outside_range_share": 0.01,
    "unknown_category_share": 0.01,
    "missing_share_increase": 0.01,
    "refused_share": 0.01,
}


def training_baseline(
    schema: FeatureSchema,
    features: Mapping[str, np.ndarray],
    predictions: np.ndarray,
    classes: Sequence[Any] | None,
) -> Baseline:
    """The baseline of a model trained on ``features`` (the schema's coerced values)."""
    columns = []
    for spec in schema.columns:
        values = features[spec.name]
        if spec.kind == NUMERIC:
            columns.append(numeric_bins(spec.name, values))
        else:
            columns.append(categorical_bins(spec.name, spec.categories or ()))
    if classes is not None:
        prediction = categorical_bins(PREDICTION, [str(c) for c in classes])
        predicted: np.ndarray = np.asarray([str(p) for p in np.asarray(predictions).ravel()])
    else:
        prediction = numeric_bins(PREDICTION, predictions)
        predicted = np.asarray(predictions)
    layout = Layout(tuple(columns), prediction)
    training = Profile.empty("", "", layout)
    training.add_rows(layout, features, predicted)
    return Baseline(layout, training, {"thresholds": dict(DEFAULT_THRESHOLDS)})


def _inferred_type(schema_dtype: str | None, bins: Bins) -> str:
    if bins.kind == CATEGORICAL:
        return "String"
    return "Integral" if schema_dtype is not None and "int" in schema_dtype else "Fractional"


def _feature_statistics(bins: Bins, counts: Counts, dtype: str | None) -> dict[str, Any]:
    """One entry of SageMaker's statistics.json ``features`` list."""
    values = counts.counts.tolist()
    missing = values[MISSING_SLOT]
    present = int(sum(values) - missing)
    common = {"num_present": present, "num_missing": missing}
    entry: dict[str, Any] = {"name": bins.name, "inferred_type": _inferred_type(dtype, bins)}
    if bins.kind == CATEGORICAL:
        buckets = [
            {"value": category, "count": values[slot]}
            for slot, category in enumerate(bins.categories, start=2)
        ]
        entry["string_statistics"] = {
            "common": common,
            "distinct_count": sum(1 for b in buckets if b["count"]),
            "distribution": {"categorical": {"buckets": buckets}},
        }
        return entry
    bounds = [bins.minimum, *bins.inner, bins.maximum]
    buckets = [
        {"lower_bound": low, "upper_bound": high, "count": values[slot]}
        for slot, (low, high) in enumerate(itertools.pairwise(bounds), start=2)
    ]
    entry["numerical_statistics"] = {
        "common": common,
        "min": bins.minimum,
        "max": bins.maximum,
        "distribution": {"kll": {"buckets": buckets}},
    }
    return entry


def statistics_document(
    baseline: Baseline, schema: FeatureSchema, summaries: Mapping[str, Mapping[str, float]]
) -> dict[str, Any]:
    """SageMaker's ``statistics.json``, plus the ``prediction`` entry.

    ``summaries`` adds ``mean``, ``sum`` and ``std_dev`` per numeric column (the training
    job computes them; profiles do not carry them, so that merging stays exact).
    """
    dtypes = {spec.name: spec.dtype for spec in schema.columns}
    features = []
    for bins in baseline.layout.features:
        entry = _feature_statistics(bins, baseline.training.columns[bins.name], dtypes[bins.name])
        if "numerical_statistics" in entry:
            entry["numerical_statistics"].update(summaries.get(bins.name, {}))
        features.append(entry)
    prediction = baseline.layout.prediction
    return {
        "version": 0,
        "dataset": {"item_count": baseline.training.rows},
        "features": features,
        PREDICTION: _feature_statistics(prediction, _prediction_counts(baseline.training), None),
    }


def constraints_document(baseline: Baseline, schema: FeatureSchema) -> dict[str, Any]:
    """SageMaker's ``constraints.json``, with this product's thresholds."""
    features = []
    for bins, spec in zip(baseline.layout.features, schema.columns, strict=True):
        counts = baseline.training.columns[bins.name].counts
        total = int(counts.sum())
        entry: dict[str, Any] = {
            "name": bins.name,
            "inferred_type": _inferred_type(spec.dtype, bins),
            "completeness": round(1 - int(counts[MISSING_SLOT]) / total, 6) if total else 1.0,
        }
        if bins.kind == NUMERIC:
            entry["num_constraints"] = {"is_non_negative": bool(bins.minimum >= 0)}
        else:
            entry["string_constraints"] = {"domains": list(bins.categories)}
        features.append(entry)
    thresholds = baseline.constraints["thresholds"]
    return {
        "version": 0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": thresholds["drift_psi"],
                "comparison_method": "PSI",
            },
            "thresholds": dict(thresholds),
        },
    }


def _prediction_counts(profile: Profile) -> Counts:
    if profile.prediction is None:
        raise ValueError("the profile holds no prediction counts")
    return profile.prediction


def _bins_from_statistics(entry: Mapping[str, Any]) -> tuple[Bins, Counts]:
    name = _text(entry["name"])
    if "string_statistics" in entry:
        stats = entry["string_statistics"]
        buckets = stats["distribution"]["categorical"]["buckets"]
        bins = categorical_bins(name, [_text(b["value"]) for b in buckets])
        counts = [stats["common"]["num_missing"], 0, *[b["count"] for b in buckets]]
        return bins, Counts(np.asarray([_count(c) for c in counts], dtype=np.int64))
    stats = entry["numerical_statistics"]
    buckets = stats["distribution"]["kll"]["buckets"]
    low, high = _finite(stats["min"]), _finite(stats["max"])
    inner = tuple(_finite(b["lower_bound"]) for b in buckets[1:])
    if list(inner) != sorted(set(inner)) or (inner and not low < inner[0] <= inner[-1] <= high):
        raise ValueError(f"the buckets of {name!r} are not in order")
    bins = Bins(name, NUMERIC, low, high, inner)
    counts = [stats["common"]["num_missing"], 0, *[b["count"] for b in buckets], 0]
    return bins, Counts(np.asarray([_count(c) for c in counts], dtype=np.int64), low, high)


#: What each threshold may be: (smallest, largest), both included.
_THRESHOLD_RANGES = {
    "drift_psi": (0.0, 100.0),
    "moderate_psi": (0.0, 100.0),
    "false_alarm_rate": (1e-12, 0.5),
    "outside_range_share": (0.0, 1.0),
    "unknown_category_share": (0.0, 1.0),
    "missing_share_increase": (0.0, 1.0),
    "refused_share": (0.0, 1.0),
}


def checked_thresholds(values: Mapping[str, Any]) -> dict[str, float]:
    """The defaults with ``values`` over them; ValueError for an unknown name or a value
    that is not a number in its range.
    """
    thresholds = dict(DEFAULT_THRESHOLDS)
    for name, value in values.items():
        if name not in _THRESHOLD_RANGES:
            raise ValueError(f"unknown threshold {name!r}")
        low, high = _THRESHOLD_RANGES[name]
        number = _finite(value)
        if not low <= number <= high:
            raise ValueError(f"threshold {name} must be from {low:g} to {high:g}, got {value!r}")
        thresholds[name] = number
    return thresholds


def baseline_from_documents(statistics: Any, constraints: Any) -> Baseline:
    """The :class:`Baseline` stored as ``statistics.json`` and ``constraints.json``;
    ValueError, KeyError or TypeError for a malformed document.
    """
    if not isinstance(statistics, dict) or not isinstance(constraints, dict):
        raise ValueError("statistics and constraints must be JSON objects")
    columns = [_bins_from_statistics(entry) for entry in statistics["features"]]
    prediction, prediction_counts = _bins_from_statistics(statistics[PREDICTION])
    layout = Layout(tuple(bins for bins, _ in columns), prediction)
    rows = _count(statistics["dataset"]["item_count"])
    if rows == 0:
        raise ValueError("a baseline of no rows")
    training = Profile("", "", layout.fingerprint, rows)
    for bins, counts in columns:
        if counts.counts.shape != (bins.size,):
            raise ValueError(f"statistics of {bins.name!r} do not match their buckets")
        training.columns[bins.name] = counts
    training.prediction = prediction_counts
    config = constraints.get("monitoring_config", {})
    thresholds = checked_thresholds(config.get("thresholds", {}))
    return Baseline(layout, training, {"thresholds": thresholds})
