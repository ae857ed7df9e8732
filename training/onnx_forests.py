"""Forests' regression graphs in ``ai.onnx.ml`` v5's ``TreeEnsemble``: a third of the bytes,
a session made in two fifths of the time.

skl2onnx writes a random forest or extremely randomised trees regressor as a v3
``TreeEnsembleRegressor``: one entry per node (leaves included) with its tree id, node
id, a mode string and a hit rate, and one entry per leaf weight naming its tree and node
again. Creating an onnxruntime session reads every entry; for 500 extremely randomised
trees of the wine data (616,000 nodes, 23.6 MiB) that took 0.31 s. The v5 ``TreeEnsemble``
holds the same trees as flat arrays of split nodes whose children are indices, one-byte
modes and a leaf table, and onnxruntime makes it faster still in operators of
:data:`TREES_PER_NODE` trees whose outputs are summed: 7.4 MiB and 0.13 s for the same
trees. :func:`compact_tree_regressors` rewrites each such node; the splits, the float32
thresholds and the leaf weights are the v3 node's own, so every row takes the same
branches; only the float32 sum of the trees' values runs in another order (up to 1e-5
apart on the wine data; one operator's answers are bit-identical to v3's). The publish
gate checks the graph against scikit-learn all the same.

Rewritten only when every tree node of the graph is a single-target regressor on float32
inputs with ``BRANCH_LEQ`` splits, no base values and no post-transform (what
scikit-learn's forests and single trees give); anything else (classifiers, boosting's
baselines, double thresholds) is left as skl2onnx or :mod:`training.onnx_trees` wrote it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_REGRESSOR = "TreeEnsembleRegressor"
_AGGREGATES = (b"AVERAGE", b"SUM")
_SUM = 1  # v5's aggregate_function SUM
#: The v3 attributes with one entry per node or per leaf weight.
_PER_ENTRY = ("nodes_", "target_")
_LEQ = 0  # v5's BRANCH_LEQ
#: Trees per v5 node. onnxruntime's session takes longer per node the more nodes one
#: operator holds: 150 extremely randomised trees of the wine data load in a fresh process
#: in 0.126 s as one operator, 0.080 s as six of 25 and 0.072 s as ten of 15 (0.071 to
#: 0.078 s for 5 to 10 a node), for 10 µs more per 1-row prediction (0.024 against
#: 0.035 ms) and the same time for 100 rows or more.
TREES_PER_NODE = 15


def compact_tree_regressors(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with each forest regressor node in v5 form (in place), when all qualify."""
    trees = [n for n in model.graph.node if n.op_type.startswith("TreeEnsemble")]
    if not trees:
        return model
    types = _tensor_types(model)
    if not all(_qualifies(node, types) for node in trees):
        return model
    for node in trees:
        position = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        for offset, part in enumerate(_in_parts(node)):
            model.graph.node.insert(position + offset, part)
    for opset in model.opset_import:
        if opset.domain == "ai.onnx.ml":
            opset.version = max(opset.version, 5)
    return model


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _qualifies(node: onnx.NodeProto, types: dict[str, int]) -> bool:
    if node.op_type != _REGRESSOR or node.domain != "ai.onnx.ml":
        return False
    found = _attributes(node)
    if found.get("n_targets", 1) != 1 or any(found.get("base_values", [])):
        return False
    if found.get("post_transform", b"NONE") != b"NONE":
        return False
    if found.get("aggregate_function", b"SUM") not in _AGGREGATES:
        return False
    if any(name.endswith("_as_tensor") for name in found):  # double thresholds: exact as is
        return False
    if set(found.get("nodes_modes", [])) - {b"BRANCH_LEQ", b"LEAF"}:
        return False
    return types.get(node.input[0]) == TensorProto.FLOAT


#: Operators whose output has the element type of their first input.
_SAME_TYPE = ("Imputer", "Concat", "Identity", "Reshape", "Flatten")


def _tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    """The element type of each tensor: shape inference's, else (for operators it leaves
    untyped, such as ``Imputer``) that of the first input of an operator that keeps it."""
    graph = onnx.shape_inference.infer_shapes(model).graph
    types = {
        value.name: int(value.type.tensor_type.elem_type)
        for value in (*graph.input, *graph.value_info, *graph.output)
        if value.type.tensor_type.elem_type
    }
    for node in model.graph.node:  # in topological order: inputs are typed first
        if node.op_type in _SAME_TYPE and node.input and node.input[0] in types:
            for output in node.output:
                types.setdefault(output, types[node.input[0]])
    return types


