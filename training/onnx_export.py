"""Converting a fitted pipeline to ONNX, and proving the graph predicts what it predicts."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

from predictor.inference import Predictions, Predictor
from predictor.schema import NUMERIC, Features, FeatureSchema
from training.onnx_forests import compact_tree_regressors

#: Opsets onnxruntime 1.16+ runs; ai.onnx.ml 3 keeps tree ensembles in float32, as
#: scikit-learn's forests compare features in float32 (boosting thresholds are adjusted
#: to match float64 comparisons: see floor_boosting_thresholds).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
#: The largest difference allowed between a class probability of the graph and of the
#: pipeline. Both see the same float32 inputs; the graph computes in float32, whose unit
#: roundoff is 6e-8: an average of n tree votes or a softmax of k scores carries a few
#: times sqrt(n) of it (measured worst on faithful graphs: 6.3e-7, an MLP on digits).
#: A real conversion defect shows as 2e-4 (one threshold on the wrong side) to 0.5.
PROBABILITY_TOLERANCE = 1e-5
#: The largest difference allowed between regression outputs, relative to
#: max(1, largest |output|): float32 sums of hundreds of trees or terms that cancel
#: (measured worst: 3.3e-6 for a 300-tree forest on the wine data); real defects are
#: 1e-3 to 0.1 of the scale.
REGRESSION_TOLERANCE = 5e-5
#: Rows whose two most probable classes are within this of each other (by the pipeline's
#: own probabilities) are ties float32 cannot decide: their labels are counted apart.
TIE_MARGIN = 2e-5


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
    return bytes(compact_tree_regressors(graph).SerializeToString())


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


def graph_opsets(graph: bytes) -> dict[str, int]:
    """The opsets a serialised graph imports (``ai.onnx.ml`` 5 once its forest regressors
    are in v5 form, or its boosting has categorical splits), by domain ("" is ONNX's own)."""
    model = onnx.load_from_string(graph)
    return {opset.domain: int(opset.version) for opset in model.opset_import}


@dataclass(frozen=True, slots=True)
class Equivalence:
    """How closely the ONNX graph reproduces the pipeline on the same rows."""

    rows: int
    label_agreement: float | None
    max_abs_difference: float
    passed: bool
    reason: str
    #: Rows whose labels differ where the pipeline itself is at a tie (not failures).
    tied_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form stored in the manifest."""
        return {
            "rows": self.rows,
            "label_agreement": self.label_agreement,
            "max_abs_difference": self.max_abs_difference,
            "tied_rows": self.tied_rows,
            "passed": self.passed,
            "reason": self.reason,
        }


def check_equivalence(
    reference: Predictor,
    candidate: Predictor,
    features: Features,
    tie_margins: np.ndarray | None = None,
) -> Equivalence:
    """Compare ``candidate`` (the ONNX graph) with ``reference`` (the pipeline) row by row.

    A classifier passes when every label agrees, but on rows the pipeline itself scores
    as a tie (its two best classes within :data:`TIE_MARGIN`, by its probabilities or by
    ``tie_margins`` for a model without them), and every probability is within
    :data:`PROBABILITY_TOLERANCE`; a regressor when every output is within
    :data:`REGRESSION_TOLERANCE` of the outputs' scale.
    """
    expected = reference.predict(features)
    actual = candidate.predict(features)
    rows = len(expected)
    if reference.task == "classification":
        return _classifier_equivalence(expected, actual, tie_margins)
    difference = float(np.max(np.abs(expected.values - actual.values))) if rows else 0.0
    scale = max(1.0, float(np.max(np.abs(expected.values)))) if rows else 1.0
    allowed = REGRESSION_TOLERANCE * scale
    passed = bool(difference <= allowed)
    reason = f"largest difference {difference:.3g} on {rows} rows (allowed {allowed:.3g})"
    return Equivalence(rows, None, difference, passed, reason)


def _classifier_equivalence(
    expected: Predictions, actual: Predictions, tie_margins: np.ndarray | None
) -> Equivalence:
    rows = len(expected)
    if (expected.probabilities is None) != (actual.probabilities is None):
        raise ValueError("the graph and the pipeline must both give probabilities, or neither")
    differs = np.asarray(expected.values != actual.values, dtype=bool)
    difference = 0.0
    if expected.probabilities is not None and actual.probabilities is not None:
        if rows:
            difference = float(np.max(np.abs(expected.probabilities - actual.probabilities)))
        ordered = np.sort(expected.probabilities, axis=1)
        tie_margins = ordered[:, -1] - ordered[:, -2] if ordered.shape[1] > 1 else None
    tied = (
        differs & (tie_margins <= TIE_MARGIN) if tie_margins is not None else np.zeros(rows, bool)
    )
    wrong = int((differs & ~tied).sum())
    agreement = float(1 - differs.mean()) if rows else 1.0
    passed = wrong == 0 and difference <= PROBABILITY_TOLERANCE
    reason = f"labels differ on {wrong} of {rows} rows" + (
        f" (and on {int(tied.sum())} tie(s) float32 cannot decide)" if tied.any() else ""
    )
    if expected.probabilities is not None:
        reason += (
            f"; largest probability difference {difference:.3g} (allowed {PROBABILITY_TOLERANCE:g})"
        )
    return Equivalence(rows, agreement, difference, passed, reason, int(tied.sum()))
