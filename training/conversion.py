"""A user's fitted model to an ONNX graph the functions serve, proven equal or refused.

:func:`prepare` makes the user's model convertible without changing what it predicts:
sampler steps (imbalanced-learn's, which act only while fitting) are dropped and named; a
model whose first step takes one 2-D input (a bare estimator) is put behind a
pass-through of the columns, so that the graph takes one input per column as every
served graph does; a classifier without ``predict_proba`` is served with labels only; a
one-hot encoder that learned a missing value as a category is converted with the
functions' missing value in its place (:mod:`training.sklearn_steps`).

:func:`convert` tries the graphs that can reproduce the model, plainest first, and keeps
the first one the parity gate passes (:func:`training.onnx_export.check_equivalence`,
on the sample's rows as the functions receive them: numbers as float32). A model no graph
reproduces, or that no converter handles, is refused naming the step, its place in the
pipeline, and what to do instead.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
from sklearn.base import is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import VotingClassifier
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC, NuSVC

from predictor.inference import OnnxPredictor, Task
from predictor.schema import NUMERIC, Features, FeatureSchema
from training import onnx_trees
from training.joblib_predictor import JoblibPredictor
from training.onnx_export import (
    TARGET_OPSET,
    TIE_MARGIN,
    Equivalence,
    check_equivalence,
    floor_boosting_thresholds,
)
from training.onnx_forests import compact_tree_regressors
from training.sklearn_steps import (
    computing_step_before,
    final_estimator,
    splits_on_thresholds,
    steps_of,
    with_placeholder_for_missing,
)

#: The name of the step that hands a model's columns to it as one matrix.
PASSTHROUGH_STEP = "columns as one matrix"


class ConversionRefused(Exception):
    """The model cannot be served as an ONNX graph; the message says where and what to do."""


@dataclass(slots=True)
class PreparedModel:
    """The user's model as it is converted, and what was done to it to get there."""

    #: What is converted: the model without samplers, behind a column pass-through if needed.
    convertible: Any
    #: The estimator that makes the predictions (the pipeline's last step).
    estimator: Any
    task: Task
    has_probabilities: bool
    dropped_steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Labels are the graph's own, not the class of highest probability: the model's
    #: ``predict`` does not follow its ``predict_proba`` (:func:`_predicts_apart`).
    labels_from_graph: bool = False


def prepare(model: Any, frame: pd.DataFrame) -> PreparedModel:
    """The user's fitted model made convertible (``frame``: rows of its input, named)."""
    if is_classifier(model):
        task: Task = "classification"
    elif getattr(model, "_estimator_type", None) == "regressor" or _is_regressor(model):
        task = "regression"
    else:
        raise ConversionRefused(
            f"{type(model).__name__} is neither a classifier nor a regressor: only models that "
            "predict a class or a number can be served"
        )
    if not hasattr(model, "predict"):
        raise ConversionRefused(f"{type(model).__name__} has no predict method")
    outputs = _outputs_per_row(model, frame)
    if outputs > 1:
        raise ConversionRefused(
            f"{type(model).__name__} predicts {outputs} values per row (fitted on several "
            "targets): only models with one prediction per row can be served. What to do: "
            "fit and publish one model per target"
        )
    dropped: list[str] = []
    convertible = model
    if hasattr(model, "steps"):
        kept = []
        for position, (name, step) in enumerate(model.steps, start=1):
            if hasattr(step, "fit_resample"):
                dropped.append(f"step {position} {name!r} ({type(step).__name__})")
            else:
                kept.append((name, step))
        if dropped:
            convertible = Pipeline(kept)
    convertible, placeholders = with_placeholder_for_missing(convertible)
    convertible = _votes_unflattened(convertible)
    estimator = final_estimator(convertible)
    has_probabilities = task == "classification" and hasattr(model, "predict_proba")
    prepared = PreparedModel(convertible, estimator, task, has_probabilities, dropped)
    if dropped:
        prepared.notes.append("dropped (samplers act only while fitting): " + ", ".join(dropped))
    if placeholders:
        prepared.notes.append(
            f"a one-hot encoder learned a missing value as a category ({placeholders} "
            "column(s)): the graph takes the functions' missing value for it"
        )
    if task == "classification" and not has_probabilities:
        prepared.notes.append(
            f"{type(estimator).__name__} has no predict_proba: served with labels only"
        )
    elif isinstance(estimator, OneVsRestClassifier) and any(
        _predicts_apart(member) for member in getattr(estimator, "estimators_", ())
    ):
        raise ConversionRefused(
            f"OneVsRestClassifier({type(estimator.estimator).__name__}(probability=True)) "
            "predicts from its members' decision functions and gives probabilities from fits "
            "of their own, so on some rows its label is not its class of highest probability, "
            "and no graph gives its labels. What to do: fit "
            f"{type(estimator.estimator).__name__}(probability=True) itself (it takes several "
            "classes), or wrap it in CalibratedClassifierCV"
        )
    elif has_probabilities and _predicts_apart(estimator):
        prepared.labels_from_graph = True
        prepared.notes.append(
            f"{type(estimator).__name__}(probability=True) predicts from its decision "
            "function and gives probabilities from a fit of its own (Platt scaling), which "
            "can disagree on a few rows, in scikit-learn as here: the labels served are the "
            "decision function's, as its predict gives them"
        )
    first = convertible.steps[0][1] if hasattr(convertible, "steps") else convertible
    numeric = all(pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns)
    if numeric and not isinstance(first, ColumnTransformer):
        # Many converters take one 2-D input, not one input per column: hand them the
        # columns as one matrix, in order, as scikit-learn received them.
        passthrough = ColumnTransformer([("columns", "passthrough", list(frame.columns))])
        prepared.convertible = Pipeline(
            [(PASSTHROUGH_STEP, passthrough.fit(frame.iloc[:2])), ("model", convertible)]
        )
    return prepared


