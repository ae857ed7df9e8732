"""The training job: read, select by cross-validation, check ONNX, publish, maybe promote."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from predictor.inference import OnnxPredictor, Task
from predictor.models.registry import JOBLIB_ARTIFACT, ONNX_ARTIFACT, check_name
from predictor.profiling.baseline import CONSTRAINTS_FILE, STATISTICS_FILE
from predictor.schema import Features
from predictor.settings import RegistryLocation
from training import onnx_export, release, report, search, table_checks
from training.data import read_table
from training.joblib_predictor import JoblibPredictor, features_frame
from training.pipelines import (
    CANDIDATES,
    PRIMARY_METRIC,
    build_baseline,
    build_pipeline,
    quiet_convergence,
    score,
)
from training.registry_admin import ModelRegistry, new_version_id
from training.schema_inference import features_from_frame, infer_schema
from training.table_checks import TableNotes

logger = logging.getLogger(__name__)

#: Seconds the tuned search may take by default: the whole default run on the wine data
#: stays within 5 minutes on 2 cores.
DEFAULT_TIME_BUDGET = 200.0


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
    time_budget: float = DEFAULT_TIME_BUDGET
    #: Settings of each candidate the search tries (1: each one's defaults only).
    settings_per_candidate: int = search.SETTINGS_PER_CANDIDATE
    seed: int = 0
    refit: bool = True
    promote: str | None = None
    force: bool = False
    #: Columns of the table that are not features (identifiers, dates, leaks).
    drop: tuple[str, ...] = ()
    #: The column that names each row (not a feature): batch outputs carry its value as
    #: the row's inference id, which a label names.
    id_column: str | None = None
    #: Move the alias only if the new version is strictly better than its holder (the
    #: retraining schedule's gate), not merely as good.
    require_improvement: bool = False
    #: Where the search reports each trial as it goes (a terminal), or nowhere.
    progress: TextIO | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        check_name(self.name, "model name")  # a bad argument (exit 2), before any work
        unknown = [c for c in self.candidates if c not in CANDIDATES]
        if unknown or not self.candidates:
            raise ValueError(f"unknown candidate(s) {unknown}; choose from {', '.join(CANDIDATES)}")
        if not 0.05 <= self.holdout <= 0.5:
            raise ValueError("holdout must be between 0.05 and 0.5")
        if self.cv_folds < 2:
            raise ValueError("cv_folds must be at least 2")
        if self.time_budget <= 0:
            raise ValueError("time_budget must be positive")
        if self.settings_per_candidate < 1:
            raise ValueError("settings_per_candidate must be at least 1")


@dataclass(slots=True)
class TrainingResult:
    """What a run produced: the stored manifest and the promotion decision."""

    manifest: dict[str, Any]
    promoted: bool = False
    promotion: str = "not requested"
    comparison: dict[str, Any] = field(default_factory=dict)
    #: Where the training report's HTML page is stored (``s3://...``).
    report: str = ""
    #: What was done to the table before training (rows left out, cells made missing).
    notes: TableNotes = field(default_factory=TableNotes)

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
            f"data       {m['training']['rows']} labelled rows",
            *(f"           {line}" for line in self.notes.lines()),
            f"onnx       {m['onnx']['reason']}",
            f"promotion  {self.promotion}",
            f"report     {self.report}",
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
    values = target.dropna().to_numpy(dtype=np.float64)
    whole = bool(np.all(values == np.round(values)))
    # two values that are not whole numbers (1.0 and 2.5) are a quantity: scikit-learn's
    # classifiers take labels, not measurements
    return "classification" if whole and target.nunique(dropna=True) <= 2 else "regression"


def _take(features: Features, rows: np.ndarray) -> Features:
    return {name: values[rows] for name, values in features.items()}


def _candidate_summary(
    task: Task, candidates: tuple[str, ...], trials: list[search.Trial]
) -> list[dict[str, Any]]:
    """Each candidate's best setting judged on every training row, or why it has none."""
    higher_is_better = PRIMARY_METRIC[task][1]
    full = max((t.rows for t in trials), default=0)
    summary: list[dict[str, Any]] = []
    for candidate in candidates:
        own = [t for t in trials if t.candidate == candidate]
        judged = [t for t in own if t.rows == full and t.status == "evaluated"]
        if not judged:
            status = own[-1].status if own else "skipped: time budget spent"
            summary.append({"candidate": candidate, "status": status})
            continue
        best = (max if higher_is_better else min)(judged, key=lambda t: t.mean)
        summary.append(
            {
                "candidate": candidate,
                "status": "evaluated",
                "mean": best.mean,
                "std": best.std,
                "params": best.params,
                "seconds": round(sum(t.seconds for t in own), 2),
            }
        )
    return summary


