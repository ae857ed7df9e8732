"""Publish a model fitted elsewhere (a notebook, a tutorial, MLflow) so the functions serve it.

In Python::

    from training.publish import publish_model
    publish_model(pipeline, sample_frame, name="churn", registry="s3://my-model-bucket",
                  target="churned", promote="production")

From a terminal: ``python -m training.registry_cli --registry s3://... publish NAME MODEL
--sample CSV [--target COL] [--promote ALIAS] [--force]``.

The sample is rows of the model's input (a few hundred are plenty; with ``target``, the
labelled rows also give holdout metrics, a report and the promotion gate's comparison).
Its columns give the schema, cross-checked with the model's ``feature_names_in_`` (a
model fitted on an array takes the sample's header as its column names). The model is
converted to ONNX and the graph must answer as the model does on every sample row
(:mod:`training.conversion`), or nothing is published. The version then has what a
trained version has: the pipeline (``model.joblib``), the graph, a manifest (which says it
was published, from which file, by which library versions), the monitoring baseline, and
with labels a report; the promotion gate works as for trained versions.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import joblib
import numpy as np
import pandas as pd

from predictor.models.registry import JOBLIB_ARTIFACT, ONNX_ARTIFACT, check_name
from predictor.profiling.baseline import CONSTRAINTS_FILE, STATISTICS_FILE
from predictor.schema import CATEGORICAL, NUMERIC, ColumnSpec, Features, FeatureSchema
from predictor.settings import RegistryLocation
from training import conversion, onnx_export, release, report
from training.conversion import ConversionRefused
from training.joblib_predictor import JoblibPredictor
from training.onnx_export import check_equivalence
from training.pipelines import PRIMARY_METRIC, build_baseline, score
from training.registry_admin import ModelRegistry, new_version_id
from training.schema_inference import features_from_frame, infer_schema
from training.search import row_latency_ms
from training.sklearn_steps import columns_read, encoded_columns, unfitted_reason
from training.table_checks import TableError, check_header

#: The fewest sample rows the parity check and the baseline are made from.
MIN_SAMPLE_ROWS = 10


class PublishError(Exception):
    """The model cannot be published as it is; the message says why and what to do."""


@dataclass(slots=True)
class PublishResult:
    """What was published, and what happened to the alias."""

    manifest: dict[str, Any]
    promoted: bool = False
    promotion: str = "not requested"
    report: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines a person reads after publishing."""
        m = self.manifest
        metrics = m["metrics"]
        holdout = ", ".join(f"{k} {v:.4f}" for k, v in metrics["holdout"].items())
        lines = [
            f"model      {m['name']} version {m['version']} ({m['task']}, {m['estimator']})",
            f"from       {m['source']['file']} ({m['source']['format']})",
            f"onnx       {m['onnx']['graph']}: {m['onnx']['reason']}",
            f"metrics    {holdout or 'none (publish with --target for holdout metrics)'}",
            *(f"note       {note}" for note in self.notes),
            f"promotion  {self.promotion}",
        ]
        if self.report:
            lines.append(f"report     {self.report}")
        return "\n".join(lines)


