"""Converting a fitted pipeline to ONNX, and proving the graph predicts what it predicts."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

from predictor.inference import Predictor
from predictor.schema import NUMERIC, Features, FeatureSchema

#: Opsets onnxruntime 1.16+ runs; ai.onnx.ml 3 keeps tree ensembles in float32, as
#: scikit-learn's forests compare features in float32 (boosting thresholds are adjusted
#: to match float64 comparisons: see floor_boosting_thresholds).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
#: Share of rows whose labels must agree for a classifier's graph to be served.
MIN_LABEL_AGREEMENT = 0.999
#: Largest difference allowed between regression outputs, relative to their scale.
MAX_RELATIVE_DIFFERENCE = 1e-3


def convert(pipeline: Any, schema: FeatureSchema, task: str) -> bytes:
    """The ONNX graph of a fitted pipeline: one input per schema column, in schema order.

    Numeric inputs are float32 and categorical ones strings, exactly what
    :meth:`predictor.schema.FeatureSchema.validate` produces. Classifiers output a
    label and a plain probability tensor (no ZipMap), in ``classes_`` order.
    """
    initial_types = [
        (c.name, FloatTensorType([None, 1]) if c.kind == NUMERIC else StringTensorType([None, 1]))
        for c in schema.columns
    ]
    options = None
    if task == "classification":
        options = {id(pipeline.steps[-1][1]): {"zipmap": False}}
    with warnings.catch_warnings():
        # skl2onnx hands protobuf Python bools for HistGradientBoosting's int attributes;
        # protobuf 6 accepts them with this warning (7 refuses, hence the pin below 7).
        warnings.filterwarnings("ignore", "Field onnx.AttributeProto.ints", DeprecationWarning)
        graph = to_onnx(
            pipeline, initial_types=initial_types, options=options, target_opset=TARGET_OPSET
        )
    floor_boosting_thresholds(graph, pipeline.steps[-1][1])
    return bytes(graph.SerializeToString())


def floor_boosting_thresholds(graph: Any, estimator: Any) -> None:
    """Make a histogram gradient boosting graph split float32 inputs as scikit-learn does.

    scikit-learn compares features with float64 thresholds (``x <= t``); the ONNX tree
    ensemble holds them as float32, rounded to the nearest. When that rounds *up*, an
    input equal to the rounded value goes left in ONNX and right in scikit-learn (found
    by the API-vs-pipeline property test: pH 3.105, a split at 3.105, a prediction
    0.01 apart). For a float32 ``x``, ``x <= t`` holds exactly when ``x`` is at most the
    largest float32 not above ``t``, so each threshold is replaced by that value (in
    place). Other estimators are left alone: scikit-learn's forests already compare in
    float32.
    """
    if not hasattr(estimator, "_predictors"):
        return
    floors: dict[tuple[int, float], float | None] = {}
    for iteration in estimator._predictors:
        for predictor in iteration:
            nodes = predictor.nodes
            splits = (nodes["is_leaf"] == 0) & (nodes["is_categorical"] == 0)
            for feature, threshold in zip(
                nodes["feature_idx"][splits], nodes["num_threshold"][splits], strict=True
            ):
                nearest = np.float32(threshold)
                floor = nearest if nearest <= threshold else np.nextafter(nearest, -np.inf)
                key = (int(feature), float(nearest))
                # Two thresholds rounding to one float32 from either side cannot be told
                # apart in the graph: that value is left as it is (None).
                if floors.setdefault(key, float(floor)) != floor:
                    floors[key] = None
    for node in graph.graph.node:
        if node.op_type not in ("TreeEnsembleRegressor", "TreeEnsembleClassifier"):
            continue
        attributes = {a.name: a for a in node.attribute}
        modes = attributes["nodes_modes"].strings
        features = attributes["nodes_featureids"].ints
        values = attributes["nodes_values"].floats
        for index, mode in enumerate(modes):
            if mode != b"BRANCH_LEQ":
                continue
            floor = floors.get((features[index], float(values[index])))
            if floor is not None:
                values[index] = floor


@dataclass(frozen=True, slots=True)
class Equivalence:
    """How closely the ONNX graph reproduces the pipeline on the same rows."""

    rows: int
    label_agreement: float | None
    max_abs_difference: float
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form stored in the manifest."""
        return {
            "rows": self.rows,
            "label_agreement": self.label_agreement,
            "max_abs_difference": self.max_abs_difference,
            "passed": self.passed,
            "reason": self.reason,
        }


def check_equivalence(
    reference: Predictor, candidate: Predictor, features: Features
) -> Equivalence:
    """Compare ``candidate`` (the ONNX graph) with ``reference`` (the pipeline) row by row.

    Classifiers pass when labels agree on at least :data:`MIN_LABEL_AGREEMENT` of the
    rows (the largest probability difference is recorded); regressors when the largest
    difference is within :data:`MAX_RELATIVE_DIFFERENCE` of the outputs' scale.
    """
    expected = reference.predict(features)
    actual = candidate.predict(features)
    rows = len(expected)
    if reference.task == "classification":
        if expected.probabilities is None or actual.probabilities is None:
            raise ValueError("a classifier's predictions must carry probabilities")
        agreement = float(np.mean(expected.values == actual.values)) if rows else 1.0
        difference = float(np.max(np.abs(expected.probabilities - actual.probabilities)))
        passed = agreement >= MIN_LABEL_AGREEMENT
        reason = (
            f"labels agree on {agreement:.4%} of {rows} rows "
            f"(need {MIN_LABEL_AGREEMENT:.1%}); largest probability difference {difference:.3g}"
        )
        return Equivalence(rows, agreement, difference, passed, reason)
    difference = float(np.max(np.abs(expected.values - actual.values))) if rows else 0.0
    scale = max(1.0, float(np.max(np.abs(expected.values)))) if rows else 1.0
    allowed = MAX_RELATIVE_DIFFERENCE * scale
    passed = bool(difference <= allowed)
    reason = f"largest difference {difference:.3g} on {rows} rows (allowed {allowed:.3g})"
    return Equivalence(rows, None, difference, passed, reason)