def _evaluate(
    task: Task, pipeline: Any, frame: pd.DataFrame, target: np.ndarray
) -> dict[str, float]:
    predictions = pipeline.predict(frame)
    if task == "classification":
        probabilities = pipeline.predict_proba(frame)
        return score(task, target, predictions, probabilities, pipeline.classes_)
    return score(task, target, predictions)


def _prepare(
    config: TrainingConfig, table: Any
) -> tuple[pd.DataFrame, np.ndarray | None, TableNotes, Task, pd.Series, pd.DataFrame]:
    """The labelled rows, when each arrived, the notes, task, target and vetted features."""
    frame = table.frame
    if config.target not in frame.columns:
        raise TrainingError(
            f"target column {config.target!r} not found; columns are: {', '.join(frame.columns)}"
        )
    if config.id_column and config.id_column not in frame.columns:
        raise TrainingError(
            f"--id-column {config.id_column!r}: no such column; columns are: "
            + ", ".join(frame.columns)
        )
    dropped = (*config.drop, *([config.id_column] if config.id_column else []))
    notes = TableNotes(dropped_columns=list(dropped))
    frame = table_checks.drop_columns(frame, dropped, config.target)
    labeled = frame[config.target].notna().to_numpy()
    frame = table_checks.label_rows(frame, config.target, notes)
    arrived = table.arrived[labeled] if table.arrived is not None else None
    target_series = frame[config.target]
    table_checks.check_target(config.target, target_series)
    task = config.task or infer_task(target_series)
    if task == "classification":
        if not pd.api.types.is_numeric_dtype(target_series):
            target_series = target_series.astype(str)
        elif not pd.api.types.is_bool_dtype(target_series):
            values = target_series.to_numpy(dtype=np.float64)
            if not np.all(values == np.round(values)):
                raise TrainingError(
                    f"classification needs labels: the target {config.target!r} holds numbers "
                    "that are not whole (such as "
                    f"{values[values != np.round(values)][0]:g}); give the classes as text or "
                    "whole numbers, or leave --task to treat them as a quantity"
                )
        table_checks.check_classes(
            target_series.value_counts(), config.holdout, len(frame), config.cv_folds
        )
    elif not pd.api.types.is_numeric_dtype(target_series):
        raise TrainingError(f"regression needs a numeric target; {config.target!r} is not")
    inputs = frame.drop(columns=[config.target])
    if inputs.shape[1] == 0:
        raise TrainingError("the table has no feature columns besides the target")
    table_checks.warn_of_target_copies(inputs, target_series, notes)
    return frame, arrived, notes, task, target_series, table_checks.vet_features(inputs, notes)


