"""What every published version gets, trained here or brought by its user: the library
versions that made it, its monitoring baseline, how it compares with the alias holder on
the same labelled rows, and the promotion gate."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from predictor.inference import OnnxPredictor, Predictor, Task
from predictor.profiling.baseline import (
    constraints_document,
    statistics_document,
    training_baseline,
)
from predictor.schema import Features, FeatureSchema
from training.pipelines import PRIMARY_METRIC, is_not_worse, score
from training.registry_admin import ModelRegistry

#: The manifest's layout version.
MANIFEST_FORMAT = 1
#: The libraries whose versions every manifest records.
LIBRARIES = (
    "scikit-learn",
    "numpy",
    "pandas",
    "scipy",
    "joblib",
    "skl2onnx",
    "onnx",
    "onnxruntime",
)


def library_versions() -> dict[str, str]:
    """Python's and each library's version in this environment (the one that made the model)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        versions[name] = metadata.version(name)
    return versions


def json_bytes(document: dict[str, Any]) -> bytes:
    """A JSON artifact as stored in the registry."""
    return json.dumps(document, indent=1).encode()


def baseline_documents(
    schema: FeatureSchema, features: Features, served: OnnxPredictor
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The monitoring baseline: the rows, and the served graph's predictions of them,
    counted into fixed bins (SageMaker's statistics.json and constraints.json).
    """
    predictions = served.predict(features)
    baseline = training_baseline(schema, features, predictions.values, served.classes)
    summaries = {}
    for spec in schema.columns:
        if spec.kind == "numeric":
            values = features[spec.name].astype(np.float64).ravel()
            present = values[~np.isnan(values)]
            if len(present):
                summaries[spec.name] = {
                    "mean": float(present.mean()),
                    "sum": float(present.sum()),
                    "std_dev": float(present.std()),
                }
    return (
        statistics_document(baseline, schema, summaries),
        constraints_document(baseline, schema),
    )


def compare_with_holder(
    registry: ModelRegistry,
    name: str,
    alias: str,
    served: OnnxPredictor,
    features: Features,
    y_true: np.ndarray | None,
    new_value: float | None,
    version: str,
) -> dict[str, Any]:
    """How the new version compares with the holder of ``alias``, both scored on the same
    labelled rows (``features``, ``y_true``). Not comparable without labels, or when the
    two take other inputs or do another task."""
    task: Task = served.task
    metric, _ = PRIMARY_METRIC[task]
    found: dict[str, Any] = {
        "alias": alias,
        "task": task,
        "metric": metric,
        "new": new_value,
        "new_version": version,
        "current_version": None,
        "current": None,
        "comparable": False,
        "better": None,
    }
    holder = registry.alias(name, alias)
    if holder is None:
        found["summary"] = f"No version of {name} holds {alias} yet."
        return found
    found["current_version"] = holder["version"]
    if y_true is None or new_value is None:
        found["summary"] = (
            f"{alias} holds {holder['version']}; without labelled rows the two cannot be compared"
        )
        return found
    current = registry.load_onnx(name, holder["version"], with_baseline=False)
    # The same columns of the same kinds: the rows are input to both. (Ranges and
    # categories observed in training may differ: new data moves them.)
    inputs = [(c.name, c.kind) for c in current.predictor.schema.columns]
    if inputs != [(c.name, c.kind) for c in served.schema.columns] or (
        current.manifest["task"] != task
    ):
        found["summary"] = (
            f"{alias} holds {current.version}, whose inputs or task differ: the two cannot "
            "be compared on the same rows"
        )
        return found
    old_value = primary_metric(current.predictor, features, y_true)
    better = new_value > old_value if PRIMARY_METRIC[task][1] else new_value < old_value
    found.update(current=old_value, comparable=True, better=better)
    found["summary"] = (
        f"{metric} {new_value:.4f} on the same rows against {old_value:.4f} of "
        f"{current.version}, which holds {alias}: "
        + ("better" if better else "as good" if new_value == old_value else "worse")
    )
    return found


def primary_metric(predictor: Predictor, features: Features, y_true: np.ndarray) -> float:
    """The task's primary metric of ``predictor`` on labelled rows."""
    task: Task = predictor.task
    metric, _ = PRIMARY_METRIC[task]
    predicted = predictor.predict(features).values
    if task == "classification":  # served labels are objects; numeric classes compare as such
        predicted = np.asarray(predicted).astype(y_true.dtype)
    return score(task, y_true, predicted)[metric]


@dataclass(slots=True)
class Promotion:
    """Whether the alias moved, and the sentence that says why."""

    promoted: bool = False
    message: str = "not requested"
    comparison: dict[str, Any] = field(default_factory=dict)


def promote(
    registry: ModelRegistry,
    name: str,
    alias: str,
    version: str,
    found: dict[str, Any],
    *,
    force: bool = False,
    require_improvement: bool = False,
) -> Promotion:
    """Move ``alias`` to ``version`` unless its holder does better on the same rows
    (``found``: :func:`compare_with_holder`'s comparison); ``force`` moves it anyway."""
    holder = found["current_version"]
    result = Promotion()
    if holder is not None and not force:
        if not found["comparable"]:
            result.message = f"not promoted: {found['summary']} (use --force)"
            return result
        metric, new_value, old_value = found["metric"], found["new"], found["current"]
        result.comparison = {
            "metric": metric,
            "new": new_value,
            "current": old_value,
            "current_version": holder,
        }
        if not is_not_worse(found["task"], new_value, old_value):
            result.message = (
                f"not promoted: {metric} {new_value:.4f} is worse than {old_value:.4f} of "
                f"{holder}, which stays on {alias} (use --force)"
            )
            return result
        if require_improvement and new_value == old_value:
            result.message = (
                f"not promoted: {metric} {new_value:.4f} does not beat {old_value:.4f} of "
                f"{holder} on the same holdout, which stays on {alias}"
            )
            return result
    registry.set_alias(name, alias, version)
    result.promoted = True
    result.message = f"promoted to {alias}" + (f" (was {holder})" if holder else "")
    return result