def _predicts_apart(estimator: Any) -> bool:
    """Whether ``estimator``'s ``predict`` is not the class of its highest
    ``predict_proba``: scikit-learn's support vector classifiers with probabilities."""
    return isinstance(estimator, SVC | NuSVC) and bool(getattr(estimator, "probability", False))


def _votes_unflattened(model: Any) -> Any:
    """``model``, or a copy whose voting classifiers have ``flatten_transform=False``:
    skl2onnx converts only those, and the setting shapes only ``transform``'s output,
    never a prediction. ``model`` itself is never changed."""
    if not any(
        isinstance(step, VotingClassifier) and step.flatten_transform for _, step in steps_of(model)
    ):
        return model
    model = copy.deepcopy(model)
    for _, step in steps_of(model):
        if isinstance(step, VotingClassifier):
            step.flatten_transform = False
    return model


def _outputs_per_row(model: Any, frame: pd.DataFrame) -> int:
    """How many values ``model`` predicts for a row (1 when it cannot say on two rows:
    the parity gate then tells)."""
    try:
        rows = frame.iloc[:2]
        named = hasattr(model, "feature_names_in_")
        predicted = np.asarray(model.predict(rows if named else rows.to_numpy()))
    except Exception:  # the gate reports what the model does with the sample
        return 1
    return int(predicted.shape[1]) if predicted.ndim == 2 else 1


def _is_regressor(model: Any) -> bool:
    from sklearn.base import is_regressor

    return bool(is_regressor(model))


class ArrayInput:
    """A model fitted on a bare array, given a frame's values: the same predictions,
    without scikit-learn's warning that the frame has names the model never saw."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def predict(self, frame: Any) -> Any:
        return self.model.predict(np.asarray(frame))

    @property
    def predict_proba(self) -> Any:
        method = self.model.predict_proba  # AttributeError when it has none: hasattr False

        def predict_proba(frame: Any) -> Any:
            return method(np.asarray(frame))

        return predict_proba

    @property
    def decision_function(self) -> Any:
        method = self.model.decision_function

        def decision_function(frame: Any) -> Any:
            return method(np.asarray(frame))

        return decision_function


def reference_model(model: Any) -> Any:
    """The user's model as the parity gate calls it: with a frame if it was fitted on one."""
    return model if hasattr(model, "feature_names_in_") else ArrayInput(model)


@dataclass(frozen=True, slots=True)
class Converted:
    """The graph that reproduces the model, how it was made, and how closely it agrees."""

    onnx_bytes: bytes
    graph: str
    equivalence: Equivalence
    #: Rows on which scikit-learn itself answers differently once the inputs are rounded
    #: to float32, as the functions receive them (the graph is held to the rounded answer).
    float32_sensitive_rows: int
    served: OnnxPredictor
    tried: list[str]


