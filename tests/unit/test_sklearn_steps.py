"""What a fitted encoder learned for a missing value, the copy the graph is made from, and
the step that computes before a tree model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector, make_column_transformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from predictor.schema import MISSING_CATEGORY
from training.sklearn_steps import (
    columns_read,
    computing_step_before,
    missing_value_of,
    splits_on_thresholds,
    with_placeholder_for_missing,
)


def _fitted(colours: list[object]) -> Pipeline:
    frame = pd.DataFrame({"colour": colours, "size": np.arange(len(colours), dtype=float)})
    prepare = ColumnTransformer(
        [("colour", OneHotEncoder(handle_unknown="ignore"), ["colour"])],
        remainder="passthrough",
    )
    labels = [i % 2 for i in range(len(colours))]
    return Pipeline([("prepare", prepare), ("model", LogisticRegression())]).fit(frame, labels)


def test_a_user_encoder_that_saw_nan_gets_the_placeholder_in_a_copy_only() -> None:
    model = _fitted(["red", np.nan, "blue", "red", np.nan, "blue"])
    converted, changed = with_placeholder_for_missing(model)
    assert changed == 1
    copied = converted.named_steps["prepare"].named_transformers_["colour"].categories_[0]
    assert list(copied) == ["blue", "red", MISSING_CATEGORY]
    original = model.named_steps["prepare"].named_transformers_["colour"].categories_[0]
    assert math.isnan(float(original[-1]))  # the user's model is published as it came
    assert math.isnan(missing_value_of(model))


def test_the_training_job_s_encoder_keeps_its_placeholder() -> None:
    model = _fitted(["red", MISSING_CATEGORY, "blue", "red"])
    converted, changed = with_placeholder_for_missing(model)
    assert (converted, changed) == (model, 0)
    assert missing_value_of(model) == MISSING_CATEGORY


def test_an_encoder_without_a_missing_category_and_an_ordinal_one_are_left_alone() -> None:
    assert with_placeholder_for_missing(_fitted(["red", "blue", "red", "blue"]))[1] == 0
    # An ordinal encoder gives NaN for a missing value, not a category: left to the gate.
    ordinal = OrdinalEncoder().fit(pd.DataFrame({"colour": ["red", np.nan, "blue"]}))
    assert with_placeholder_for_missing(ordinal) == (ordinal, 0)


def test_the_step_that_computes_before_a_tree_model_is_found() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "b": ["x", "y", "x", "y"]})
    target = [1.0, 2.0, 3.0, 4.0]
    exact = make_pipeline(
        make_column_transformer(
            (SimpleImputer(), ["a"]), (OneHotEncoder(), ["b"]), remainder="passthrough"
        ),
        RandomForestRegressor(5, random_state=0),
    ).fit(frame, target)
    forest = exact.steps[-1][1]
    assert splits_on_thresholds(forest)
    assert computing_step_before(exact, forest) is None
    scaled = make_pipeline(
        make_column_transformer((make_pipeline(SimpleImputer(), StandardScaler()), ["a"])),
        RandomForestRegressor(5, random_state=0),
    ).fit(frame, target)
    found = computing_step_before(scaled, scaled.steps[-1][1])
    assert found is not None
    assert isinstance(found[1], StandardScaler)
    assert not splits_on_thresholds(LogisticRegression())


def test_the_columns_a_column_transformer_drops_are_not_read() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "colour": rng.choice(["red", "blue"], 40), "size": rng.normal(size=40),
        "note": rng.choice(["a", "b"], 40), "weight": rng.normal(size=40),
    })  # fmt: skip
    labels = np.arange(40) % 2
    names = list(frame.columns)

    def read(*branches: tuple, remainder: str = "drop") -> list[str] | None:
        prepare = ColumnTransformer(list(branches), remainder=remainder)
        return columns_read(make_pipeline(prepare, LogisticRegression()).fit(frame, labels), names)

    one_hot = OneHotEncoder(handle_unknown="ignore")
    assert read(("c", one_hot, ["colour"]), ("n", "passthrough", ["size"])) == ["colour", "size"]
    # a selector, a branch of "drop", and every column read
    by_pattern = make_column_selector(pattern="^(size|weight)$")
    assert read(("c", one_hot, ["colour"]), ("n", StandardScaler(), by_pattern)) == [
        "colour", "size", "weight",
    ]  # fmt: skip
    assert (
        read(("c", one_hot, ["colour"]), ("n", "drop", ["note"]), remainder="passthrough") is None
    )
    assert (
        read(("c", one_hot, ["colour", "note"]), ("n", "passthrough", ["size", "weight"])) is None
    )
    # the remainder kept, or branches by position (skl2onnx selects those by position)
    assert read(("c", one_hot, ["colour", "note"]), remainder="passthrough") is None
    assert read(("c", one_hot, [0]), ("n", "passthrough", [1])) is None
    assert columns_read(_fitted(["red", "blue", "red", "blue"]), ["colour", "size"]) is None
