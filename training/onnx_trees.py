"""Exact ONNX graphs of histogram gradient boosting, which skl2onnx converts only roughly.

skl2onnx writes HistGradientBoosting's trees as an ``ai.onnx.ml`` v1 tree ensemble with
float32 thresholds rounded to the nearest, whatever the target opset says, and ignores
native categorical splits (each becomes "code <= 0 goes left"). Measured on the red
wine data as classes: probabilities up to 0.09 apart with the columns passed through,
0.11 behind a scaler (which scales in float32 in the graph), and 5% of labels flipped
with a categorical column. Two rewrites make the graph answer as scikit-learn does on
the float32 inputs the serving functions feed it:

* :func:`with_double_thresholds`: the graph converted in float64, its tree ensemble
  given scikit-learn's own float64 thresholds, leaf values and baseline (``ai.onnx.ml``
  v3 ``*_as_tensor`` attributes), and its float32 inputs cast to float64 first;
* :func:`with_categorical_trees`: the tree ensemble replaced by an ``ai.onnx.ml`` v5
  ``TreeEnsemble`` with set-membership splits for categorical features, numeric
  thresholds floored to the float32 below them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_TREE_OPS = ("TreeEnsembleClassifier", "TreeEnsembleRegressor")


def is_histogram_boosting(estimator: Any) -> bool:
    """A HistGradientBoostingClassifier or Regressor (fitted)."""
    return hasattr(estimator, "_predictors") and hasattr(estimator, "_baseline_prediction")


def has_categorical_splits(estimator: Any) -> bool:
    """Whether a fitted HistGradientBoosting model splits on native categories."""
    categorical = getattr(estimator, "is_categorical_", None)
    return categorical is not None and bool(np.any(categorical))


def inputs_cast_to_double(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each float64 input of a graph made float32, then cast to float64 first thing: the
    serving contract (float32 ``(n, 1)`` inputs) kept on a graph converted in float64."""
    graph = model.graph
    casts = []
    for graph_input in graph.input:
        tensor = graph_input.type.tensor_type
        if tensor.elem_type != TensorProto.DOUBLE:
            continue
        inner = f"{graph_input.name}__float64"
        for node in graph.node:
            for position, name in enumerate(node.input):
                if name == graph_input.name:
                    node.input[position] = inner
        casts.append(
            helper.make_node(
                "Cast", [graph_input.name], [inner], to=TensorProto.DOUBLE, name=f"{inner}_cast"
            )
        )
        tensor.elem_type = TensorProto.FLOAT
    for cast in reversed(casts):
        graph.node.insert(0, cast)
    return model


def with_double_thresholds(model: onnx.ModelProto, estimator: Any) -> onnx.ModelProto:
    """Give a float64 graph's tree ensemble scikit-learn's float64 thresholds and values.

    skl2onnx numbers the trees ``iteration * k + class`` (k trees per iteration) and the
    nodes by their index in each predictor's node array; the same numbering reads the
    values out of scikit-learn's predictors.
    """
    per_iteration = estimator.n_trees_per_iteration_
    thresholds: dict[tuple[int, int], float] = {}
    leaf_values: dict[tuple[int, int], float] = {}
    for iteration, predictors in enumerate(estimator._predictors):
        for k, predictor in enumerate(predictors):
            tree = iteration * per_iteration + k if len(predictors) > 1 else iteration
            for index, node in enumerate(predictor.nodes):
                thresholds[tree, index] = float(node["num_threshold"])
                leaf_values[tree, index] = float(node["value"])
    base = np.asarray(estimator._baseline_prediction, dtype=np.float64).ravel()
    for node in model.graph.node:
        if node.op_type not in _TREE_OPS:
            continue
        attributes = {a.name: a for a in node.attribute}
        trees, nodes = attributes["nodes_treeids"].ints, attributes["nodes_nodeids"].ints
        modes = attributes["nodes_modes"].strings
        values = np.array(
            [
                thresholds[t, n] if mode != b"LEAF" else 0.0
                for t, n, mode in zip(trees, nodes, modes, strict=True)
            ]
        )
        prefix = "class" if node.op_type == "TreeEnsembleClassifier" else "target"
        weights = np.array(
            [
                leaf_values[t, n]
                for t, n in zip(
                    attributes[f"{prefix}_treeids"].ints,
                    attributes[f"{prefix}_nodeids"].ints,
                    strict=True,
                )
            ]
        )
        for name in ("nodes_values", f"{prefix}_weights", "base_values"):
            if name in attributes:
                node.attribute.remove(attributes[name])
        node.attribute.extend(
            [
                helper.make_attribute("nodes_values_as_tensor", numpy_helper.from_array(values)),
                helper.make_attribute(
                    f"{prefix}_weights_as_tensor", numpy_helper.from_array(weights)
                ),
                helper.make_attribute("base_values_as_tensor", numpy_helper.from_array(base)),
            ]
        )
    _set_ml_opset(model, 3)
    _tree_outputs_as_float(model)
    return model


