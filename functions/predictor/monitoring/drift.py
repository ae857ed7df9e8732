"""Drift and violations: a window's merged profile against its version's baseline.

Per column and for the predictions, the population stability index (PSI) and the
Jensen-Shannon distance between the baseline's and the window's shares of rows per bin.
A column has drifted when its PSI is at least ``drift_psi`` *and* above what sampling
noise alone reaches in a window of that many rows (:func:`noise_floor`): without that
floor a window of a few dozen rows would be flagged on chance alone.

Violations follow SageMaker Model Monitor's ``constraint_check_type`` names where one
exists: ``baseline_drift_check``, ``completeness_check`` (more missing values than in
training), ``categorical_values_check`` (unknown categories); and this product's
``range_check`` (values outside the training minimum and maximum) and
``schema_refusal_check`` (rows the schema refused).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from predictor.monitoring.statistics import binomial_tail, js_distance, noise_floor, psi
from predictor.profiling.baseline import Baseline
from predictor.profiling.bins import MISSING_SLOT, OUTSIDE_SLOT, Bins, Counts, zeros
from predictor.profiling.profiles import Profile
from predictor.schema import NUMERIC

#: How reports name the model's own output (a column may be called "prediction").
PREDICTION_LABEL = "(model output)"


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """One column's (or the predictions') comparison with the baseline."""

    name: str
    kind: str
    rows: int
    psi: float
    js_distance: float
    noise_floor: float
    status: str  # "drift", "moderate" or "stable"; "no data" with no row
    labels: list[str]
    baseline_shares: list[float]
    current_shares: list[float]
    missing_share: float
    baseline_missing_share: float
    outside_share: float  # below or above the training range, or an unknown category
    minimum: float | None = None
    maximum: float | None = None
    missing: int = 0
    outside: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "rows": self.rows,
            "psi": round(self.psi, 6),
            "js_distance": round(self.js_distance, 6),
            "noise_floor": round(self.noise_floor, 6) if math.isfinite(self.noise_floor) else None,
            "status": self.status,
            "missing_share": round(self.missing_share, 6),
            "baseline_missing_share": round(self.baseline_missing_share, 6),
            "outside_share": round(self.outside_share, 6),
            "min": self.minimum,
            "max": self.maximum,
            "bins": [
                {"bin": label, "baseline": round(b, 6), "current": round(c, 6)}
                for label, b, c in zip(
                    self.labels, self.baseline_shares, self.current_shares, strict=True
                )
            ],
        }


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken constraint, in SageMaker's ``constraint_violations.json`` shape."""

    feature_name: str
    constraint_check_type: str
    description: str


@dataclass(slots=True)
class Comparison:
    """A window against the baseline: every column's drift, and the violations."""

    rows: int
    refused_rows: int
    columns: list[ColumnDrift] = field(default_factory=list)
    prediction: ColumnDrift | None = None
    violations: list[Violation] = field(default_factory=list)

    @property
    def drifted(self) -> list[str]:
        """Columns (and ``prediction``) whose status is drift."""
        found = [c.name for c in self.columns if c.status == "drift"]
        if self.prediction is not None and self.prediction.status == "drift":
            found.append(PREDICTION_LABEL)
        return found

    @property
    def max_psi(self) -> float:
        """The largest PSI of any input column (with or without drift: a figure to chart)."""
        return max((c.psi for c in self.columns if c.rows), default=0.0)


def _column(
    bins: Bins,
    expected: Counts,
    actual: Counts,
    baseline_rows: int,
    thresholds: dict[str, float],
    tests: int,
) -> ColumnDrift:
    rows = sum(actual.counts.tolist())  # Python integers: a sum of large bins cannot wrap
    base_total = sum(expected.counts.tolist()) or 1
    outside = int(actual.counts[OUTSIDE_SLOT])
    if bins.kind == NUMERIC:
        outside += int(actual.counts[bins.above_slot])
    # Bins that neither side ever used add nothing but smoothing noise: leave them out.
    used = (expected.counts > 0) | (actual.counts > 0)
    value = psi(expected.counts[used], actual.counts[used]) if rows else 0.0
    distance = js_distance(expected.counts[used], actual.counts[used]) if rows else 0.0
    floor = noise_floor(
        int(used.sum()), rows, baseline_rows, thresholds["false_alarm_rate"] / tests
    )
    if rows == 0:
        status = "no data"
    elif value >= max(thresholds["drift_psi"], floor):
        status = "drift"
    elif value >= max(thresholds["moderate_psi"], floor):
        status = "moderate"
    else:
        status = "stable"
    return ColumnDrift(
        name=bins.name,
        kind=bins.kind,
        rows=rows,
        psi=value,
        js_distance=distance,
        noise_floor=floor,
        status=status,
        labels=bins.labels(),
        baseline_shares=(expected.counts / base_total).tolist(),
        current_shares=(actual.counts / rows).tolist() if rows else [0.0] * bins.size,
        missing_share=int(actual.counts[MISSING_SLOT]) / rows if rows else 0.0,
        baseline_missing_share=int(expected.counts[MISSING_SLOT]) / base_total,
        outside_share=outside / rows if rows else 0.0,
        minimum=actual.minimum,
        maximum=actual.maximum,
        missing=int(actual.counts[MISSING_SLOT]),
        outside=outside,
    )