def convert(
    prepared: PreparedModel,
    user_model: Any,
    schema: FeatureSchema,
    classes: tuple[Any, ...] | None,
    features: Features,
    raw_frame: pd.DataFrame,
) -> Converted:
    """The first graph that passes the parity gate on ``features``; ConversionRefused else."""
    register_boosting_converters()
    fitted = user_model
    user_model = reference_model(user_model)
    reference = JoblibPredictor(user_model, schema, prepared.task)
    margins = _tie_margins(user_model, reference, features, prepared)
    tried: list[str] = []
    failures: list[tuple[str, str]] = []
    for graph_kind, build in _graphs(prepared):
        try:
            graph = build(prepared, schema)
            if prepared.task == "classification" and not prepared.has_probabilities:
                graph = _labels_only(graph)
            onnx_bytes = graph.SerializeToString()
            served = OnnxPredictor(
                onnx_bytes, schema, prepared.task, classes,
                labels_from_graph=prepared.labels_from_graph,
            )  # fmt: skip
        except Exception as exc:  # the converter or onnxruntime refused this graph
            failures.append(
                (f"{graph_kind} (not built)", f"{type(exc).__name__}: {_first_line(exc)}")
            )
            tried.append(f"{graph_kind}: not built ({type(exc).__name__})")
            continue
        try:
            equivalence = check_equivalence(reference, served, features, margins)
        except Exception as exc:  # the graph runs, but its answers are not the model's kind
            failures.append((graph_kind, f"{type(exc).__name__}: {_first_line(exc)}"))
            tried.append(f"{graph_kind}: its answers cannot be compared ({type(exc).__name__})")
            continue
        tried.append(f"{graph_kind}: {equivalence.reason}")
        if equivalence.passed:
            sensitive = _float32_sensitive_rows(
                user_model, prepared.task, raw_frame, reference, features
            )
            return Converted(onnx_bytes, graph_kind, equivalence, sensitive, served, tried)
        failures.append((graph_kind, equivalence.reason))
    raise ConversionRefused(
        _refusal(
            prepared,
            schema,
            failures,
            lambda: locate_difference(prepared, fitted, schema, features),
        )
    )


_FLOAT64_GRAPH = "float64 thresholds (ai.onnx.ml 3)"


def _graphs(prepared: PreparedModel) -> list[tuple[str, Any]]:
    """The graphs that may reproduce the model, plainest first. After a step that
    computes new numbers, a tree model is served only by a graph that computes them in
    float64 as scikit-learn does: a float32 graph would send a value within rounding of
    a split the other way, on rows no sample can be relied on to hold."""
    estimator = prepared.estimator
    graphs: list[tuple[str, Any]] = [("float32 graph", _float_graph)]
    if onnx_trees.is_histogram_boosting(estimator):
        if onnx_trees.has_categorical_splits(estimator):
            graphs.append(("categorical tree ensemble (ai.onnx.ml 5)", _categorical_graph))
        else:
            graphs.append((_FLOAT64_GRAPH, _double_threshold_graph))
    elif not splits_on_thresholds(estimator):
        return graphs
    model = prepared.convertible
    if hasattr(model, "steps") and model.steps[0][0] == PASSTHROUGH_STEP:  # the user's names
        model = model.steps[1][1]
    computing = computing_step_before(model, estimator)
    if computing is None:
        return graphs
    graphs = [graph for graph in graphs if graph[0] == _FLOAT64_GRAPH]
    if not graphs:
        path, step = computing
        raise ConversionRefused(
            f"{path} ({type(step).__name__}) computes new numbers before the tree model "
            f"{type(estimator).__name__}, which the graph would compute in float32 where "
            "scikit-learn computes in float64: a row whose value lands within rounding of a "
            "split would be answered otherwise, and no sample can rule that out. What to "
            "do: trees need no scaling or projection; refit the model without that step"
        )
    return graphs