def _tree_outputs_as_float(model: onnx.ModelProto) -> None:
    """Tree ensembles output float32 scores whatever their inputs: declare them so."""
    produced = {
        out for n in model.graph.node if n.op_type.startswith("TreeEnsemble") for out in n.output
    }
    for output in model.graph.output:
        if output.name in produced and output.type.tensor_type.elem_type == TensorProto.DOUBLE:
            output.type.tensor_type.elem_type = TensorProto.FLOAT


def _set_ml_opset(model: onnx.ModelProto, version: int) -> None:
    for opset in model.opset_import:
        if opset.domain == "ai.onnx.ml":
            opset.version = version


# ----- native categorical splits: an ai.onnx.ml v5 TreeEnsemble ---------------------------
_LEQ, _MEMBER = 0, 6


def _float32_floor(threshold: float) -> float:
    """The largest float32 not above ``threshold``: a float32 ``x`` is ``<= threshold``
    exactly when it is ``<=`` this value."""
    nearest = np.float32(threshold)
    return float(nearest if float(nearest) <= threshold else np.nextafter(nearest, -np.inf))


def _left_categories(bitset: np.ndarray) -> list[int]:
    return [c for c in range(32 * len(bitset)) if (int(bitset[c // 32]) >> (c % 32)) & 1]


def _ensemble_v5(estimator: Any, input_name: str, output_name: str) -> Any:
    per_iteration = estimator.n_trees_per_iteration_
    roots: list[int] = []
    modes: list[int] = []
    features: list[int] = []
    splits: list[float] = []
    true_ids: list[int] = []
    true_leaf: list[int] = []
    false_ids: list[int] = []
    false_leaf: list[int] = []
    missing_left: list[int] = []
    members: list[float] = []
    leaf_targets: list[int] = []
    leaf_weights: list[float] = []
    for predictors in estimator._predictors:
        for target, predictor in enumerate(predictors):
            nodes = predictor.nodes
            inner: dict[int, int] = {}
            leaves: dict[int, int] = {}
            for i in range(len(nodes)):
                if nodes[i]["is_leaf"]:
                    leaves[i] = len(leaf_weights) + len(leaves)
                else:
                    inner[i] = len(modes) + len(inner)
            if not inner:  # a single leaf: a split that leads to it both ways
                roots.append(len(modes))
                modes.append(_LEQ)
                features.append(0)
                splits.append(0.0)
                true_ids.append(len(leaf_weights))
                false_ids.append(len(leaf_weights))
                true_leaf.append(1)
                false_leaf.append(1)
                missing_left.append(0)
                leaf_targets.append(target)
                leaf_weights.append(float(nodes[0]["value"]))
                continue
            roots.append(inner[0])
            for i in sorted(inner):
                node = nodes[i]
                features.append(int(node["feature_idx"]))
                if node["is_categorical"]:
                    modes.append(_MEMBER)
                    splits.append(0.0)
                    bitset = predictor.raw_left_cat_bitsets[node["bitset_idx"]]
                    members.extend([*map(float, _left_categories(bitset)), float("nan")])
                else:
                    modes.append(_LEQ)
                    splits.append(_float32_floor(float(node["num_threshold"])))
                for child, ids, is_leaf in (
                    (int(node["left"]), true_ids, true_leaf),
                    (int(node["right"]), false_ids, false_leaf),
                ):
                    if nodes[child]["is_leaf"]:
                        ids.append(leaves[child])
                        is_leaf.append(1)
                    else:
                        ids.append(inner[child])
                        is_leaf.append(0)
                missing_left.append(int(node["missing_go_to_left"]))
            for i in sorted(leaves):
                leaf_targets.append(target)
                leaf_weights.append(float(nodes[i]["value"]))
    attributes: dict[str, Any] = {
        "n_targets": per_iteration,
        "aggregate_function": 1,  # sum
        "post_transform": 0,
        "tree_roots": roots,
        "nodes_modes": numpy_helper.from_array(np.array(modes, dtype=np.uint8)),
        "nodes_featureids": features,
        "nodes_splits": numpy_helper.from_array(np.array(splits, dtype=np.float32)),
        "nodes_truenodeids": true_ids,
        "nodes_trueleafs": true_leaf,
        "nodes_falsenodeids": false_ids,
        "nodes_falseleafs": false_leaf,
        "nodes_missing_value_tracks_true": missing_left,
        "leaf_targetids": leaf_targets,
        "leaf_weights": numpy_helper.from_array(np.array(leaf_weights, dtype=np.float32)),
    }
    if members:
        attributes["membership_values"] = numpy_helper.from_array(
            np.array(members, dtype=np.float32)
        )
    return helper.make_node(
        "TreeEnsemble",
        [input_name],
        [output_name],
        domain="ai.onnx.ml",
        name="hgb_v5",
        **attributes,
    )


def with_categorical_trees(model: onnx.ModelProto, estimator: Any) -> onnx.ModelProto:
    """Replace skl2onnx's tree ensemble of a HistGradientBoosting model by an exact v5 one.

    Raw scores plus the baseline, then for a classifier the sigmoid (two classes) or the
    softmax, and the label as the first class of highest probability.
    """
    graph = model.graph
    (old,) = [n for n in graph.node if n.op_type in _TREE_OPS]
    position = list(graph.node).index(old)
    graph.node.remove(old)
    base = np.asarray(estimator._baseline_prediction, dtype=np.float32).reshape(1, -1)
    new = [
        _ensemble_v5(estimator, old.input[0], "hgb_raw"),
        helper.make_node("Add", ["hgb_raw", "hgb_base"], ["hgb_score"]),
    ]
    initializers = [numpy_helper.from_array(base, "hgb_base")]
    if old.op_type == "TreeEnsembleRegressor":
        new.append(helper.make_node("Identity", ["hgb_score"], [old.output[0]]))
    else:
        label, probabilities = old.output
        if estimator.n_trees_per_iteration_ == 1:
            initializers.append(numpy_helper.from_array(np.ones(1, dtype=np.float32), "hgb_one"))
            new += [
                helper.make_node("Sigmoid", ["hgb_score"], ["hgb_p1"]),
                helper.make_node("Sub", ["hgb_one", "hgb_p1"], ["hgb_p0"]),
                helper.make_node("Concat", ["hgb_p0", "hgb_p1"], [probabilities], axis=1),
            ]
        else:
            new.append(helper.make_node("Softmax", ["hgb_score"], [probabilities], axis=1))
        classes = np.asarray(estimator.classes_)
        labels = classes.astype(str) if classes.dtype.kind in "OUS" else classes.astype(np.int64)
        initializers.append(numpy_helper.from_array(labels, "hgb_classes"))
        new += [
            helper.make_node("ArgMax", [probabilities], ["hgb_argmax"], axis=1, keepdims=0),
            helper.make_node("Gather", ["hgb_classes", "hgb_argmax"], [label], axis=0),
        ]
    for offset, node in enumerate(new):
        graph.node.insert(position + offset, node)
    graph.initializer.extend(initializers)
    _set_ml_opset(model, 5)
    return model
