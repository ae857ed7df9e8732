"""The training job: read, select by cross-validation, check ONNX, publish, maybe promote."""

from __future__ import annotations

import io
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split

from predictor.inference import OnnxPredictor, Task
from predictor.profiles import (
    CONSTRAINTS_FILE,
    STATISTICS_FILE,
    constraints_document,
    statistics_document,
    training_baseline,
)
from predictor.registry import JOBLIB_ARTIFACT, ONNX_ARTIFACT
from predictor.schema import Features, FeatureSchema
from predictor.settings import RegistryLocation
from training import onnx_export
from training.data import read_table
from training.joblib_predictor import JoblibPredictor, features_frame
from training.pipelines import (
    CANDIDATES,
    CV_SCORING,
    PRIMARY_METRIC,
    build_baseline,
    build_pipeline,
    is_not_worse,
    score,
)
from training.registry_admin import ModelRegistry
from training.schema_inference import features_from_frame, infer_schema

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
_LIBRARIES = (
    "scikit-learn",
    "numpy",
    "pandas",
    "scipy",
    "joblib",
    "skl2onnx",
    "onnx",
    "onnxruntime",
)


class TrainingError(Exception):
    """The job cannot produce a servable model; the message says why."""


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """Everything one training run needs; the CLI and the Lambda handler both build one."""

    data: str
    target: str
    name: str
    registry: RegistryLocation
    task: Task | None = None
    candidates: tuple[str, ...] = CANDIDATES
    cv_folds: int = 5
    holdout: float = 0.2
    time_budget: float = 300.0
    seed: int = 0
    refit: bool = True
    promote: str | None = None
    force: bool = False
    #: Move the alias only if the new version is strictly better than its holder (the
    #: retraining schedule's gate), not merely as good.
    require_improvement: bool = False

    def __post_init__(self) -> None:
        unknown = [c for c in self.candidates if c not in CANDIDATES]
        if unknown or not self.candidates:
            raise ValueError(f"unknown candidate(s) {unknown}; choose from {', '.join(CANDIDATES)}")
        if not 0.05 <= self.holdout <= 0.5:
            raise ValueError("holdout must be between 0.05 and 0.5")
        if self.cv_folds < 2:
            raise ValueError("cv_folds must be at least 2")
        if self.time_budget <= 0:
            raise ValueError("time_budget must be positive")


