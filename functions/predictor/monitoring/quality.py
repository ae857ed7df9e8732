"""Live quality: a model's answers against the labels that came back, beside its holdout.

Regression: MAE, RMSE (and MSE) and R²; classification: accuracy, macro F1 and, when the
model gives probabilities, log loss. Each mean-based metric has a 95% interval (normal
approximation over the rows; Wilson's for accuracy), so that a window of a few dozen
labels does not cry wolf: quality has *dropped* only when the whole interval of the
version's primary metric is worse than its holdout value by more than
:data:`TOLERANCE`, on at least :data:`MIN_ROWS` labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Fewer labels than this are reported, never judged.
MIN_ROWS = 30
#: How much worse than the holdout value the whole interval must be to call a drop
#: (relative: 5% of the holdout MSE, or of its accuracy).
TOLERANCE = 0.05
#: The interval's z (95%, two-sided).
Z = 1.959963984540054
#: Probabilities are clipped to this for log loss (as scikit-learn's eps).
EPSILON = 1e-15


@dataclass(slots=True)
class Quality:
    """One version's live metrics over a set of labelled rows."""

    task: str
    rows: int
    metrics: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    holdout: dict[str, float] = field(default_factory=dict)
    primary: str = ""
    higher_is_better: bool = False
    dropped: bool = False
    verdict: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "rows": self.rows,
            "metrics": {k: _round(v) for k, v in self.metrics.items()},
            "intervals": {k: [_round(lo), _round(hi)] for k, (lo, hi) in self.intervals.items()},
            "holdout": {k: _round(v) for k, v in self.holdout.items()},
            "primary": self.primary,
            "higher_is_better": self.higher_is_better,
            "dropped": self.dropped,
            "verdict": self.verdict,
        }


def _round(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def _mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    mean = float(values.mean())
    spread = Z * float(values.std(ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, mean - spread, mean + spread


def _wilson(successes: int, n: int) -> tuple[float, float]:
    p = successes / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def regression_quality(predictions: np.ndarray, labels: np.ndarray) -> Quality:
    """MAE, MSE, RMSE and R² with their intervals."""
    errors = predictions.astype(np.float64) - labels.astype(np.float64)
    quality = Quality("regression", len(errors))
    mse, mse_low, mse_high = _mean_interval(errors**2)
    mae, mae_low, mae_high = _mean_interval(np.abs(errors))
    variance = float(labels.var()) if len(labels) > 1 else 0.0
    quality.metrics = {"mae": mae, "mse": mse, "rmse": math.sqrt(mse)}
    quality.intervals = {
        "mae": (mae_low, mae_high),
        "mse": (max(mse_low, 0.0), mse_high),
        "rmse": (math.sqrt(max(mse_low, 0.0)), math.sqrt(mse_high)),
    }
    if variance > 0:
        quality.metrics["r2"] = 1 - mse / variance
        quality.intervals["r2"] = (1 - mse_high / variance, 1 - max(mse_low, 0.0) / variance)
    return quality


def classification_quality(
    predictions: list[str],
    labels: list[str],
    probabilities: np.ndarray | None = None,
    classes: list[str] | None = None,
) -> Quality:
    """Accuracy (Wilson's interval), macro F1 and, with probabilities, log loss."""
    n = len(labels)
    quality = Quality("classification", n)
    predicted, actual = np.asarray(predictions, dtype=object), np.asarray(labels, dtype=object)
    hits = predicted == actual
    quality.metrics["accuracy"] = float(hits.mean())
    quality.intervals["accuracy"] = _wilson(int(hits.sum()), n)
    scores = []
    for label in set(labels) | set(predictions):
        said, true = predicted == label, actual == label
        tp = int((said & true).sum())
        wrong = int((said & ~true).sum()) + int((~said & true).sum())
        scores.append(2 * tp / (2 * tp + wrong) if tp + wrong else 0.0)
    quality.metrics["f1_macro"] = float(np.mean(scores)) if scores else 0.0
    if probabilities is not None and classes is not None:
        position = {c: i for i, c in enumerate(classes)}
        known = [i for i, y in enumerate(labels) if y in position]
        if known:
            rows = np.clip(probabilities[known].astype(np.float64), EPSILON, 1.0)
            rows = rows / rows.sum(axis=1, keepdims=True)
            picked = rows[np.arange(len(known)), [position[labels[i]] for i in known]]
            loss, low, high = _mean_interval(-np.log(picked))
            quality.metrics["log_loss"] = loss
            quality.intervals["log_loss"] = (max(low, 0.0), high)
    return quality


def judge(quality: Quality, metrics: dict[str, Any] | None) -> Quality:
    """Compare ``quality`` with the manifest's ``metrics`` (holdout, primary, direction)."""
    holdout = (metrics or {}).get("holdout") or {}
    primary = (metrics or {}).get("primary") or (
        "mse" if quality.task == "regression" else "accuracy"
    )
    quality.primary = primary
    quality.higher_is_better = bool((metrics or {}).get("higher_is_better", primary == "accuracy"))
    quality.holdout = {k: float(v) for k, v in holdout.items() if k in quality.metrics}
    reference = quality.holdout.get(primary)
    interval = quality.intervals.get(primary)
    if quality.rows < MIN_ROWS:
        quality.verdict = f"{quality.rows} label(s): too few to judge (at least {MIN_ROWS})"
    elif reference is None or interval is None:
        quality.verdict = f"no holdout {primary} to compare with"
    elif quality.higher_is_better:
        quality.dropped = interval[1] < reference * (1 - TOLERANCE)
        quality.verdict = _verdict(quality, primary, reference, interval)
    else:
        quality.dropped = interval[0] > reference * (1 + TOLERANCE)
        quality.verdict = _verdict(quality, primary, reference, interval)
    return quality


def _verdict(
    quality: Quality, primary: str, reference: float, interval: tuple[float, float]
) -> str:
    value = quality.metrics[primary]
    shown = f"{primary} {value:.4g} (95% {interval[0]:.4g} to {interval[1]:.4g})"
    if quality.dropped:
        return f"dropped: {shown} against {reference:.4g} on the holdout"
    # The normal interval of a mean error reaching 0, the least an error can be, is no
    # interval to trust: a few labels far from their predictions (one extreme label)
    # widened it. Worse on the whole, and not "holding".
    if not quality.higher_is_better and interval[0] <= 0 < value > reference * (1 + TOLERANCE):
        return (
            f"uncertain: {shown} against {reference:.4g} on the holdout; more than "
            f"{TOLERANCE:.0%} worse, with an interval down to 0 that a few labels far "
            "from their predictions widened"
        )
    return f"holding: {shown} against {reference:.4g} on the holdout"
