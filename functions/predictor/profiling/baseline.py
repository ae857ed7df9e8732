"""A model version's monitoring baseline: the bins of every input column and of the model's
predictions, fixed from its training data, stored as SageMaker Model Monitor's
``statistics.json`` and ``constraints.json`` (the bins are the ``kll`` and ``categorical``
buckets; the predictions are one more entry, ``prediction``), and the drift thresholds.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from predictor.profiling.bins import (
    MISSING_SLOT,
    PREDICTION,
    Bins,
    Counts,
    Layout,
    categorical_bins,
    count_of,
    finite,
    numeric_bins,
    text_of,
)
from predictor.profiling.profiles import Profile
from predictor.schema import CATEGORICAL, NUMERIC, FeatureSchema

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"


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
        PREDICTION: _feature_statistics(prediction, prediction_counts(baseline.training), None),
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


def prediction_counts(profile: Profile) -> Counts:
    if profile.prediction is None:
        raise ValueError("the profile holds no prediction counts")
    return profile.prediction


def _bins_from_statistics(entry: Mapping[str, Any]) -> tuple[Bins, Counts]:
    name = text_of(entry["name"])
    if "string_statistics" in entry:
        stats = entry["string_statistics"]
        buckets = stats["distribution"]["categorical"]["buckets"]
        bins = categorical_bins(name, [text_of(b["value"]) for b in buckets])
        counts = [stats["common"]["num_missing"], 0, *[b["count"] for b in buckets]]
        return bins, Counts(np.asarray([count_of(c) for c in counts], dtype=np.int64))
    stats = entry["numerical_statistics"]
    buckets = stats["distribution"]["kll"]["buckets"]
    low, high = finite(stats["min"]), finite(stats["max"])
    inner = tuple(finite(b["lower_bound"]) for b in buckets[1:])
    if list(inner) != sorted(set(inner)) or (inner and not low < inner[0] <= inner[-1] <= high):
        raise ValueError(f"the buckets of {name!r} are not in order")
    bins = Bins(name, NUMERIC, low, high, inner)
    counts = [stats["common"]["num_missing"], 0, *[b["count"] for b in buckets], 0]
    return bins, Counts(np.asarray([count_of(c) for c in counts], dtype=np.int64), low, high)


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
        number = finite(value)
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
    rows = count_of(statistics["dataset"]["item_count"])
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
