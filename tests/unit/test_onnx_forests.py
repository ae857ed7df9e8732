"""Forests' regression graphs rewritten in v5 form answer exactly as skl2onnx's v3 graphs."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from skl2onnx import to_onnx
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeRegressor

from training.onnx_export import TARGET_OPSET
from training.onnx_forests import TREES_PER_NODE, compact_tree_regressors

RNG = np.random.default_rng(3)
X = RNG.normal(size=(400, 5)).astype(np.float32)
Y = X[:, 0] * 2 + np.sin(X[:, 1] * 3) + RNG.normal(0, 0.1, 400)
X_MISSING = X.copy()
X_MISSING[::5, 2] = np.nan


def answers(graph: bytes, rows: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    return list(session.run(None, {session.get_inputs()[0].name: rows}))


def tree_ops(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model.graph.node if node.op_type.startswith("TreeEnsemble")]


@pytest.mark.parametrize(
    ("model", "rows"),
    [
        (ExtraTreesRegressor(n_estimators=60, random_state=0), X),  # three operators
        (RandomForestRegressor(n_estimators=30, max_leaf_nodes=50, random_state=0), X),
        (RandomForestRegressor(n_estimators=10, random_state=0), X_MISSING),  # NaN splits
        (make_pipeline(SimpleImputer(), ExtraTreesRegressor(20, random_state=0)), X_MISSING),
        (DecisionTreeRegressor(max_depth=4), X),
        (DecisionTreeRegressor(min_samples_split=10**6), X),  # one leaf: a tree of no split
    ],
)
def test_the_v5_graph_answers_as_the_v3_graph(model: Any, rows: np.ndarray) -> None:
    model.fit(rows, Y)
    v3 = to_onnx(model, rows[:1], target_opset=TARGET_OPSET)
    before = v3.SerializeToString()
    compact = compact_tree_regressors(onnx.load_from_string(before))
    (ensemble,) = [n for n in v3.graph.node if n.op_type == "TreeEnsembleRegressor"]
    (tree_ids,) = [a.ints for a in ensemble.attribute if a.name == "nodes_treeids"]
    operators = -(-len(set(tree_ids)) // TREES_PER_NODE)
    assert tree_ops(compact) == ["TreeEnsemble"] * operators
    onnx.checker.check_model(compact)
    after = compact.SerializeToString()
    (expected,), (found,) = answers(before, rows), answers(after, rows)
    if operators == 1:  # one operator sums the trees in v3's order
        assert np.array_equal(found, expected)
    else:  # the same branches; the float32 sums in another order
        assert np.allclose(found, expected, rtol=0, atol=1e-5)
    if not np.isnan(rows).any():  # (skl2onnx's v3 graph sends a missing value down one side)
        assert np.allclose(found.ravel(), model.predict(rows), atol=1e-5)
    if len(before) > 10_000:
        assert len(after) < len(before) / 2


@pytest.mark.parametrize(
    "model",
    [
        RandomForestClassifier(n_estimators=10, random_state=0),  # labels and probabilities
        HistGradientBoostingRegressor(max_iter=10),  # a baseline (base_values)
    ],
)
def test_other_tree_graphs_are_left_as_they_are(model: Any) -> None:
    model.fit(X, Y > 0 if hasattr(model, "predict_proba") else Y)
    v3 = to_onnx(model, X[:1], target_opset=TARGET_OPSET)
    before = v3.SerializeToString()
    assert compact_tree_regressors(v3).SerializeToString() == before


def test_an_attribute_left_empty_is_kept_out_in_every_operator() -> None:
    model = ExtraTreesRegressor(n_estimators=40, random_state=0).fit(X, Y)
    v3 = to_onnx(model, X[:1], target_opset=TARGET_OPSET)
    (ensemble,) = [n for n in v3.graph.node if n.op_type == "TreeEnsembleRegressor"]
    for attribute in ensemble.attribute:
        if attribute.name == "nodes_missing_value_tracks_true":
            del attribute.ints[:]
    before = v3.SerializeToString()
    compact = compact_tree_regressors(onnx.load_from_string(before))
    assert len(tree_ops(compact)) == 3
    (expected,), (found,) = answers(before, X), answers(compact.SerializeToString(), X)
    assert np.allclose(found, expected, rtol=0, atol=1e-5)