def publish_model(
    model: Any,
    sample: pd.DataFrame,
    *,
    name: str,
    registry: str | RegistryLocation | ModelRegistry,
    target: str | None = None,
    promote: str | None = None,
    force: bool = False,
    baseline: pd.DataFrame | None = None,
    s3: Any = None,
    source: dict[str, Any] | None = None,
    signature: dict[str, str] | None = None,
    id_column: str | None = None,
) -> PublishResult:
    """Convert ``model``, prove the graph on ``sample``, publish it (and maybe promote it).

    ``registry`` is ``s3://bucket[/prefix]`` (or a location, or a registry); ``s3`` an S3
    client (default: boto3's). ``baseline``: rows to monitor drift against (default: the
    sample). ``id_column``: the sample's column that names each row, not a model input
    (batch outputs carry its value as the row's inference id). Raises PublishError, with
    the reason, when nothing can be published.
    """
    try:
        check_name(name, "model name")
    except ValueError as exc:
        raise PublishError(str(exc)) from exc
    unfitted = unfitted_reason(model)
    if unfitted is not None:
        raise PublishError(f"not published: {unfitted}")
    registry = _registry(registry, s3)
    if id_column is not None:
        sample = _without_id_column(model, sample, id_column)
        baseline = _without_id_column(model, baseline, id_column) if baseline is not None else None
    inputs, labels = _split_sample(model, sample, target, signature)
    schema = _schema(model, inputs)
    features = features_from_frame(schema, inputs)
    try:
        prepared = conversion.prepare(model, inputs)
        task = prepared.task
        classes = tuple(model.classes_.tolist()) if task == "classification" else None
        if labels is not None and classes is not None:
            _check_labels(labels, classes, str(target))
        converted = conversion.convert(prepared, model, schema, classes, features, inputs)
    except ConversionRefused as exc:
        reason = _input_type_reason(model, inputs)
        if reason is not None:
            raise PublishError(f"not published: {reason} (the converter: {exc})") from exc
        raise PublishError(f"not published: {exc}") from exc
    served = converted.served
    notes = [*prepared.notes]
    unread = [str(c) for c in getattr(model, "feature_names_in_", ()) if c not in inputs.columns]
    if unread:
        notes.append(
            f"the model reads {len(inputs.columns)} of the {len(inputs.columns) + len(unread)} "
            f"columns it was fitted on: its column transformer drops {', '.join(unread)}, so "
            "requests and batch files need not carry them (sent, they are ignored)"
        )
    schema = _unknown_categories_checked(model, schema, served, features, notes)
    if converted.float32_sensitive_rows:
        notes.append(
            f"on {converted.float32_sensitive_rows} sample row(s) scikit-learn itself answers "
            "otherwise once the numbers are rounded to float32, as the functions receive them; "
            "the graph gives the rounded answer"
        )
    metric, higher_is_better = PRIMARY_METRIC[task]
    metrics: dict[str, Any] = {
        "primary": metric,
        "higher_is_better": higher_is_better,
        "holdout": {},
        "baseline": {},
        "cv": None,
        "labelled_rows": 0,
    }
    labelled = labels is not None
    if labels is not None:
        metrics.update(_labelled_metrics(task, served, features, labels, classes))
    monitored = inputs if baseline is None else _baseline_rows(baseline, schema)
    statistics, constraints = release.baseline_documents(
        schema, features_from_frame(schema, monitored), served
    )
    version = new_version_id()
    manifest: dict[str, Any] = {
        "format": release.MANIFEST_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": task,
        "target": target,
        "id_column": id_column,
        "schema": schema.to_dict(),
        "classes": list(classes) if classes is not None else None,
        "estimator": describe(model),
        "params": {},
        "metrics": metrics,
        "source": {
            "published": True,
            "file": "a Python object",
            "format": "in memory",
            **(source or {}),
            "sklearn_version": _fitted_with(model) or (source or {}).get("sklearn_version"),
            "dropped_steps": prepared.dropped_steps,
        },
        "training": {
            "source": "published",
            "rows": len(inputs),
            "labelled_rows": metrics["labelled_rows"],
            "sha256": hashlib.sha256(inputs.to_csv(index=False).encode()).hexdigest(),
            "baseline_rows": len(monitored),
        },
        "versions": release.library_versions(),
        "probabilities": served.has_probabilities,
        "onnx": {
            **converted.equivalence.to_dict(),
            "graph": converted.graph,
            "tried": converted.tried,
            "float32_sensitive_rows": converted.float32_sensitive_rows,
            # a classifier's labels: the graph's own, or the class of highest probability
            **({"labels": "graph"} if served.labels_from_graph else {}),
            "opset": onnx_export.graph_opsets(converted.onnx_bytes),
            "bytes": len(converted.onnx_bytes),
            "latency_ms": row_latency_ms(served, features),
        },
    }
    comparison = release.compare_with_holder(
        registry,
        name,
        promote or "production",
        served,
        features if labelled else {},
        labels.to_numpy() if labels is not None else None,
        metrics["holdout"].get(metric),
        version,
    )
    artifacts = {
        JOBLIB_ARTIFACT: _joblib_bytes(model),
        ONNX_ARTIFACT: converted.onnx_bytes,
        STATISTICS_FILE: release.json_bytes(statistics),
        CONSTRAINTS_FILE: release.json_bytes(constraints),
    }
    if labels is not None:
        figures = report.holdout_figures(
            task, conversion.reference_model(model), inputs, labels.to_numpy(), seed=0
        )
        manifest["importance"] = figures["permutation_importance"]
        document = report.report_document(
            {**manifest, "name": name, "version": version},
            figures,
            report.data_summary(inputs, labels, task),
            comparison,
        )
        artifacts[report.REPORT_JSON] = release.json_bytes(document)
        artifacts[report.REPORT_HTML] = report.render_html(document).encode()
    stored = registry.publish(name, manifest, artifacts, version=version)
    result = PublishResult(stored, notes=notes)
    if labels is not None:
        result.report = registry.artifact_uri(stored, report.REPORT_HTML)
    if promote:
        promotion = release.promote(registry, name, promote, version, comparison, force=force)
        result.promoted, result.promotion = promotion.promoted, promotion.message
    return result


