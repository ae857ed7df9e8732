"""The cloud training job as a Lambda handler: the same run as the CLI, from an event.

Event: ``{"data": "s3://bucket/key.csv", "target": "quality", "name": "wine-quality",
"promote": "production"}`` plus any of ``task``, ``candidates`` (list), ``cv_folds``,
``holdout``, ``time_budget``, ``seed``, ``refit``, ``force``, ``require_improvement``,
``drop`` (list of columns that are not features).
The registry bucket is the function's ``MODEL_BUCKET``. ``data`` may be a prefix
(``s3://bucket/training/``: every CSV under it). With ``report_to``
(``s3://bucket/prefix/``) the answer is also stored there as
``<name>/<version>.json`` (``<name>/failed-<time>.json`` when the run fails): the
retraining schedule's record of what happened and why.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from predictor.io import s3_store
from predictor.settings import RegistryLocation
from training.job import TrainingConfig, run_training

_EVENT_FIELDS = {f.name for f in dataclasses.fields(TrainingConfig)} - {"registry"}


@functools.cache
def s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Train from ``event`` and return the version, metrics and promotion decision.

    With ``report_to``, the answer is stored there too, and so is a failure (then raised
    again): a scheduled retraining leaves a record either way.
    """
    unknown = sorted(set(event) - _EVENT_FIELDS - {"report_to"})
    if unknown:
        raise ValueError(f"unknown field(s) in event: {', '.join(unknown)}")
    options = dict(event)
    report_to = _report_location(options.pop("report_to", None))
    for listed in ("candidates", "drop"):
        if listed in options:
            options[listed] = tuple(options[listed])
    try:
        registry = RegistryLocation.from_env(os.environ)  # the same settings type as the CLI's
        result = run_training(TrainingConfig(registry=registry, **options), s3_client())
    except Exception as exc:
        if report_to is not None:
            failure = {
                "name": options.get("name"),
                "data": options.get("data"),
                "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "promoted": False,
                "promotion": f"not promoted: the training failed: {type(exc).__name__}: {exc}",
            }
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            name = options.get("name") if isinstance(options.get("name"), str) else "unnamed"
            _store(report_to, f"{name}/failed-{stamp}.json", failure)
        raise
    manifest = result.manifest
    answer = {
        "name": manifest["name"],
        "version": manifest["version"],
        "created_at": manifest["created_at"],
        "data": manifest["training"]["source"],
        "rows": manifest["training"]["rows"],
        "metrics": manifest["metrics"],
        "onnx": manifest["onnx"],
        "promoted": result.promoted,
        "promotion": result.promotion,
        "comparison": result.comparison,
    }
    if report_to is not None:
        answer["report"] = _store(
            report_to, f"{manifest['name']}/{manifest['version']}.json", answer
        )
    return answer


def _report_location(value: Any) -> tuple[str, str] | None:
    """(bucket, prefix) of ``s3://bucket/prefix/``; ValueError for anything else."""
    if value is None:
        return None
    location = urlparse(str(value))
    if location.scheme != "s3" or not location.netloc:
        raise ValueError(f"report_to must be s3://bucket/prefix/, got {value!r}")
    prefix = location.path.strip("/")
    return location.netloc, f"{prefix}/" if prefix else ""


def _store(location: tuple[str, str], name: str, document: dict[str, Any]) -> str:
    bucket, prefix = location
    body = json.dumps(document, indent=1, default=str).encode()
    s3_store.put_bytes(s3_client(), bucket, prefix + name, body, "application/json")
    return f"s3://{bucket}/{prefix}{name}"
