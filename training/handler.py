"""The cloud training job as a Lambda handler: the same run as the CLI, from an event.

Event: ``{"data": "s3://bucket/key.csv", "target": "quality", "name": "wine-quality",
"promote": "production"}`` plus any of ``task``, ``candidates`` (list), ``cv_folds``,
``holdout``, ``time_budget``, ``seed``, ``refit``, ``force``. The registry bucket is the
function's ``MODEL_BUCKET``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

from predictor.settings import RegistryLocation
from training.job import TrainingConfig, run_training

_EVENT_FIELDS = {f.name for f in dataclasses.fields(TrainingConfig)} - {"registry"}


@functools.cache
def s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Train from ``event`` and return the version, metrics and promotion decision."""
    unknown = sorted(set(event) - _EVENT_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) in event: {', '.join(unknown)}")
    options = dict(event)
    if "candidates" in options:
        options["candidates"] = tuple(options["candidates"])
    registry = RegistryLocation.from_env(os.environ)  # the same settings type as the CLI's
    result = run_training(TrainingConfig(registry=registry, **options), s3_client())
    manifest = result.manifest
    return {
        "name": manifest["name"],
        "version": manifest["version"],
        "metrics": manifest["metrics"],
        "onnx": manifest["onnx"],
        "promoted": result.promoted,
        "promotion": result.promotion,
    }
