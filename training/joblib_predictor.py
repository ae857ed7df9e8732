"""The scikit-learn pipeline behind the serving core's :class:`~predictor.inference.Predictor`.

The training job compares it with the ONNX graph on the same validated input, and the
benchmarks time it; the serving functions never load it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from predictor.inference import Predictions, Task
from predictor.schema import MISSING_CATEGORY, NUMERIC, Features, FeatureSchema
from training.sklearn_steps import missing_value_of


def features_frame(
    schema: FeatureSchema, features: Features, missing: Any = MISSING_CATEGORY
) -> pd.DataFrame:
    """The pandas DataFrame a scikit-learn pipeline takes, built from model input, a
    missing categorical value as ``missing`` (what the pipeline was fitted with)."""
    data = {}
    for spec in schema.columns:
        column = features[spec.name].reshape(-1)
        if spec.kind == NUMERIC:
            column = column.astype(np.float64)
        elif missing is not MISSING_CATEGORY:
            column = np.where(column == MISSING_CATEGORY, missing, column).astype(object)
        data[spec.name] = column
    return pd.DataFrame(data, columns=list(schema.names))


class JoblibPredictor:
    """The scikit-learn pipeline behind the same interface as ``OnnxPredictor``."""

    def __init__(self, pipeline: Any, schema: FeatureSchema, task: Task) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.task = task
        self.classes = tuple(pipeline.classes_.tolist()) if task == "classification" else None
        self.has_probabilities = task == "classification" and hasattr(pipeline, "predict_proba")
        #: A missing categorical value as the pipeline learned it (NaN unless it is one of
        #: the training job's, fitted on the functions' own missing value).
        self.missing = missing_value_of(pipeline)

    def frame(self, features: Features) -> pd.DataFrame:
        """``features`` as the pipeline takes them."""
        return features_frame(self.schema, features, self.missing)

    def predict(self, features: Features) -> Predictions:
        """Predict with the pipeline itself (``predict`` and ``predict_proba``)."""
        frame = self.frame(features)
        values = np.asarray(self.pipeline.predict(frame))
        if self.task == "regression":
            return Predictions(values=values.astype(np.float64).reshape(-1))
        if not self.has_probabilities:
            return Predictions(values=values, classes=self.classes)
        probabilities = np.asarray(self.pipeline.predict_proba(frame), dtype=np.float64)
        return Predictions(values=values, probabilities=probabilities, classes=self.classes)
