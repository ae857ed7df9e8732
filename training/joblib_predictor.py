"""The scikit-learn pipeline behind the serving core's :class:`~predictor.inference.Predictor`.

The training job compares it with the ONNX graph on the same validated input, and the
benchmarks time it; the serving functions never load it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from predictor.inference import Predictions, Task
from predictor.schema import NUMERIC, Features, FeatureSchema


def features_frame(schema: FeatureSchema, features: Features) -> pd.DataFrame:
    """The pandas DataFrame a scikit-learn pipeline takes, built from model input."""
    data = {}
    for spec in schema.columns:
        column = features[spec.name].reshape(-1)
        data[spec.name] = column.astype(np.float64) if spec.kind == NUMERIC else column
    return pd.DataFrame(data, columns=list(schema.names))


class JoblibPredictor:
    """The scikit-learn pipeline behind the same interface as ``OnnxPredictor``."""

    def __init__(self, pipeline: Any, schema: FeatureSchema, task: Task) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.task = task
        self.classes = tuple(pipeline.classes_.tolist()) if task == "classification" else None
        self.has_probabilities = task == "classification" and hasattr(pipeline, "predict_proba")

    def predict(self, features: Features) -> Predictions:
        """Predict with the pipeline itself (``predict`` and ``predict_proba``)."""
        frame = features_frame(self.schema, features)
        values = np.asarray(self.pipeline.predict(frame))
        if self.task == "regression":
            return Predictions(values=values.astype(np.float64).reshape(-1))
        if not self.has_probabilities:
            return Predictions(values=values, classes=self.classes)
        probabilities = np.asarray(self.pipeline.predict_proba(frame), dtype=np.float64)
        return Predictions(values=values, probabilities=probabilities, classes=self.classes)