def _in_parts(node: onnx.NodeProto) -> list[onnx.NodeProto]:
    """The v5 nodes of ``node``'s trees, :data:`TREES_PER_NODE` a node, and the Sum of their
    outputs (the leaf weights divided by the number of trees where ``node`` averages)."""
    found = _attributes(node)
    tree = np.asarray(found["nodes_treeids"], dtype=np.int64)
    target_tree = np.asarray(found["target_treeids"], dtype=np.int64)
    numbers = np.unique(tree)
    scale = 1.0 / len(numbers) if found.get("aggregate_function", b"SUM") == b"AVERAGE" else 1.0
    groups = [numbers[i : i + TREES_PER_NODE] for i in range(0, len(numbers), TREES_PER_NODE)]
    if len(groups) == 1:
        return [_as_v5(found, node.name, node.input[0], node.output[0], scale)]
    per_entry = {
        n for n, v in found.items() if isinstance(v, list) and v and n.startswith(_PER_ENTRY)
    }  # (an empty list is an attribute left out: kept as it is)
    arrays = {n: np.asarray(v) if n in per_entry else v for n, v in found.items()}
    parts = []
    for number, group in enumerate(groups):
        rows, targets = np.isin(tree, group), np.isin(target_tree, group)
        subset = {name: _kept(name, values, rows, targets) for name, values in arrays.items()}
        name = f"{node.name}_{number}"
        parts.append(_as_v5(subset, name, node.input[0], f"{name}_sum", scale))
    total = helper.make_node("Sum", [p.output[0] for p in parts], [node.output[0]], name=node.name)
    return [*parts, total]


def _kept(name: str, values: Any, rows: Any, targets: Any) -> Any:
    """An attribute of a subset of the trees: its entries of the kept nodes or targets."""
    if not isinstance(values, np.ndarray):
        return values
    return values[targets if name.startswith("target_") else rows]


def _as_v5(
    found: dict[str, Any], name: str, input_name: str, output_name: str, scale: float
) -> onnx.NodeProto:
    tree = np.asarray(found["nodes_treeids"], dtype=np.int64)
    ids = np.asarray(found["nodes_nodeids"], dtype=np.int64)
    leaf = np.asarray(found["nodes_modes"]) == b"LEAF"
    span = int(ids.max()) + 1

    def rows(trees: Any, nodes: Any) -> Any:
        """The row of each (tree, node) pair in the v3 arrays."""
        keys = tree * span + ids
        order = np.argsort(keys)
        wanted = np.asarray(trees, dtype=np.int64) * span + np.asarray(nodes, dtype=np.int64)
        return order[np.searchsorted(keys, wanted, sorter=order)]

    inner_index = np.cumsum(~leaf) - 1
    leaf_index = np.cumsum(leaf) - 1
    inner = np.flatnonzero(~leaf)

    def child(column: str) -> tuple[Any, Any]:
        target = rows(tree[inner], np.asarray(found[column], dtype=np.int64)[inner])
        is_leaf = leaf[target]
        return np.where(is_leaf, leaf_index[target], inner_index[target]), is_leaf.astype(np.int64)

    true_ids, true_leafs = child("nodes_truenodeids")
    false_ids, false_leafs = child("nodes_falsenodeids")
    tracks = found.get("nodes_missing_value_tracks_true")
    missing = np.asarray(
        tracks if tracks is not None and len(tracks) else np.zeros(len(ids)), dtype=np.int64
    )
    weights = np.zeros(int(leaf.sum()), dtype=np.float64)
    weighted = rows(found["target_treeids"], found["target_nodeids"])
    np.add.at(weights, leaf_index[weighted], np.asarray(found["target_weights"], dtype=np.float64))

    features = np.asarray(found["nodes_featureids"], dtype=np.int64)[inner]
    splits = np.asarray(found["nodes_values"], dtype=np.float32)[inner]
    modes = np.full(len(inner), _LEQ, dtype=np.uint8)
    keys = tree * span + ids
    child_keys = np.concatenate(
        [tree[inner] * span + np.asarray(found[column], dtype=np.int64)[inner]
         for column in ("nodes_truenodeids", "nodes_falsenodeids")]
    )  # fmt: skip
    roots: list[int] = []
    for root in np.flatnonzero(~np.isin(keys, child_keys)):  # one per tree
        if not leaf[root]:
            roots.append(int(inner_index[root]))
            continue
        # A tree that is one leaf: a split whose both sides lead to it.
        roots.append(len(features))
        features = np.append(features, 0)
        splits = np.append(splits, np.float32(0))
        modes = np.append(modes, np.uint8(_LEQ))
        true_ids = np.append(true_ids, leaf_index[root])
        false_ids = np.append(false_ids, leaf_index[root])
        true_leafs = np.append(true_leafs, 1)
        false_leafs = np.append(false_leafs, 1)
        inner = np.append(inner, -1)
    if len(roots) != len(np.unique(tree)):
        raise ValueError(f"{name}: {len(roots)} roots for {len(np.unique(tree))} trees")
    missing_inner = np.where(inner >= 0, missing[np.maximum(inner, 0)], 0)
    if scale != 1.0:
        weights *= scale
    return helper.make_node(
        "TreeEnsemble",
        [input_name],
        [output_name],
        name=name,
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function=_SUM,
        post_transform=0,
        tree_roots=roots,
        nodes_modes=numpy_helper.from_array(modes.astype(np.uint8)),
        nodes_featureids=features.tolist(),
        nodes_splits=numpy_helper.from_array(splits.astype(np.float32)),
        nodes_truenodeids=np.asarray(true_ids).tolist(),
        nodes_trueleafs=np.asarray(true_leafs).tolist(),
        nodes_falsenodeids=np.asarray(false_ids).tolist(),
        nodes_falseleafs=np.asarray(false_leafs).tolist(),
        nodes_missing_value_tracks_true=np.asarray(missing_inner).tolist(),
        leaf_targetids=[0] * len(weights),
        leaf_weights=numpy_helper.from_array(weights.astype(np.float32)),
    )
