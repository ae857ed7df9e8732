"""Inference: validated model input in, predictions (and class probabilities) out.

:class:`OnnxPredictor` runs the ONNX graph with onnxruntime: what the serving functions
use. The training job puts the scikit-learn pipeline behind the same
:class:`Predictor` interface (:mod:`training.joblib_predictor`) for its checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import onnxruntime as ort

from predictor.errors import IntegrityError
from predictor.schema import Features, FeatureSchema

Task = Literal["classification", "regression"]


@dataclass(frozen=True, slots=True)
class Predictions:
    """One prediction per row; for classifiers also one probability column per class."""

    values: np.ndarray
    probabilities: np.ndarray | None = None
    classes: tuple[Any, ...] | None = None

    def __len__(self) -> int:
        return len(self.values)

    def non_finite_rows(self) -> np.ndarray:
        """Rows whose prediction (or a probability) is NaN or infinite.

        A graph can overflow on accepted but extreme inputs (every feature may be as large
        as float32 allows); such a row has no prediction to give, and JSON has no NaN.
        """
        if self.probabilities is None and self.classes is not None:
            return np.empty(0, dtype=np.intp)  # labels only: nothing that could overflow
        scores = self.probabilities if self.probabilities is not None else self.values
        finite = np.isfinite(np.asarray(scores, dtype=np.float64))
        return np.flatnonzero(~finite.all(axis=1) if finite.ndim == 2 else ~finite)

    def take(self, rows: np.ndarray) -> Predictions:
        """The predictions of ``rows`` only."""
        probabilities = None if self.probabilities is None else self.probabilities[rows]
        return Predictions(self.values[rows], probabilities, self.classes)


#: Why a row whose prediction overflowed is refused.
NOT_FINITE_PREDICTION = (
    "the model's prediction is not a finite number: the row's values are far outside "
    "what the model was trained on"
)


class Predictor(Protocol):
    """Anything that turns validated features into predictions."""

    schema: FeatureSchema
    task: Task
    #: Whether predictions carry class probabilities: a classifier's do, unless it has
    #: none to give (``SVC()``, ``RidgeClassifier``: labels only).
    has_probabilities: bool

    def predict(self, features: Features) -> Predictions:
        """Predict for every row of ``features`` (as produced by the schema)."""
        ...


class OnnxPredictor:
    """Runs a model's ONNX graph; labels come from the probabilities' argmax.

    Taking the label as the first class of highest probability is scikit-learn's own
    rule, so ties break the same way as ``Pipeline.predict`` would. A classifier's graph
    with a single output (a model without ``predict_proba``) gives labels only; one whose
    ``predict`` is not that rule (``SVC(probability=True)``: labels from the decision
    function, probabilities from Platt scaling) gives the graph's own labels
    (``labels_from_graph``, the manifest's ``onnx.labels``).
    """

    def __init__(
        self,
        onnx_bytes: bytes,
        schema: FeatureSchema,
        task: Task,
        classes: Sequence[Any] | None = None,
        intra_op_threads: int = 1,
        labels_from_graph: bool = False,
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        inputs = [i.name for i in self._session.get_inputs()]
        if len(inputs) != len(schema.columns):
            raise IntegrityError(
                f"ONNX graph has {len(inputs)} inputs but the schema has "
                f"{len(schema.columns)} columns"
            )
        # skl2onnx sanitises names ("fixed acidity" -> "fixed_acidity"); inputs keep the
        # schema's order, so pair them by position.
        self._input_names = list(zip(inputs, schema.names, strict=True))
        self.schema = schema
        self.task = task
        self.has_probabilities = False
        if task == "classification":
            if not classes:
                raise IntegrityError("a classifier needs its class labels")
            self.classes: tuple[Any, ...] | None = tuple(classes)
            self._class_array = np.array(self.classes, dtype=object)
            self.has_probabilities = len(self._session.get_outputs()) > 1
            self.labels_from_graph = labels_from_graph or not self.has_probabilities
            # The graph's own labels are the labels themselves (int64 or strings).
            self._class_of = {str(c): c for c in self.classes}
            for c in self.classes:  # whose labels a graph gives as int64 (True: 1, 2.0: 2)
                if isinstance(c, bool | np.bool_) or (
                    isinstance(c, float | np.floating) and float(c).is_integer()
                ):
                    self._class_of.setdefault(str(int(c)), c)
        else:
            self.classes = None
            self.labels_from_graph = False

    def predict(self, features: Features) -> Predictions:
        """Run the graph on ``features`` (one ``(n, 1)`` array per schema column)."""
        feed = {onnx_name: features[name] for onnx_name, name in self._input_names}
        outputs = self._session.run(None, feed)
        if self.task == "regression":
            return Predictions(values=np.asarray(outputs[0], dtype=np.float64).reshape(-1))
        probabilities = np.asarray(outputs[1], dtype=np.float64) if self.has_probabilities else None
        if probabilities is not None and not self.labels_from_graph:
            values = self._class_array[np.argmax(probabilities, axis=1)]
        else:
            labels = np.asarray(outputs[0]).reshape(-1)
            values = np.array([self._class_of[str(v)] for v in labels.tolist()], dtype=object)
        return Predictions(values=values, probabilities=probabilities, classes=self.classes)
