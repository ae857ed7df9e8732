import numpy as np
import pandas as pd
import pytest

from predictor.inference import JoblibPredictor, OnnxPredictor, features_frame
from predictor.schema import FeatureSchema
from training.onnx_export import check_equivalence, convert
from training.pipelines import CANDIDATES, build_pipeline


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
    schema = FeatureSchema.infer(frame)
    features = schema.from_frame(frame)
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
    schema = FeatureSchema.infer(frame)
    features = schema.from_frame(frame)
    x = features_frame(schema, features)
    fitted = build_pipeline("linear", schema, "regression").fit(x, score)
    other = build_pipeline("linear", schema, "regression").fit(x, score * 3 + 1)
    served = OnnxPredictor(convert(other, schema, "regression"), schema, "regression")
    result = check_equivalence(JoblibPredictor(fitted, schema, "regression"), served, features)
    assert not result.passed
    assert "largest difference" in result.reason


def test_classifier_labels_disagreeing_fail_the_check() -> None:
    frame, score = mixed_frame()
    schema = FeatureSchema.infer(frame)
    features = schema.from_frame(frame)
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
