"""The candidate pipelines the training job chooses between, and their metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from predictor.inference import Task
from predictor.schema import NUMERIC, FeatureSchema

CANDIDATES = ("linear", "random_forest", "hist_gradient_boosting")

#: The metric that selects and promotes models, and whether higher is better.
PRIMARY_METRIC: dict[str, tuple[str, bool]] = {
    "regression": ("mse", False),
    "classification": ("accuracy", True),
}
#: The same metric as scikit-learn's cross-validation scorer names it.
CV_SCORING = {"regression": "neg_mean_squared_error", "classification": "accuracy"}

# A forest's ONNX graph grows with its leaves; capping them keeps the served artifact
# small (about 20 MB at most) and quick to load, at no cost on tables of a few thousand rows.
_FOREST_TREES = 300
_FOREST_MAX_LEAVES = 1000


def _estimator(kind: str, task: Task, seed: int) -> Any:
    classify = task == "classification"
    if kind == "linear":
        if classify:
            return LogisticRegression(max_iter=5000)
        return RidgeCV(alphas=np.logspace(-3, 3, 13))
    if kind == "random_forest":
        forest = RandomForestClassifier if classify else RandomForestRegressor
        return forest(
            n_estimators=_FOREST_TREES,
            max_leaf_nodes=_FOREST_MAX_LEAVES,
            n_jobs=-1,
            random_state=seed,
        )
    if kind == "hist_gradient_boosting":
        boosting = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return boosting(random_state=seed)
    raise ValueError(f"unknown candidate {kind!r}; choose from {', '.join(CANDIDATES)}")


def build_pipeline(kind: str, schema: FeatureSchema, task: Task, seed: int = 0) -> Pipeline:
    """An unfitted pipeline: impute (+ scale for linear models) numerics, one-hot categories.

    Trees get unscaled numerics: they do not need scaling, and unscaled float32 inputs
    make the ONNX graph's tree decisions identical to scikit-learn's (for boosting, once
    :func:`training.onnx_export.floor_boosting_thresholds` has adjusted the graph). Categorical
    columns arrive as strings with missing values already replaced by a sentinel
    category (see :mod:`predictor.schema`), which converts to ONNX where a string
    imputer would not; unknown categories are ignored.
    """
    numeric = [c.name for c in schema.columns if c.kind == NUMERIC]
    categorical = [c.name for c in schema.columns if c.kind != NUMERIC]
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if kind == "linear":
        numeric_steps.append(("scale", StandardScaler()))
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), numeric))
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        transformers.append(("categorical", encoder, categorical))
    return Pipeline(
        [("prepare", ColumnTransformer(transformers)), ("model", _estimator(kind, task, seed))]
    )


def build_baseline(task: Task) -> Any:
    """The dummy model every candidate must beat: the mean, or the class priors."""
    return DummyClassifier(strategy="prior") if task == "classification" else DummyRegressor()


def score(
    task: Task,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probabilities: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
) -> dict[str, float]:
    """Holdout metrics: MSE, RMSE, MAE, R²; or accuracy, balanced accuracy, F1, log loss."""
    if task == "regression":
        mse = float(metrics.mean_squared_error(y_true, y_pred))
        return {
            "mse": mse,
            "rmse": mse**0.5,
            "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
            "r2": float(metrics.r2_score(y_true, y_pred)),
        }
    result = {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y_true, y_pred)),
        "f1_macro": float(metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }
    if probabilities is not None and classes is not None:
        result["log_loss"] = float(metrics.log_loss(y_true, probabilities, labels=list(classes)))
    return result


def is_not_worse(task: Task, new: float, current: float) -> bool:
    """Whether ``new`` is at least as good as ``current`` on the primary metric."""
    _, higher_is_better = PRIMARY_METRIC[task]
    return new >= current if higher_is_better else new <= current