def describe(model: Any) -> str:
    """The model as a person names it: ``Pipeline(StandardScaler > LogisticRegression)``."""
    if hasattr(model, "steps"):
        inner = " > ".join(describe(step) for _, step in model.steps if step != "passthrough")
        return f"{type(model).__name__}({inner})"
    return type(model).__name__


def _registry(registry: str | RegistryLocation | ModelRegistry, s3: Any) -> ModelRegistry:
    if isinstance(registry, ModelRegistry):
        return registry
    location = registry if isinstance(registry, RegistryLocation) else None
    if location is None:
        try:
            location = RegistryLocation.from_uri(str(registry))
        except ValueError as exc:
            raise PublishError(str(exc)) from exc
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    return ModelRegistry(s3, location)


def _without_id_column(model: Any, frame: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """``frame`` without the id column, which must be there and must not be a model input."""
    if id_column not in frame.columns:
        raise PublishError(f"--id-column {id_column!r} is not a column of the sample")
    names = [str(c) for c in getattr(model, "feature_names_in_", [])]
    # a column the model's column transformer drops is no input of the model's
    if id_column in (columns_read(model, names) or names):
        raise PublishError(f"--id-column {id_column!r} is one of the model's inputs")
    return frame.drop(columns=[id_column])


def _split_sample(
    model: Any, sample: pd.DataFrame, target: str | None, signature: dict[str, str] | None
) -> tuple[pd.DataFrame, pd.Series | None]:
    """The sample's input columns, in the model's order, and its labels (if any)."""
    if not isinstance(sample, pd.DataFrame):
        raise PublishError("the sample must be a pandas DataFrame of the model's input rows")
    frame = sample.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    try:
        check_header(list(frame.columns), "the sample")
    except TableError as exc:
        raise PublishError(str(exc)) from exc
    labels = None
    if target is not None:
        if target not in frame.columns:
            raise PublishError(
                f"target column {target!r} is not in the sample; its columns are: "
                + ", ".join(frame.columns)
            )
        labelled = frame[target].notna()
        if not labelled.any():
            raise PublishError(f"the sample's target column {target!r} has no values")
        frame = frame[labelled].reset_index(drop=True)
        labels = frame.pop(target)
    expected = getattr(model, "feature_names_in_", None)
    if expected is not None:
        fitted_on = [str(c) for c in expected]
        # the columns its column transformer drops are not asked for (scikit-learn
        # predicts without them); the schema, the graph and the gate have the rest
        expected = columns_read(model, fitted_on) or fitted_on
        if signature is not None:  # an MLflow signature names every column it was fitted on
            signature = {k: v for k, v in signature.items() if k in expected or k not in fitted_on}
        missing = [c for c in expected if c not in frame.columns]
        if missing:
            raise PublishError(
                "the sample lacks column(s) the model was fitted on: " + ", ".join(missing)
            )
        frame = frame[expected]
    else:
        width = getattr(model, "n_features_in_", None)
        if width is not None and frame.shape[1] != width:
            raise PublishError(
                f"the model was fitted on an array of {width} columns without names; the "
                f"sample has {frame.shape[1]} input column(s): give exactly its input columns, "
                "in the order it was fitted on, under a header that names them"
                + (" (and the target with --target)" if target is None else "")
            )
    if signature is not None:
        frame = _apply_signature(frame, signature)
    if len(frame) < MIN_SAMPLE_ROWS:
        raise PublishError(
            f"the sample has {len(frame)} row(s); at least {MIN_SAMPLE_ROWS} are needed to "
            "prove the ONNX graph (a few hundred are better)"
        )
    return frame.reset_index(drop=True), labels


def _apply_signature(frame: pd.DataFrame, signature: dict[str, str]) -> pd.DataFrame:
    """The sample checked against an MLflow signature: the same columns, text read as text."""
    if set(signature) != set(frame.columns):
        only_signature = sorted(set(signature) - set(frame.columns))
        only_sample = sorted(set(frame.columns) - set(signature))
        raise PublishError(
            "the sample's columns differ from the MLflow signature's: "
            + (f"signature only: {', '.join(only_signature)}; " if only_signature else "")
            + (f"sample only: {', '.join(only_sample)}" if only_sample else "")
        )
    for name, kind in signature.items():
        numeric = pd.api.types.is_numeric_dtype(frame[name])
        if kind == CATEGORICAL and numeric:
            frame[name] = frame[name].astype(str).where(frame[name].notna())
        elif kind != CATEGORICAL and not numeric:
            raise PublishError(
                f"column {name!r} is a number in the MLflow signature but text in the sample"
            )
    return frame


def _schema(model: Any, inputs: pd.DataFrame) -> FeatureSchema:
    """The sample's schema, each categorical column's categories completed from the
    model's own encoders (the sample may not show every category the model knows), with
    how the encoder answers a missing value and an unknown category."""
    try:
        schema = infer_schema(inputs)
    except ValueError as exc:
        raise PublishError(str(exc)) from exc
    encoded = encoded_columns(model, [str(c) for c in inputs.columns])
    columns = []
    for spec in schema.columns:
        column = encoded.get(spec.name)
        if column is not None and spec.kind == CATEGORICAL:
            spec = ColumnSpec(
                spec.name,
                spec.kind,
                spec.dtype,
                spec.nullable or column.learned_missing,
                categories=tuple(sorted({*(spec.categories or ()), *column.categories})),
                refuses_unknown=column.refuses_unknown,
                unknown_as=column.unknown_as,
            )
        elif column is not None and spec.kind == NUMERIC and column.values:
            # one-hot encoded numbers: the graph casts them to integers (3.5 would be 3)
            spec = replace(
                spec,
                encoded_values=tuple(column.values),
                refuses_unknown=column.refuses_unknown,
                unknown_as=column.unknown_as,
            )
        columns.append(spec)
    return FeatureSchema(columns)


def text_columns(
    model: Any, frame: pd.DataFrame, target: str | None = None, id_column: str | None = None
) -> list[str]:
    """``frame``'s columns read as numbers or True/False whose encoder in ``model``
    learned text (zip codes), and the target when the model's classes are text: a CSV
    sample is read again with them as text."""
    inputs = [str(c) for c in frame.columns if str(c) not in (target, id_column)]
    encoded = encoded_columns(model, inputs)
    texts = [
        str(column)
        for column in frame.columns
        if str(column) in encoded
        and encoded[str(column)].learned_text
        and not pd.api.types.is_object_dtype(frame[column])
    ]
    classes = getattr(model, "classes_", None)
    text_classes = classes is not None and any(isinstance(c, str) for c in classes)
    if target is not None and target in frame.columns and text_classes:
        texts.append(target)
    return texts


def _same_label(label: Any, cls: Any) -> bool:
    """Whether ``label`` is the class ``cls`` written as another type ("1" and 1, 1 and 1.0)."""
    if str(label) == str(cls):
        return True
    try:
        return float(label) == float(cls)
    except (TypeError, ValueError):
        return False


def _check_labels(labels: pd.Series, classes: tuple[Any, ...], target: str) -> None:
    """Raises PublishError when the sample's labels are not among the model's classes
    (a CSV's "1" read as the number 1 where the model learned the text "1", say)."""
    known = set(classes)
    strange = [label for label in labels.unique() if label not in known]
    if not strange:
        return
    shown = ", ".join(
        repr(label.item() if hasattr(label, "item") else label) for label in strange[:5]
    )
    if any(_same_label(label, c) for label in strange for c in classes):
        # the same labels, typed otherwise: say which way, as the classes are
        if any(isinstance(c, str) for c in classes):
            advice = (
                "Give the labels as the model was fitted on them, as text "
                f"(pandas.read_csv(..., dtype={{{target!r}: str}}))"
            )
        else:
            advice = (
                "Give the labels as the model was fitted on them, as numbers "
                f"(pandas.to_numeric(sample[{target!r}]))"
            )
    else:  # a class it never learned, not a text/number mix-up
        rows = int(labels.isin(strange).sum())
        one = len(strange) == 1
        advice = (
            f"The model never learned {'that class' if one else 'those classes'} "
            f"({rows} sample row(s)), so it can never predict {'it' if one else 'them'}: leave "
            "those rows out of the sample, or refit the model on data that has them"
        )
    raise PublishError(
        f"not published: the target column {target!r} holds label(s) the model does not know "
        f"({shown}{', ...' if len(strange) > 5 else ''}); its classes are "
        f"{', '.join(repr(c) for c in classes[:10])}{', ...' if len(classes) > 10 else ''}. "
        + advice
    )


#: What a category no model learned is called when the graph is asked about one.
_UNSEEN = "__unseen category__"
#: Sample rows each column's unknown category is tried on.
_UNSEEN_ROWS = 50


def _unknown_categories_checked(
    model: Any, schema: FeatureSchema, served: Any, features: Features, notes: list[str]
) -> FeatureSchema:
    """``schema`` with an unknown value refused (422) in each column where the graph
    answers one otherwise than scikit-learn does (an ordinal encoder's NaN for it, routed
    down another branch of a tree), each named in ``notes``: an unknown category of a
    categorical column; for a numeric column an encoder takes, a value it did not learn
    (the learned ones are kept in the schema). Columns whose unknown values are refused
    or rewritten already are left as they are."""
    reference = JoblibPredictor(conversion.reference_model(model), schema, served.task)
    encoded = encoded_columns(model, list(schema.names))
    rows = {name: values[:_UNSEEN_ROWS] for name, values in features.items()}
    columns = []
    for spec in schema.columns:
        # a one-hot encoded number has its own rule already (spec.encoded_values)
        numeric = spec.kind == NUMERIC and spec.encoded_values is None
        learned = _learned_numbers(encoded.get(spec.name)) if numeric else None
        if (
            (spec.kind != CATEGORICAL and not learned)
            or spec.refuses_unknown
            or spec.unknown_as is not None
        ):
            columns.append(spec)
            continue
        differs = _answers_otherwise(reference, served, rows, spec.name, learned)
        if differs is None:
            columns.append(spec)
            continue
        refused = replace(spec, refuses_unknown=True)
        if learned:
            refused = replace(refused, encoded_values=tuple(learned))
        columns.append(refused)
        what = "a value its encoder did not learn" if learned else "an unknown category"
        notes.append(
            f"{what} in {spec.name!r} is refused (422, a bad row in batch): the graph answers "
            f"one otherwise than scikit-learn ({differs})"
        )
    return FeatureSchema(columns)


def _learned_numbers(column: Any) -> list[float] | None:
    """The numbers an encoder learned for a numeric column (None when it learned text)."""
    if column is None or column.learned_text:
        return None
    try:
        return sorted(float(c) for c in column.categories)
    except ValueError:
        return None


def _answers_otherwise(
    reference: Any,
    served: Any,
    rows: Features,
    column: str,
    learned: list[float] | None,
) -> str | None:
    """How the graph answers otherwise than scikit-learn on ``rows`` with ``column`` made
    a value no encoder learned (a category, or for numbers one above them and one
    between); None when both answer alike."""
    if learned:
        outside = np.where(np.arange(len(rows[column])) % 2, learned[-1] + 1, learned[0] + 0.5)
        unseen = {**rows, column: outside.astype(np.float32).reshape(-1, 1)}
    else:
        unseen = {**rows, column: np.full_like(rows[column], _UNSEEN)}
    try:
        reference.predict(unseen)
    except Exception as exc:  # scikit-learn raises on it: refused as it refuses
        return f"scikit-learn raises {type(exc).__name__}"
    try:
        verdict = check_equivalence(reference, served, unseen)
    except Exception as exc:
        return f"the graph fails: {type(exc).__name__}"
    return None if verdict.passed else verdict.reason


def _input_type_reason(model: Any, inputs: pd.DataFrame) -> str | None:
    """Why a graph may have been refused its inputs: True/False columns (scikit-learn
    reads them as 1/0, or its encoder as booleans; a graph as text), or numbers in a
    column whose encoder learned text (a CSV's zip codes); None when there are none."""
    encoded = encoded_columns(model, [str(c) for c in inputs.columns])
    booleans: list[str] = []
    encoded_booleans: list[str] = []
    numbers: list[str] = []
    for column in inputs.columns:
        kind, name = inputs[column].dtype, str(column)
        if pd.api.types.is_bool_dtype(kind):
            (encoded_booleans if name in encoded else booleans).append(repr(name))
        elif pd.api.types.is_numeric_dtype(kind) and name in encoded and encoded[name].learned_text:
            numbers.append(repr(name))
    reasons = []
    if booleans:
        reasons.append(
            f"column(s) {', '.join(booleans)} hold True/False, which scikit-learn reads as 1/0 "
            "and a graph would take as text: publish with a sample holding them as 0/1 "
            "integers (sample[column] = sample[column].astype(int); the fitted model answers "
            "the same) and send 0/1"
        )
    if encoded_booleans:
        reasons.append(
            f"column(s) {', '.join(encoded_booleans)} hold True/False, which the model's "
            'encoder learned as booleans and the functions send as text ("True"): refit '
            "with the column(s) as text (frame[column] = frame[column].astype(str)) and "
            "publish that model"
        )
    if numbers:
        reasons.append(
            f"column(s) {', '.join(numbers)} hold numbers in the sample where the model's "
            "encoder learned text: read them as text (pandas.read_csv(..., dtype={column: "
            "str}) keeps a zip code's leading zeros)"
        )
    return "; ".join(reasons) or None


def _labelled_metrics(
    task: str,
    served: Any,
    features: Any,
    labels: pd.Series,
    classes: tuple[Any, ...] | None,
) -> dict[str, Any]:
    """The served graph's metrics on the labelled rows, beside a dummy's on the same rows."""
    truth = labels.to_numpy()
    predicted = served.predict(features)
    values = predicted.values
    if task == "classification":
        values = np.asarray(values).astype(truth.dtype)
    holdout = score(task, truth, values, predicted.probabilities, classes)  # type: ignore[arg-type]
    dummy = build_baseline(task).fit(np.zeros((len(truth), 1)), truth)  # type: ignore[arg-type]
    zeros = np.zeros((len(truth), 1))
    probabilities = dummy.predict_proba(zeros) if task == "classification" else None
    baseline = score(task, truth, dummy.predict(zeros), probabilities, classes)  # type: ignore[arg-type]
    return {
        "holdout": holdout,
        "baseline": baseline,
        "labelled_rows": len(truth),
        "note": "measured on the labelled sample rows; the dummy is fitted on the same rows",
    }


def _baseline_rows(baseline: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    frame = baseline.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [n for n in schema.names if n not in frame.columns]
    if missing:
        raise PublishError("the baseline rows lack column(s): " + ", ".join(missing))
    return frame[list(schema.names)]


def _fitted_with(model: Any) -> str | None:
    """The scikit-learn version that pickled the model, when it says (scikit-learn >= 1.3)."""
    state = getattr(model, "__getstate__", None)
    if state is None:
        return None
    try:
        value = state().get("_sklearn_version")
    except Exception:
        return None
    return str(value) if value else None


def _joblib_bytes(model: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


__all__ = ["PublishError", "PublishResult", "describe", "publish_model"]
