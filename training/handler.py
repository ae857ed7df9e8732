"""The cloud training job as a Lambda handler: the same run as the CLI, from an event.

Event: ``{"data": "s3://bucket/key.csv", "target": "quality", "name": "wine-quality",
"promote": "production"}`` plus any of ``task``, ``candidates`` (list), ``cv_folds``,
``holdout``, ``time_budget``, ``seed``, ``refit``, ``force``, ``require_improvement``.
The registry bucket is the function's ``MODEL_BUCKET``. ``data`` may be a prefix
(``s3://bucket/training/``: every CSV under it). With ``report_to``
(``s3://bucket/prefix/``) the answer is also stored there as
``<name>/<time>.json``: the retraining schedule's record of what happened and why.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any
from urllib.parse import urlparse

from predictor.settings import RegistryLocation
from training.job import TrainingConfig, run_training

_EVENT_FIELDS = {f.name for f in dataclasses.fields(TrainingConfig)} - {"registry"}


@functools.cache
def s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Train from ``event`` and return the version, metrics and promotion decision."""
    unknown = sorted(set(event) - _EVENT_FIELDS - {"report_to"})
    if unknown:
        raise ValueError(f"unknown field(s) in event: {', '.join(unknown)}")
    options = dict(event)
    report_to = options.pop("report_to", None)
    if "candidates" in options:
        options["candidates"] = tuple(options["candidates"])
    registry = RegistryLocation.from_env(os.environ)  # the same settings type as the CLI's
    result = run_training(TrainingConfig(registry=registry, **options), s3_client())
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
    if report_to:
        location = urlparse(str(report_to))
        if location.scheme != "s3" or not location.netloc:
            raise ValueError(f"report_to must be s3://bucket/prefix/, got {report_to!r}")
        key = f"{location.path.strip('/')}/{manifest['name']}/{manifest['version']}.json"
        s3_client().put_object(
            Bucket=location.netloc,
            Key=key.lstrip("/"),
            Body=json.dumps(answer, indent=1).encode(),
            ContentType="application/json",
        )
        answer["report"] = f"s3://{location.netloc}/{key.lstrip('/')}"
    return answer