@dataclass(slots=True)
class TrainingResult:
    """What a run produced: the stored manifest and the promotion decision."""

    manifest: dict[str, Any]
    promoted: bool = False
    promotion: str = "not requested"
    comparison: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines a person reads after the run."""
        m = self.manifest
        primary = m["metrics"]["primary"]
        holdout, baseline = m["metrics"]["holdout"], m["metrics"]["baseline"]
        lines = [
            f"model      {m['name']} version {m['version']} ({m['task']}, {m['estimator']})",
            f"cv         {primary} {m['metrics']['cv']['mean']:.4f} "
            f"± {m['metrics']['cv']['std']:.4f} ({m['training']['cv_folds']} folds)",
            f"holdout    {_format_metrics(holdout)}",
            f"baseline   {_format_metrics(baseline)}",
            f"onnx       {m['onnx']['reason']}",
            f"promotion  {self.promotion}",
        ]
        return "\n".join(lines)


def _format_metrics(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in values.items())


def infer_task(target: pd.Series) -> Task:
    """Classification for text, boolean or two-valued targets; regression otherwise.

    An integer target with many values (a 3-8 wine quality score, a count) is treated
    as a quantity; pass ``--task classification`` to treat it as classes.
    """
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "classification"
    return "classification" if target.nunique(dropna=True) <= 2 else "regression"


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        versions[name] = metadata.version(name)
    return versions


def _take(features: Features, rows: np.ndarray) -> Features:
    return {name: values[rows] for name, values in features.items()}


def _splitter(task: Task, folds: int, seed: int) -> KFold | StratifiedKFold:
    if task == "classification":
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


def _select(
    config: TrainingConfig,
    schema: FeatureSchema,
    task: Task,
    frame: pd.DataFrame,
    target: np.ndarray,
) -> tuple[str, list[dict[str, Any]]]:
    """Cross-validate the candidates in order until the time budget is spent."""
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    higher_is_better = PRIMARY_METRIC[task][1]
    splitter = _splitter(task, config.cv_folds, config.seed)
    for kind in config.candidates:
        elapsed = time.monotonic() - started
        if results and elapsed >= config.time_budget:
            results.append({"candidate": kind, "status": "skipped: time budget spent"})
            continue
        began = time.monotonic()
        pipeline = build_pipeline(kind, schema, task, config.seed)
        scores = cross_val_score(pipeline, frame, target, cv=splitter, scoring=CV_SCORING[task])
        # scikit-learn negates error metrics so that higher is better; undo it.
        values = scores if higher_is_better else -scores
        results.append(
            {
                "candidate": kind,
                "status": "evaluated",
                "mean": float(values.mean()),
                "std": float(values.std()),
                "seconds": round(time.monotonic() - began, 2),
            }
        )
        logger.info("candidate %s: cv %.4f", kind, values.mean())
    evaluated = [r for r in results if r["status"] == "evaluated"]
    best = (max if higher_is_better else min)(evaluated, key=lambda r: r["mean"])
    return str(best["candidate"]), results


def _evaluate(
    task: Task, pipeline: Any, frame: pd.DataFrame, target: np.ndarray
) -> dict[str, float]:
    predictions = pipeline.predict(frame)
    if task == "classification":
        probabilities = pipeline.predict_proba(frame)
        return score(task, target, predictions, probabilities, pipeline.classes_)
    return score(task, target, predictions)


def run_training(config: TrainingConfig, s3: Any) -> TrainingResult:
    """Train, verify, publish and (optionally) promote one model; see the CLI's --help."""
    table = read_table(config.data, s3)
    frame = table.frame
    if config.target not in frame.columns:
        raise TrainingError(
            f"target column {config.target!r} not found; columns are: {', '.join(frame.columns)}"
        )
    unlabeled = int(frame[config.target].isna().sum())
    labeled = frame[config.target].notna().to_numpy()
    frame = frame[labeled].reset_index(drop=True)
    arrived = table.arrived[labeled] if table.arrived is not None else None
    target_series = frame[config.target]
    task = config.task or infer_task(target_series)
    if task == "classification":
        if not pd.api.types.is_numeric_dtype(target_series):
            target_series = target_series.astype(str)
        counts = target_series.value_counts()
        if len(counts) < 2:
            raise TrainingError("classification needs at least two classes in the target")
        if counts.min() < config.cv_folds:
            raise TrainingError(
                f"class {counts.idxmin()!r} has {counts.min()} rows; each class needs at "
                f"least {config.cv_folds} (the number of CV folds)"
            )
    elif not pd.api.types.is_numeric_dtype(target_series):
        raise TrainingError(f"regression needs a numeric target; {config.target!r} is not")
    target = target_series.to_numpy()
    inputs = frame.drop(columns=[config.target])
    if inputs.shape[1] == 0:
        raise TrainingError("the table has no feature columns besides the target")
    try:
        schema = infer_schema(inputs)
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    features = features_from_frame(schema, inputs)
    # Fit on exactly what serving will feed: the schema's coerced (float32) values.
    model_frame = features_frame(schema, features)
    rows = np.arange(len(frame))
    newest = _rows_after_holder(config, s3, arrived)
    if newest is not None:
        # The gate's holdout: half the rows that arrived after the alias holder was
        # trained. The holder has seen none of them; the new model is fitted on the older
        # rows and the other half of the new ones, so it has seen none of them either.
        kept, held = train_test_split(rows[newest], test_size=0.5, random_state=config.seed)
        train_rows, holdout_rows = np.concatenate([rows[~newest], kept]), held
    else:
        train_rows, holdout_rows = train_test_split(
            rows,
            test_size=config.holdout,
            random_state=config.seed,
            stratify=target if task == "classification" else None,
        )
    x_train, x_holdout = model_frame.iloc[train_rows], model_frame.iloc[holdout_rows]
    y_train, y_holdout = target[train_rows], target[holdout_rows]

    chosen, candidates = _select(config, schema, task, x_train, y_train)
    pipeline = build_pipeline(chosen, schema, task, config.seed).fit(x_train, y_train)
    holdout_metrics = _evaluate(task, pipeline, x_holdout, y_holdout)
    baseline = build_baseline(task).fit(x_train, y_train)
    baseline_metrics = _evaluate(task, baseline, x_holdout, y_holdout)
    if config.refit:
        pipeline = clone(pipeline).fit(model_frame, target)

    holdout_features = _take(features, holdout_rows)
    reference = JoblibPredictor(pipeline, schema, task)
    try:
        onnx_bytes = onnx_export.convert(pipeline, schema, task)
        served = OnnxPredictor(onnx_bytes, schema, task, reference.classes)
    except Exception as exc:
        raise TrainingError(
            f"the {chosen} pipeline could not be converted to ONNX, so it cannot be served: {exc}"
        ) from exc
    equivalence = onnx_export.check_equivalence(reference, served, holdout_features)
    if not equivalence.passed:
        raise TrainingError(
            f"refused for serving: the ONNX graph does not reproduce the {chosen} pipeline "
            f"({equivalence.reason})"
        )

    statistics, constraints = _baseline_documents(schema, features, served)

    # Parallel fitting helps training; parallel prediction of one row costs ~100 ms of
    # thread start-up to whoever loads model.joblib, so the artifact predicts serially.
    if "n_jobs" in pipeline.named_steps["model"].get_params():
        pipeline.set_params(model__n_jobs=None)
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    best_cv = next(c for c in candidates if c["candidate"] == chosen)
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": task,
        "target": config.target,
        "schema": schema.to_dict(),
        "classes": list(reference.classes) if reference.classes is not None else None,
        "estimator": chosen,
        "metrics": {
            "primary": PRIMARY_METRIC[task][0],
            "higher_is_better": PRIMARY_METRIC[task][1],
            "cv": {"mean": best_cv["mean"], "std": best_cv["std"]},
            "holdout": holdout_metrics,
            "baseline": baseline_metrics,
        },
        "candidates": candidates,
        "training": {
            "source": table.source,
            "rows": len(frame),
            "unlabeled_rows_dropped": unlabeled,
            "sha256": table.sha256,
            "delimiter": table.delimiter,
            "holdout_fraction": config.holdout,
            "train_rows": len(train_rows),
            "holdout_rows": len(holdout_rows),
            "cv_folds": config.cv_folds,
            "seed": config.seed,
            "refit_on_all_rows": config.refit,
        },
        "versions": _library_versions(),
        "onnx": {**equivalence.to_dict(), "opset": onnx_export.TARGET_OPSET},
    }
    registry = ModelRegistry(s3, config.registry)
    stored = registry.publish(
        config.name,
        manifest,
        {
            JOBLIB_ARTIFACT: buffer.getvalue(),
            ONNX_ARTIFACT: onnx_bytes,
            STATISTICS_FILE: _json_bytes(statistics),
            CONSTRAINTS_FILE: _json_bytes(constraints),
        },
    )
    result = TrainingResult(manifest=stored)
    if config.promote:
        # The gate judges the pipeline that was fitted without the holdout (the refit one
        # has seen those rows, which would favour it).
        new_value = float(holdout_metrics[PRIMARY_METRIC[task][0]])
        _promote(config, registry, result, served, holdout_features, y_holdout, new_value)
    return result


