import numpy as np
import pandas as pd
import pytest

from predictor.inference import OnnxPredictor
from training.joblib_predictor import JoblibPredictor, features_frame
from training.onnx_export import check_equivalence, convert
from training.pipelines import CANDIDATES, build_pipeline
from training.schema_inference import features_from_frame, infer_schema


def mixed_frame(n: int = 600) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "size": rng.normal(10, 3, n),
            "weight": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n).astype(object),
        }
    )
    frame.loc[rng.random(n) < 0.1, "size"] = np.nan
    frame.loc[rng.random(n) < 0.1, "colour"] = None
    score = frame["weight"] + (frame["colour"] == "red") + rng.normal(0, 0.3, n)
    return frame, score.to_numpy()


@pytest.mark.parametrize("kind", CANDIDATES)
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_candidate_converts_and_agrees(kind: str, task: str) -> None:
    frame, score = mixed_frame()
    target = np.where(score > 0.5, "yes", "no") if task == "classification" else score
    schema = infer_schema(frame)
    features = features_from_frame(schema, frame)
    pipeline = build_pipeline(kind, schema, task).fit(features_frame(schema, features), target)
    reference = JoblibPredictor(pipeline, schema, task)
    served = OnnxPredictor(convert(pipeline, schema, task), schema, task, reference.classes)
    result = check_equivalence(reference, served, features)
    assert result.passed, result.reason
    if task == "classification":
        assert result.label_agreement == 1.0
        assert result.max_abs_difference < 1e-5
    elif kind != "linear":
        # Unscaled float32 numerics: the trees take the very same branches.
        assert result.max_abs_difference < 1e-4


def test_a_graph_of_another_model_fails_the_check() -> None:
    frame, score = mixed_frame()
    schema = infer_schema(frame)
    features = features_from_frame(schema, frame)
    x = features_frame(schema, features)
    fitted = build_pipeline("linear", schema, "regression").fit(x, score)
    other = build_pipeline("linear", schema, "regression").fit(x, score * 3 + 1)
    served = OnnxPredictor(convert(other, schema, "regression"), schema, "regression")
    result = check_equivalence(JoblibPredictor(fitted, schema, "regression"), served, features)
    assert not result.passed
    assert "largest difference" in result.reason


def test_classifier_labels_disagreeing_fail_the_check() -> None:
    frame, score = mixed_frame()
    schema = infer_schema(frame)
    features = features_from_frame(schema, frame)
    x = features_frame(schema, features)
    labels = np.where(score > 0.5, "yes", "no")
    fitted = build_pipeline("linear", schema, "classification").fit(x, labels)
    flipped = build_pipeline("linear", schema, "classification").fit(x, labels[::-1].copy())
    served = OnnxPredictor(
        convert(flipped, schema, "classification"), schema, "classification", ("no", "yes")
    )
    result = check_equivalence(JoblibPredictor(fitted, schema, "classification"), served, features)
    assert not result.passed
    assert result.label_agreement is not None
    assert result.label_agreement < 0.999


def _numeric_split_thresholds(estimator: object) -> list[tuple[int, float]]:
    """(transformed feature index, float64 threshold) of every numeric split."""
    found: list[tuple[int, float]] = []
    if hasattr(estimator, "_predictors"):
        for iteration in estimator._predictors:
            for predictor in iteration:
                nodes = predictor.nodes[predictor.nodes["is_leaf"] == 0]
                pairs = zip(nodes["feature_idx"], nodes["num_threshold"], strict=True)
                found += [(int(f), float(t)) for f, t in pairs]
    else:
        for tree in estimator.estimators_:  # type: ignore[attr-defined]
            split = tree.tree_.feature >= 0
            pairs = zip(tree.tree_.feature[split], tree.tree_.threshold[split], strict=True)
            found += [(int(f), float(t)) for f, t in pairs]
    return found


@pytest.mark.parametrize("kind", ["random_forest", "hist_gradient_boosting"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_inputs_equal_to_a_split_threshold_take_the_same_branch(kind: str, task: str) -> None:
    # Every numeric feature set, in turn, to the float32 nearest each split threshold:
    # where float32 rounds the threshold up, a naive conversion sends it the other way.
    frame, score = mixed_frame()
    target = np.where(score > 0.5, "yes", "no") if task == "classification" else score
    schema = infer_schema(frame)
    pipeline = build_pipeline(kind, schema, task)
    pipeline.fit(features_frame(schema, features_from_frame(schema, frame)), target)
    numeric = [c.name for c in schema.columns if c.kind == "numeric"]  # first after prepare
    probes = []
    for feature, threshold in _numeric_split_thresholds(pipeline.steps[-1][1]):
        if feature < len(numeric):
            row = frame.iloc[0].copy()
            row[numeric[feature]] = float(np.float32(threshold))
            probes.append(row)
    assert len(probes) > 500
    rounded_up = sum(
        float(np.float32(t)) > t for _, t in _numeric_split_thresholds(pipeline.steps[-1][1])
    )
    assert rounded_up > 0  # the probes do reach the case that went wrong
    probe_frame = pd.DataFrame(probes).reset_index(drop=True)
    features = features_from_frame(schema, probe_frame)
    reference = JoblibPredictor(pipeline, schema, task)
    served = OnnxPredictor(convert(pipeline, schema, task), schema, task, reference.classes)
    expected, actual = reference.predict(features), served.predict(features)
    if task == "classification":
        assert expected.probabilities is not None
        assert actual.probabilities is not None
        assert np.abs(expected.probabilities - actual.probabilities).max() < 1e-5
        assert (expected.values == actual.values).all()
    else:
        assert np.abs(expected.values - actual.values).max() < 1e-4