def _options(prepared: PreparedModel) -> dict[Any, Any]:
    options: dict[Any, Any] = {}
    if is_classifier(prepared.estimator):  # a prefix of a pipeline ends in a transformer
        if _takes_option(prepared.estimator, "zipmap"):
            options[id(prepared.estimator)] = {"zipmap": False}  # probabilities as a tensor
        else:
            # LinearSVC's converter has no probabilities and refuses "zipmap", yet skl2onnx
            # gives it to each classifier of a pipeline (pipelines too) without options of
            # its own: an option they take, at its default, keeps it out.
            for _, step in steps_of(prepared.convertible):
                if is_classifier(step):
                    options[id(step)] = {"nocl": False}
    for _, step in steps_of(prepared.convertible):
        if type(step).__name__ == "TfidfVectorizer":
            # The C locale: the graph's tokenizer then loads on any machine.
            options[id(step)] = {"locale": "C"}
    return options


def _takes_option(estimator: Any, option: str) -> bool:
    """Whether skl2onnx's converter for ``estimator`` declares ``option`` (True when it
    declares none, as the converters registered without options take any)."""
    from skl2onnx import get_model_alias
    from skl2onnx.common._registration import get_converter

    try:
        allowed = get_converter(get_model_alias(type(estimator))).get_allowed_options()
    except (KeyError, ValueError, AttributeError, RuntimeError):  # no converter: said later
        return True
    return allowed is None or option in allowed


def _to_onnx(prepared: PreparedModel, schema: FeatureSchema, numeric: Any) -> onnx.ModelProto:
    initial_types = [
        (c.name, numeric([None, 1]) if c.kind == NUMERIC else StringTensorType([None, 1]))
        for c in schema.columns
    ]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Field onnx.AttributeProto.ints", DeprecationWarning)
        graph: onnx.ModelProto = to_onnx(
            prepared.convertible,
            initial_types=initial_types,
            options=_options(prepared),
            target_opset=TARGET_OPSET,
        )
    _unknown_categories_as_zeros(graph)
    return graph


def _unknown_categories_as_zeros(graph: onnx.ModelProto) -> None:
    """Every one-hot encoder of the graph answers an unknown category with zeros instead
    of failing (skl2onnx fails unless the encoder ignores unknown ones). The schema
    refuses an unknown category where scikit-learn would raise, and makes it the
    infrequent category where scikit-learn answers it as that
    (:func:`training.sklearn_steps.encoded_columns`); what reaches the graph is a
    category scikit-learn answers with zeros."""
    for node in graph.graph.node:
        if node.op_type == "OneHotEncoder" and node.domain == "ai.onnx.ml":
            for attribute in node.attribute:
                if attribute.name == "zeros":
                    attribute.i = 1


def _float_graph(prepared: PreparedModel, schema: FeatureSchema) -> onnx.ModelProto:
    graph = _to_onnx(prepared, schema, FloatTensorType)
    floor_boosting_thresholds(graph, prepared.estimator)
    return compact_tree_regressors(graph)


def _double_threshold_graph(prepared: PreparedModel, schema: FeatureSchema) -> onnx.ModelProto:
    graph = _to_onnx(prepared, schema, DoubleTensorType)
    graph = onnx_trees.with_double_thresholds(graph, prepared.estimator)
    return onnx_trees.inputs_cast_to_double(graph)


def _categorical_graph(prepared: PreparedModel, schema: FeatureSchema) -> onnx.ModelProto:
    graph = _to_onnx(prepared, schema, FloatTensorType)
    return onnx_trees.with_categorical_trees(graph, prepared.estimator)


def _labels_only(graph: onnx.ModelProto) -> onnx.ModelProto:
    """The graph cut down to its label output (a classifier without probabilities: its
    second output holds decision scores, not probabilities)."""
    label = graph.graph.output[0].name
    extractor = onnx.utils.Extractor(graph)
    inputs = [i.name for i in graph.graph.input]
    cut = extractor.extract_model(inputs, [label])
    del cut.opset_import[:]
    cut.opset_import.extend(graph.opset_import)
    cut.ir_version = graph.ir_version
    return cut