def _check_registry(s3: Any, registry: RegistryLocation) -> None:
    """TrainingError now, not after the search, when the registry's bucket cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.head_bucket(Bucket=registry.bucket)
    except (BotoCoreError, ClientError) as exc:
        raise TrainingError(
            f"the registry s3://{registry.bucket} cannot be reached ({type(exc).__name__}: "
            f"{exc}); nothing was trained"
        ) from exc


#: Class labels a CSV reader would change when it reads them as numbers: leading zeros.
_CODE = re.compile(r"^[+-]?0\d")


def _with_text_labels(config: TrainingConfig, table: Any, s3: Any) -> Any:
    """``table``, its target read again as text when it is a classification target whose
    labels reading them as numbers would change ("0042" made 42, "01" and "1" one class)."""
    target = table.frame.get(config.target)
    if target is None or not pd.api.types.is_numeric_dtype(target):
        return table
    if (
        pd.api.types.is_bool_dtype(target)
        or (config.task or infer_task(target)) != "classification"
    ):
        return table
    text = read_table(config.data, s3, [config.target]).frame[config.target]
    labels = text.dropna().astype(str).str.strip().unique()
    if any(_CODE.match(label) for label in labels) or len(labels) != target.nunique():
        table.frame[config.target] = text
    return table


def run_training(config: TrainingConfig, s3: Any) -> TrainingResult:
    """Train, verify, publish and (optionally) promote one model; see the CLI's --help."""
    _check_registry(s3, config.registry)
    try:
        table = _with_text_labels(config, read_table(config.data, s3), s3)
        frame, arrived, notes, task, target_series, inputs = _prepare(config, table)
        schema = infer_schema(inputs)
    except ValueError as exc:  # TableError included: the message names the column
        raise TrainingError(str(exc)) from exc
    target = target_series.to_numpy()
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

    try:
        found = search.search(
            config.candidates,
            schema,
            task,
            x_train,
            y_train,
            folds=config.cv_folds,
            seed=config.seed,
            time_budget=config.time_budget,
            settings_per_candidate=config.settings_per_candidate,
            sample_features=_take(features, train_rows[:1]),
            progress=config.progress,
        )
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    chosen, params = found.chosen.candidate, found.chosen.params
    with quiet_convergence():
        pipeline = build_pipeline(chosen, schema, task, config.seed, params).fit(x_train, y_train)
    holdout_metrics = _evaluate(task, pipeline, x_holdout, y_holdout)
    baseline = build_baseline(task).fit(x_train, y_train)
    baseline_metrics = _evaluate(task, baseline, x_holdout, y_holdout)
    fitted_without_holdout = pipeline
    if config.refit:
        with quiet_convergence():
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

    statistics, constraints = release.baseline_documents(schema, features, served)

    # Parallel fitting helps training; parallel prediction of one row costs ~100 ms of
    # thread start-up to whoever loads model.joblib, so the artifact predicts serially.
    if "n_jobs" in pipeline.named_steps["model"].get_params():
        pipeline.set_params(model__n_jobs=None)
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    manifest = {
        "format": release.MANIFEST_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": task,
        "target": config.target,
        "id_column": config.id_column,
        "schema": schema.to_dict(),
        "classes": list(reference.classes) if reference.classes is not None else None,
        "estimator": chosen,
        "params": params,
        "metrics": {
            "primary": PRIMARY_METRIC[task][0],
            "higher_is_better": PRIMARY_METRIC[task][1],
            "cv": {"mean": found.chosen.mean, "std": found.chosen.std},
            "holdout": holdout_metrics,
            "baseline": baseline_metrics,
        },
        "candidates": _candidate_summary(task, config.candidates, found.trials),
        "search": {
            "rule": found.rule,
            "budgets": {"onnx_mib": search.MAX_ONNX_MIB, "latency_ms": search.MAX_LATENCY_MS},
            "trials": [trial.to_dict() for trial in found.trials],
        },
        "training": {
            "source": table.source,
            "rows": len(frame),
            "unlabeled_rows_dropped": notes.unlabeled_rows_dropped,
            "table": notes.to_dict(),
            "sha256": table.sha256,
            "delimiter": table.delimiter,
            "holdout_fraction": config.holdout,
            "train_rows": len(train_rows),
            "holdout_rows": len(holdout_rows),
            "cv_folds": config.cv_folds,
            "seed": config.seed,
            "refit_on_all_rows": config.refit,
        },
        "versions": release.library_versions(),
        "onnx": {
            **equivalence.to_dict(),
            "opset": onnx_export.graph_opsets(onnx_bytes),
            "bytes": len(onnx_bytes),
            "latency_ms": search.row_latency_ms(served, holdout_features),
        },
    }
    registry = ModelRegistry(s3, config.registry)
    version = new_version_id()
    # The gate and the report judge the pipeline that was fitted without the holdout (the
    # refit one has seen those rows, which would favour it).
    new_value = float(holdout_metrics[PRIMARY_METRIC[task][0]])
    comparison = release.compare_with_holder(
        registry,
        config.name,
        config.promote or "production",
        served,
        holdout_features,
        y_holdout,
        new_value,
        version,
    )
    figures = report.holdout_figures(
        task, fitted_without_holdout, x_holdout, y_holdout, config.seed
    )
    # The model card of the try-it page shows it without reading the report.
    manifest["importance"] = figures["permutation_importance"]
    document = report.report_document(
        {**manifest, "name": config.name, "version": version},
        figures,
        report.data_summary(inputs, target_series, task),
        comparison,
    )
    stored = registry.publish(
        config.name,
        manifest,
        {
            JOBLIB_ARTIFACT: buffer.getvalue(),
            ONNX_ARTIFACT: onnx_bytes,
            STATISTICS_FILE: release.json_bytes(statistics),
            CONSTRAINTS_FILE: release.json_bytes(constraints),
            report.REPORT_JSON: release.json_bytes(document),
            report.REPORT_HTML: report.render_html(document).encode(),
        },
        version=version,
    )
    result = TrainingResult(
        manifest=stored, report=registry.artifact_uri(stored, report.REPORT_HTML), notes=notes
    )
    if config.promote:
        promotion = release.promote(
            registry,
            config.name,
            config.promote,
            stored["version"],
            comparison,
            force=config.force,
            require_improvement=config.require_improvement,
        )
        result.promoted, result.promotion = promotion.promoted, promotion.message
        result.comparison = promotion.comparison
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