def compare(baseline: Baseline, window: Profile) -> Comparison:
    """Every column of ``window`` against ``baseline``, and the violations."""
    thresholds = baseline.constraints["thresholds"]
    layout = baseline.layout
    tests = len(layout.features) + 1  # the false-alarm rate is shared by all columns
    result = Comparison(window.rows, window.refused_rows)
    for bins in layout.features:
        expected = baseline.training.columns[bins.name]
        actual = window.columns.get(bins.name) or zeros(bins)
        result.columns.append(_column(bins, expected, actual, baseline.rows, thresholds, tests))
    assert baseline.training.prediction is not None
    output = _column(
        layout.prediction,
        baseline.training.prediction,
        window.prediction or zeros(layout.prediction),
        baseline.rows,
        thresholds,
        tests,
    )
    result.prediction = replace(output, name=PREDICTION_LABEL)  # never a column's name
    result.violations = violations(result, baseline, thresholds, tests)
    return result


def _unusual(count: int, rows: int, share: float, expected: float, alpha: float) -> bool:
    """More than ``share`` of the rows, and more than chance gives at rate ``expected``."""
    return rows > 0 and count / rows > share and binomial_tail(count, rows, expected) < alpha


def violations(
    result: Comparison, baseline: Baseline, thresholds: dict[str, float], tests: int
) -> list[Violation]:
    """The constraints ``result`` breaks.

    Each share is compared with its threshold *and* with what chance gives at the rate
    training suggests, at the drift check's false-alarm rate: a new value falls outside
    the range of N training values with chance about 2/(N+1); an unseen category appears
    about as often as categories seen once in training did (Good-Turing); a value is
    missing about as often as in training (counted with one more missing value).
    """
    found: list[Violation] = []
    alpha = thresholds["false_alarm_rate"] / tests
    n_train = baseline.rows
    columns = list(result.columns)
    if result.prediction is not None:
        columns.append(result.prediction)
    for column in columns:
        if not column.rows:
            continue
        if column.status == "drift":
            found.append(
                Violation(
                    column.name,
                    "baseline_drift_check",
                    f"PSI {column.psi:.3f} is at least {thresholds['drift_psi']:g} (and above "
                    f"the {column.noise_floor:.3f} noise alone reaches in {column.rows} rows); "
                    f"Jensen-Shannon distance {column.js_distance:.3f}",
                )
            )
        if column is result.prediction:
            continue
        rows = column.rows
        expected_missing = (column.baseline_missing_share * n_train + 1) / (n_train + 1)
        share = column.baseline_missing_share + thresholds["missing_share_increase"]
        if _unusual(column.missing, rows, share, expected_missing, alpha):
            found.append(
                Violation(
                    column.name,
                    "completeness_check",
                    f"{column.missing_share:.1%} of values missing, against "
                    f"{column.baseline_missing_share:.1%} in training",
                )
            )
        if column.kind == NUMERIC:
            expected = 2 / (n_train + 1)
            if _unusual(column.outside, rows, thresholds["outside_range_share"], expected, alpha):
                found.append(
                    Violation(
                        column.name,
                        "range_check",
                        f"{column.outside_share:.1%} of values outside the training range "
                        f"(seen {_fmt(column.minimum)} to {_fmt(column.maximum)})",
                    )
                )
        else:
            training = baseline.training.columns[column.name].counts
            expected = max(int(np.count_nonzero(training[2:] == 1)), 1) / (n_train + 1)
            share = thresholds["unknown_category_share"]
            if _unusual(column.outside, rows, share, expected, alpha):
                found.append(
                    Violation(
                        column.name,
                        "categorical_values_check",
                        f"{column.outside_share:.1%} of values are categories unseen in training",
                    )
                )
    offered = result.rows + result.refused_rows
    refused_share = thresholds["refused_share"]
    if _unusual(result.refused_rows, offered, refused_share, 1 / (n_train + 1), alpha):
        found.append(
            Violation(
                "(all)",
                "schema_refusal_check",
                f"{result.refused_rows} of {offered} rows ({result.refused_rows / offered:.1%}) "
                "were refused by the schema",
            )
        )
    return found


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