def _tie_margins(
    user_model: Any, reference: JoblibPredictor, features: Features, prepared: PreparedModel
) -> np.ndarray | None:
    """For a classifier without probabilities: how far each row is from the decision
    boundary, by its decision function (near zero: a tie float32 cannot decide)."""
    if prepared.task != "classification" or prepared.has_probabilities:
        return None
    if not hasattr(user_model, "decision_function"):
        return None
    scores = np.asarray(user_model.decision_function(reference.frame(features)))
    if scores.ndim == 1:
        margins = np.abs(scores)
    else:
        ordered = np.sort(scores, axis=1)
        margins = ordered[:, -1] - ordered[:, -2]
    scale = max(1.0, float(np.max(np.abs(scores)))) if scores.size else 1.0
    # Decision scores are not probabilities: a row within DECISION_TIE of the boundary,
    # relative to the scores' scale, counts as a tie (as TIE_MARGIN does for probabilities).
    return np.asarray(margins / scale * (TIE_MARGIN / DECISION_TIE))


#: A label-only classifier's tie: decision scores within this share of their scale.
DECISION_TIE = 1e-4


def _float32_sensitive_rows(
    user_model: Any,
    task: Task,
    raw_frame: pd.DataFrame,
    reference: JoblibPredictor,
    features: Features,
) -> int:
    """Rows whose scikit-learn answer changes when their numbers are rounded to float32."""
    rounded = reference.predict(features)
    exact = np.asarray(user_model.predict(raw_frame[list(reference.schema.names)]))
    if task == "classification":
        return int(np.sum(exact != rounded.values))
    scale = max(1.0, float(np.max(np.abs(exact)))) if exact.size else 1.0
    return int(np.sum(np.abs(exact.astype(np.float64) - rounded.values) > 1e-6 * scale))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


# ----- refusals that say where and what to do ------------------------------------------------
def _refusal(
    prepared: PreparedModel,
    schema: FeatureSchema,
    failures: list[tuple[str, str]],
    locate: Callable[[], tuple[bool, str | None]] = lambda: (False, None),
) -> str:
    located = locate_unconvertible(prepared, schema)
    if located is not None:
        return located
    tried = "; ".join(f"{kind}: {why}" for kind, why in failures)
    if all(kind.endswith("(not built)") for kind, _ in failures):
        return f"no ONNX graph of the model could be built ({tried})"
    estimator = type(prepared.estimator).__name__
    told, differing = locate()
    if differing is not None:
        return (
            f"no ONNX graph reproduces the model closely enough to serve it ({tried}). {differing}"
        )
    if not told:
        return (
            f"no ONNX graph reproduces {estimator} closely enough to serve it ({tried}); which "
            "step differs could not be told (the steps' graphs cannot be compared one by one "
            f"here): refit with another setting of {estimator} or of a step before it and "
            "publish again"
        )
    return (
        f"no ONNX graph reproduces {estimator} closely enough to serve it ({tried}). The step "
        f"that differs is the estimator {estimator} (every step before it gives it what "
        "scikit-learn gives, to float32 rounding): refit it with another estimator (or "
        "another setting of it) and publish again"
    )


#: What to do about a step whose graph computes otherwise than scikit-learn, by class name.
_DIFFERING_ADVICE = {
    "OrdinalEncoder": "its graph encodes a missing or unknown value otherwise: impute "
    "missing values before it (a SimpleImputer in its branch)",
    "TargetEncoder": "its graph encodes a missing value otherwise: impute missing values before it",
    "KBinsDiscretizer": "its graph compares values with the bin edges in float32, so a value "
    "on or next to an edge lands in another bin: the quantile strategy puts edges on data "
    "values; strategy='kmeans' puts them between",
}


def _branch_apart(step: Any, apart: np.ndarray) -> tuple[str, Any] | None:
    """(name, transformer) of the first branch of a column transformer whose output
    columns hold a difference; None for another step, or when its columns are unknown."""
    indices = getattr(step, "output_indices_", None)
    if not isinstance(step, ColumnTransformer) or indices is None or apart.ndim != 2:
        return None
    for name, columns in indices.items():
        if apart[:, columns].any() and name in step.named_transformers_:
            return name, step.named_transformers_[name]
    return None