#: Rows that arrived after the alias holder was trained that a retraining needs: half
#: of them are the holdout both models are compared on.
MIN_NEW_ROWS = 40


def _rows_after_holder(
    config: TrainingConfig, s3: Any, arrived: np.ndarray | None
) -> np.ndarray | None:
    """With ``require_improvement`` on a data prefix: which rows arrived after the alias
    holder was trained (a mask). TrainingError when too few did: a comparison on rows the
    holder has seen would favour it (and one on rows the new model has seen, the new one).
    None when there is no holder, or no upload times (a single file).
    """
    if not (config.require_improvement and config.promote) or config.force or arrived is None:
        return None
    registry = ModelRegistry(s3, config.registry)
    holder = registry.alias(config.name, config.promote)
    if holder is None:
        return None
    created = registry.manifest(config.name, holder["version"])["created_at"]
    newest = arrived > datetime.fromisoformat(created).timestamp()
    if int(newest.sum()) < MIN_NEW_ROWS:
        raise TrainingError(
            f"not retrained: {int(newest.sum())} row(s) arrived after {holder['version']} "
            f"was trained; at least {MIN_NEW_ROWS} are needed, half of them to compare the "
            "two models on rows neither has seen"
        )
    return newest


def _baseline_documents(
    schema: FeatureSchema, features: Features, served: OnnxPredictor
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The monitoring baseline: every training row, and the served graph's predictions of
    them, counted into fixed bins (SageMaker's statistics.json and constraints.json).
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


def _json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=1).encode()


def _promote(
    config: TrainingConfig,
    registry: ModelRegistry,
    result: TrainingResult,
    served: OnnxPredictor,
    holdout_features: Features,
    y_holdout: np.ndarray,
    new_value: float,
) -> None:
    """Move the alias to the new version unless the current holder does better on the
    holdout (``new_value``: the new pipeline's score there, fitted without it).
    """
    assert config.promote is not None
    manifest = result.manifest
    task: Task = manifest["task"]
    metric, _ = PRIMARY_METRIC[task]
    holder = registry.alias(config.name, config.promote)
    if holder is not None and not config.force:
        current = registry.load_onnx(config.name, holder["version"], with_baseline=False)
        # The same columns of the same kinds: the holdout rows are input to both. (Ranges
        # and categories observed in training may differ: new data moves them.)
        inputs = [(c.name, c.kind) for c in current.predictor.schema.columns]
        if inputs != [(c.name, c.kind) for c in served.schema.columns] or (
            current.manifest["task"] != task
        ):
            result.promotion = (
                f"not promoted: {config.promote} holds {current.version}, whose inputs or task "
                "differ, so the two cannot be compared on the same rows (use --force)"
            )
            return
        old_value = _holdout_metric(current.predictor, holdout_features, y_holdout)
        result.comparison = {
            "metric": metric,
            "new": new_value,
            "current": old_value,
            "current_version": current.version,
        }
        if not is_not_worse(task, new_value, old_value):
            result.promotion = (
                f"not promoted: {metric} {new_value:.4f} is worse than {old_value:.4f} of "
                f"{current.version}, which stays on {config.promote} (use --force)"
            )
            return
        if config.require_improvement and new_value == old_value:
            result.promotion = (
                f"not promoted: {metric} {new_value:.4f} does not beat {old_value:.4f} of "
                f"{current.version} on the same holdout, which stays on {config.promote}"
            )
            return
    registry.set_alias(config.name, config.promote, manifest["version"])
    result.promoted = True
    result.promotion = f"promoted to {config.promote}" + (
        f" (was {holder['version']})" if holder else ""
    )


def _holdout_metric(predictor: Any, features: Features, y_true: np.ndarray) -> float:
    task: Task = predictor.task
    metric, _ = PRIMARY_METRIC[task]
    predictions = predictor.predict(features)
    return score(task, y_true, predictions.values)[metric]
