"""The scheduled monitor: EventBridge Scheduler -> this Lambda function.

Event (all optional): ``{"lookback_minutes": 60, "models": ["wine-quality"],
"include_open_window": false}``; the schedule in template.yaml sends ``{}``, so the
period is ``MONITOR_LOOKBACK_MINUTES`` of closed windows. ``include_open_window`` reads
the rows counted so far too (a run on demand, as ``events/monitor_now.json``).
Each model's report is written by :func:`predictor.monitoring.monitor.run_monitor`; its figures go
to CloudWatch as metrics in embedded metric format (log lines, no API call, so the role
needs no ``cloudwatch:PutMetricData``): ``DriftedFeatures`` (the alarm's metric: columns
whose drift is beyond the noise floor), ``MaxDriftScore``, ``Violations`` and
``RowsProfiled`` per model, and ``DriftScore`` per model and feature. The scheduled run
reads the windows that closed ``MONITOR_SETTLE_SECONDS`` ago.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from predictor.models.registry import RegistryReader, check_name
from predictor.monitoring.monitor import run_monitor
from predictor.monitoring.reports import ModelReport, Period
from predictor.settings import MAX_LOOKBACK_MINUTES, Settings

logger = Logger()


@functools.cache
def _settings() -> Settings:
    """The function's settings; the capture bucket (where profiles are) is required."""
    return Settings.from_env(os.environ, required=("model_bucket", "capture_bucket"))


@functools.cache
def _s3() -> Any:
    import boto3  # here, not at import

    return boto3.client("s3")


def _metric(name: str, value: float, unit: MetricUnit, dimensions: dict[str, str]) -> None:
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ServerlessPredictor")
    with single_metric(name=name, unit=unit, value=value, namespace=namespace) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


def publish_metrics(report: ModelReport) -> None:
    """One model's figures (the worst of its versions in the period)."""
    if is_metrics_disabled():
        return
    compared = [v for v in report.versions if v.comparison is not None and v.rows]
    model = {"Model": report.model}
    _metric("RowsProfiled", sum(v.rows for v in report.versions), MetricUnit.Count, model)
    _quality_metrics(report, model)
    if not compared:
        return
    scores: dict[str, float] = {}
    for version in compared:
        assert version.comparison is not None
        for column in version.comparison.columns:
            scores[column.name] = max(scores.get(column.name, 0.0), column.psi)
    _metric("MaxDriftScore", max(scores.values(), default=0.0), MetricUnit.NoUnit, model)
    drifted = max(len(v.comparison.drifted) for v in compared if v.comparison)
    _metric("DriftedFeatures", drifted, MetricUnit.Count, model)
    violations = sum(len(v.comparison.violations) for v in compared if v.comparison)
    _metric("Violations", violations, MetricUnit.Count, model)
    for feature, score in scores.items():
        _metric("DriftScore", score, MetricUnit.NoUnit, {**model, "Feature": feature})


def _quality_metrics(report: ModelReport, model: dict[str, str]) -> None:
    """Labels joined, each version's live primary metric, and whether quality dropped
    (the quality alarm's metric: 1 when any version's did, 0 when labels came and none
    did; nothing when no label came)."""
    joined = sum(int(f.get("joined", 0)) for f in report.labels)
    _metric("LabelsJoined", joined, MetricUnit.Count, model)
    judged = [s for s in report.quality.values() if s.get("holdout")]
    for version, section in report.quality.items():
        value = (section.get("metrics") or {}).get(section.get("primary"))
        if value is not None:
            dimensions = {**model, "Version": version, "Metric": str(section["primary"])}
            _metric("LiveQuality", value, MetricUnit.NoUnit, dimensions)
    if judged:
        _metric("QualityDropped", int(report.quality_dropped), MetricUnit.Count, model)


def _options(event: Any, default_lookback: int) -> tuple[int, list[str], bool]:
    """The event's period, models and whether to read the window still open, checked
    (ValueError says what is wrong).
    """
    if not isinstance(event, dict):
        raise ValueError("the event must be a JSON object")
    unknown = set(event) - {"lookback_minutes", "models", "include_open_window"}
    if unknown:
        raise ValueError(f"unknown field(s) in the event: {', '.join(sorted(unknown))}")
    lookback = event.get("lookback_minutes", default_lookback)
    if isinstance(lookback, bool) or not isinstance(lookback, int):
        raise ValueError(f"lookback_minutes must be a whole number, got {lookback!r}")
    models = event.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ValueError(f"models must be a list of model names, got {models!r}")
    for name in models:
        check_name(name, "model name")
    if not 0 < lookback <= MAX_LOOKBACK_MINUTES:
        raise ValueError(f"lookback_minutes must be 1 to {MAX_LOOKBACK_MINUTES}")
    include_open = event.get("include_open_window", False)
    if not isinstance(include_open, bool):
        raise ValueError(f"include_open_window must be true or false, got {include_open!r}")
    return lookback, models, include_open


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Report every model with profiles in the period; answer a summary per model."""
    settings = _settings()
    lookback, models, include_open = _options(event, settings.monitor_lookback_minutes)
    settle = None if include_open else settings.monitor_settle_seconds
    period = Period.of(datetime.now(UTC), lookback, settle_seconds=settle)
    reports = run_monitor(
        _s3(),
        settings.capture_bucket,
        RegistryReader(_s3(), settings.registry),
        period,
        models=models,
        retention_days=settings.feedback_retention_days,
        # A labels file waits as a window does (predictions a frozen container holds are
        # stored when a request thaws it), unless the open window is asked for too.
        labels_settle_seconds=0 if settle is None else settle,
    )
    summaries = []
    for report in reports:
        publish_metrics(report)
        summary = {
            "model": report.model,
            "status": report.status,
            "versions": {v.version: v.message for v in report.versions},
            "quality": {v: section["verdict"] for v, section in report.quality.items()},
            "labels_joined": sum(int(f.get("joined", 0)) for f in report.labels),
            "report": report.keys.get("html"),
        }
        logger.info("monitored", extra=summary)
        summaries.append(summary)
    failed = [r.model for r in reports if r.status == "error"]
    if failed:  # the invocation fails, so the function's error metric shows it
        raise RuntimeError(f"no report could be made for {', '.join(failed)}; see the log")
    return {"reports": summaries}