def locate_difference(
    prepared: PreparedModel, fitted: Any, schema: FeatureSchema, features: Features
) -> tuple[bool, str | None]:
    """(told, the step): the first step of the user's pipeline whose graph computes
    otherwise than the step itself on the sample rows, each given what scikit-learn
    gives it (or that scikit-learn fails on, given the rows as the functions give them),
    named with how many rows differ and what to do; (True, None) when every step before
    the estimator agrees to float32 rounding; (False, None) when it cannot be told (not
    a pipeline, a step whose graph does not convert or run alone, output not numbers)."""
    import onnxruntime

    model = prepared.convertible
    head: list[tuple[str, Any]] = []
    if hasattr(model, "steps") and model.steps[0][0] == PASSTHROUGH_STEP:
        head, model = model.steps[:1], model.steps[1][1]
    if not hasattr(model, "steps") or not hasattr(fitted, "steps"):
        return False, None
    # the user's steps, numbered as the user knows them (samplers are not in the graph)
    theirs = [
        (number, name, step)
        for number, (name, step) in enumerate(fitted.steps, start=1)
        if not hasattr(step, "fit_resample")
    ]
    ours = list(model.steps)
    if len(theirs) != len(ours) or len(ours) < 2:
        return False, None
    frame = JoblibPredictor(fitted, schema, prepared.task).frame(features)
    given = frame if hasattr(fitted, "feature_names_in_") else frame.to_numpy()
    for position in range(1, len(ours)):
        number, name, step = theirs[position - 1]
        try:
            done = Pipeline([(n, s) for _, n, s in theirs[:position]]).transform(given)
        except Exception as exc:  # scikit-learn itself fails on the rows the graph takes
            return True, (
                f"Step {number} {name!r} ({type(step).__name__}) fails on the sample rows as "
                f"the functions give them ({type(exc).__name__}: {_first_line(exc)}): they "
                "send a categorical column as text and numbers as float32"
            )
        try:
            expected = np.asarray(done.toarray() if hasattr(done, "toarray") else done, np.float64)
            prefix = Pipeline([*head, *ours[:position]])
            trial = PreparedModel(prefix, final_estimator(prefix), prepared.task, False)
            graph = _to_onnx(trial, schema, FloatTensorType).SerializeToString()
            session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
            feed = {i.name: features[i.name] for i in session.get_inputs()}
            got = np.asarray(session.run(None, feed)[0], np.float64)
        except Exception:  # converts or runs only within the whole pipeline: cannot tell
            return False, None
        if got.shape != expected.shape:
            return False, None
        gaps = np.abs(got - expected)
        apart = (gaps > 1e-4 * (1 + np.abs(expected))) | (np.isnan(got) != np.isnan(expected))
        rows = np.flatnonzero(apart.reshape(len(apart), -1).any(axis=1))
        if not len(rows):
            continue
        largest = (
            np.nanmax(np.where(apart, gaps, np.nan)) if np.isfinite(gaps[apart]).any() else None
        )
        where, branch = f"step {number} {name!r}", _branch_apart(step, apart)
        if branch is not None:
            where, step = f"{where} > branch {branch[0]!r}", branch[1]
        kinds = [type(s).__name__ for _, s in steps_of(step)][1:] or [type(step).__name__]
        kind = type(step).__name__
        advice = next(
            (_DIFFERING_ADVICE[k] for k in kinds if k in _DIFFERING_ADVICE),
            f"refit without {kind}, or with a setting its graph reproduces",
        )
        return True, (
            f"The step that differs is {where} ({kind}): its graph's output "
            f"differs from scikit-learn's on {len(rows)} of {len(frame)} sample rows (the "
            f"first is row {rows[0]}; "
            + (
                f"largest difference {largest:.3g}"
                if largest is not None
                else "missing on one side"
            )
            + f"). What to do: {advice}"
        )
    return True, None


#: What to do instead of a step no converter handles, by the step's class name.
_ADVICE = {
    "FunctionTransformer": "ONNX cannot run arbitrary Python: apply the function to the data "
    "before the model (and send the transformed values), or use a scikit-learn transformer "
    "that does the same (PowerTransformer or QuantileTransformer for a log-like scale)",
    "TfidfVectorizer": "use analyzer='word' or analyzer='char' (char_wb has no converter)",
    "CountVectorizer": "use analyzer='word' or analyzer='char' (char_wb has no converter)",
}


