"""Inference: validated model input in, predictions (and class probabilities) out.

:class:`OnnxPredictor` runs the ONNX graph with onnxruntime and is what the serving
functions use. :class:`JoblibPredictor` has the same interface over the scikit-learn
pipeline, for the training job's equivalence check; it imports pandas on first use so
the serving path never does.
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


class Predictor(Protocol):
    """Anything that turns validated features into predictions."""

    schema: FeatureSchema
    task: Task

    def predict(self, features: Features) -> Predictions:
        """Predict for every row of ``features`` (as produced by the schema)."""
        ...


class OnnxPredictor:
    """Runs a model's ONNX graph; labels come from the probabilities' argmax.

    Taking the label as the first class of highest probability is scikit-learn's own
    rule, so ties break the same way as ``Pipeline.predict`` would.
    """

    def __init__(
        self,
        onnx_bytes: bytes,
        schema: FeatureSchema,
        task: Task,
        classes: Sequence[Any] | None = None,
        intra_op_threads: int = 1,
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
        if task == "classification":
            if not classes:
                raise IntegrityError("a classifier needs its class labels")
            self.classes: tuple[Any, ...] | None = tuple(classes)
            self._class_array = np.array(self.classes, dtype=object)
        else:
            self.classes = None

    def predict(self, features: Features) -> Predictions:
        """Run the graph on ``features`` (one ``(n, 1)`` array per schema column)."""
        feed = {onnx_name: features[name] for onnx_name, name in self._input_names}
        outputs = self._session.run(None, feed)
        if self.task == "regression":
            return Predictions(values=np.asarray(outputs[0], dtype=np.float64).reshape(-1))
        probabilities = np.asarray(outputs[1], dtype=np.float64)
        labels = self._class_array[np.argmax(probabilities, axis=1)]
        return Predictions(values=labels, probabilities=probabilities, classes=self.classes)


def features_frame(schema: FeatureSchema, features: Features) -> Any:
    """The pandas DataFrame a scikit-learn pipeline takes, built from model input."""
    import pandas as pd

    data = {}
    for spec in schema.columns:
        column = features[spec.name].reshape(-1)
        data[spec.name] = column.astype(np.float64) if spec.kind == "numeric" else column
    return pd.DataFrame(data, columns=list(schema.names))


class JoblibPredictor:
    """The scikit-learn pipeline behind the same interface as :class:`OnnxPredictor`."""

    def __init__(self, pipeline: Any, schema: FeatureSchema, task: Task) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.task = task
        self.classes = tuple(pipeline.classes_.tolist()) if task == "classification" else None

    def predict(self, features: Features) -> Predictions:
        """Predict with the pipeline itself (``predict`` and ``predict_proba``)."""
        frame = features_frame(self.schema, features)
        values = np.asarray(self.pipeline.predict(frame))
        if self.task == "regression":
            return Predictions(values=values.astype(np.float64).reshape(-1))
        probabilities = np.asarray(self.pipeline.predict_proba(frame), dtype=np.float64)
        return Predictions(values=values, probabilities=probabilities, classes=self.classes)