def locate_unconvertible(prepared: PreparedModel, schema: FeatureSchema) -> str | None:
    """The first step whose own conversion fails, named with its place and what to do.

    Converts growing prefixes of the pipeline; a failing column transformer is searched
    branch by branch. None when every step converts on its own (the refusal is then about
    the graph's answers, not a converter).
    """
    model = prepared.convertible
    steps = list(model.steps) if hasattr(model, "steps") else [("model", model)]
    # Behind the columns' pass-through, the user's own steps, numbered as the user knows them.
    offset = 0
    if steps[0][0] == PASSTHROUGH_STEP and hasattr(steps[1][1], "steps"):
        steps, offset = [steps[0], *steps[1][1].steps], 1
    for position in range(1, len(steps) + 1):
        prefix = Pipeline(steps[:position]) if position < len(steps) else model
        error = _conversion_error(prefix, prepared, schema)
        if error is None:
            continue
        name, step = steps[position - 1]
        where = (
            f"step {position - offset} {name!r} ({type(step).__name__})"
            if position > offset
            else "the columns"
        )
        if isinstance(step, ColumnTransformer) and position == 1:
            inner = _locate_in_columns(step, prepared, schema)
            if inner is not None:
                where, step, error = f"{where} > {inner[0]}", inner[1], inner[2]
        return _refusal_text(where, step, error)
    return None


def _locate_in_columns(
    transformer: ColumnTransformer, prepared: PreparedModel, schema: FeatureSchema
) -> tuple[str, Any, str] | None:
    """(where, step, error) of the first step of a column branch that fails on its own."""
    for name, branch, columns in transformer.transformers_:
        if isinstance(branch, str):
            continue
        listed = [columns] if isinstance(columns, str) else list(columns)
        names = [n if isinstance(n, str) else schema.names[int(n)] for n in listed]
        sub = FeatureSchema([c for c in schema.columns if c.name in names])
        steps = list(branch.steps) if hasattr(branch, "steps") else [("step", branch)]
        for position in range(1, len(steps) + 1):
            error = _conversion_error(Pipeline(steps[:position]), prepared, sub)
            if error is not None:
                step_name, step = steps[position - 1]
                where = f"branch {name!r}" + (
                    f" > step {position} {step_name!r}" if hasattr(branch, "steps") else ""
                )
                return f"{where} ({type(step).__name__})", step, error
    return None


def _conversion_error(model: Any, prepared: PreparedModel, schema: FeatureSchema) -> str | None:
    trial = PreparedModel(model, final_estimator(model), prepared.task, prepared.has_probabilities)
    try:
        _to_onnx(trial, schema, FloatTensorType)
    except Exception as exc:
        return f"{type(exc).__name__}: {_first_line(exc)}"
    return None


def _refusal_text(where: str, step: Any, error: str) -> str:
    kind = type(step).__name__
    advice = _ADVICE.get(kind)
    if advice is None and "MissingShapeCalculator" in error:
        ours = type(step).__module__.split(".")[0] == "sklearn"
        advice = (
            (f"skl2onnx has no converter for scikit-learn's {kind}" if ours
             else f"{kind} is not a scikit-learn class, so no converter knows it")
            + ": rewrite it with scikit-learn steps skl2onnx converts, or register a "
            "converter for it (skl2onnx.update_registered_converter)"
        )  # fmt: skip
    if advice is None:
        advice = f"replace {kind} by a step skl2onnx converts (see its supported operators)"
    return f"{where} cannot be converted to ONNX ({error}). What to do: {advice}"


# ----- XGBoost and LightGBM inside a pipeline -------------------------------------------------
_REGISTERED = False


def register_boosting_converters() -> list[str]:
    """Teach skl2onnx the XGBoost and LightGBM estimators whose packages are installed
    (onnxmltools' converters); returns the ones registered. Idempotent."""
    global _REGISTERED
    registered: list[str] = []
    if _REGISTERED:
        return registered
    _REGISTERED = True
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor
    except ImportError:
        pass
    else:
        update_registered_converter(
            XGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options=classifier_options,
        )
        update_registered_converter(
            XGBRegressor,
            "XGBoostXGBRegressor",
            calculate_linear_regressor_output_shapes,
            convert_xgboost,
        )
        registered += ["XGBClassifier", "XGBRegressor"]
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    except ImportError:
        pass
    else:
        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options=classifier_options,
        )
        update_registered_converter(
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
        )
        registered += ["LGBMClassifier", "LGBMRegressor"]
    return registered
