"""A fitted scikit-learn model's steps, and what its encoders learned for a missing value.

The functions give a graph a missing categorical value as :data:`MISSING_CATEGORY`. The
training job's pipelines are fitted on that text, so they learned it as a category. A
model fitted elsewhere saw a missing value as NaN (what pandas reads for an empty cell);
scikit-learn's one-hot encoder keeps NaN as a category of its own when it saw one, and
skl2onnx writes that category as the text "nan", which no missing value ever matches.
So such a model is converted from a copy whose one-hot encoders hold
:data:`MISSING_CATEGORY` where they hold NaN (:func:`with_placeholder_for_missing`), and
the model itself is given NaN where the functions give :data:`MISSING_CATEGORY`
(:func:`missing_value_of`): both then answer for a missing value as the model was fitted.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble._forest import BaseForest
from sklearn.ensemble._gb import BaseGradientBoosting
from sklearn.feature_selection import SelectorMixin
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder
from sklearn.tree import BaseDecisionTree

from predictor.values import MISSING_CATEGORY


def steps_of(model: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, object) of the model and every step inside it (pipelines, column transformers)."""
    here = path or type(model).__name__
    yield here, model
    if isinstance(model, Pipeline) or hasattr(model, "steps"):
        for position, (name, step) in enumerate(model.steps, start=1):
            if step is not None and step != "passthrough":
                yield from steps_of(step, f"{here} > step {position} {name!r}")
    elif isinstance(model, ColumnTransformer):
        for name, transformer, _ in getattr(model, "transformers_", model.transformers):
            if not isinstance(transformer, str):
                yield from steps_of(transformer, f"{here} > {name!r}")
    elif isinstance(model, FeatureUnion):
        for name, transformer in model.transformer_list:
            if not isinstance(transformer, str):
                yield from steps_of(transformer, f"{here} > {name!r}")


def final_estimator(model: Any) -> Any:
    """The step that predicts: the last step of a pipeline (recursively), or the model."""
    while hasattr(model, "steps"):
        model = model.steps[-1][1]
    return model


def is_missing(value: Any) -> bool:
    """Whether an encoder's category is its missing value (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _learned_categories(model: Any) -> Iterator[tuple[Any, list[Any]]]:
    """(encoder, its categories for one column) for every fitted encoder in ``model``."""
    for _, step in steps_of(model):
        for categories in getattr(step, "categories_", None) or ():
            yield step, list(categories)


def missing_value_of(model: Any) -> Any:
    """What ``model`` was fitted with for a missing categorical value: the text
    :data:`MISSING_CATEGORY` if one of its encoders learned it (the training job's
    pipelines), NaN otherwise."""
    for _, categories in _learned_categories(model):
        if MISSING_CATEGORY in categories:
            return MISSING_CATEGORY
    return math.nan


def with_placeholder_for_missing(model: Any) -> tuple[Any, int]:
    """``model``, or a copy whose one-hot encoders hold :data:`MISSING_CATEGORY` where
    they learned a missing value as a category; and how many columns' categories changed.
    ``model`` itself is never changed (it is published as it came)."""
    if not any(
        isinstance(encoder, OneHotEncoder) and any(is_missing(c) for c in categories)
        for encoder, categories in _learned_categories(model)
    ):
        return model, 0
    converted = copy.deepcopy(model)
    changed = 0
    for _, step in steps_of(converted):
        if not isinstance(step, OneHotEncoder) or not hasattr(step, "categories_"):
            continue
        for categories in step.categories_:
            if categories.dtype != object:
                continue  # a numeric column's: NaN stays (the functions send NaN too)
            for position, category in enumerate(categories):
                if is_missing(category) and MISSING_CATEGORY not in categories:
                    categories[position] = MISSING_CATEGORY
                    changed += 1
    if not changed:
        return model, 0
    return converted, changed


#: Steps a float32 graph computes as scikit-learn does, as far as a tree's split can tell:
#: an imputer's fill and an encoder's codes are the same float32 once scikit-learn's
#: trees cast their input to float32; selectors only pick columns.
_EXACT_STEPS = (SimpleImputer, MissingIndicator, OneHotEncoder, OrdinalEncoder, SelectorMixin)
_CONTAINERS = (Pipeline, ColumnTransformer, FeatureUnion)
#: Estimators that split on thresholds of their float32 inputs (histogram gradient
#: boosting is served in float64 after a computing step instead: training.onnx_trees).
_TREE_MODELS = (BaseDecisionTree, BaseForest, BaseGradientBoosting)
_TREE_LIBRARIES = ("xgboost", "lightgbm")


def splits_on_thresholds(estimator: Any) -> bool:
    """Whether ``estimator`` is a tree model that compares float32 inputs with thresholds,
    or an ensemble (voting, stacking, bagging, boosting) with one among its members."""
    if isinstance(estimator, _TREE_MODELS):
        return True
    if type(estimator).__module__.split(".")[0] in _TREE_LIBRARIES:
        return True
    members = list(np.ravel(np.asarray(getattr(estimator, "estimators_", []), dtype=object)))
    members.append(getattr(estimator, "final_estimator_", None))
    return any(m is not None and splits_on_thresholds(m) for m in members)


def computing_step_before(model: Any, estimator: Any) -> tuple[str, Any] | None:
    """The path of the first step before ``estimator`` that computes new numbers (a
    scaler, a projection...): a float32 graph computes them in float32 where scikit-learn
    computes in float64, so a value that lands within rounding of a split goes the other
    way; with the step. None when every step before it is exact (:data:`_EXACT_STEPS`)."""
    for path, step in steps_of(model):
        if step is estimator:
            return None
        if isinstance(step, FunctionTransformer) and step.func is None:
            continue  # "passthrough" in a fitted column transformer
        if not isinstance(step, _CONTAINERS + _EXACT_STEPS):
            return path, step
    return None


#: The one-hot encoders' ways of answering an unknown category as the infrequent one.
_TO_INFREQUENT = ("infrequent_if_exist", "warn")


@dataclass(frozen=True, slots=True)
class EncodedColumn:
    """What a model's encoder learned for one categorical input column."""

    #: The categories it learned, as text (a missing value is not one).
    categories: list[str]
    #: A one-hot encoder that learned a missing value as a category (converted to take
    #: the functions' own, :func:`with_placeholder_for_missing`): the column takes one.
    learned_missing: bool
    #: It raises on a category it did not learn (one-hot or ordinal
    #: ``handle_unknown="error"``, scikit-learn's default).
    refuses_unknown: bool
    #: The known category it answers an unknown one as: its first infrequent category
    #: (``handle_unknown`` "infrequent_if_exist" or "warn" with infrequent categories).
    unknown_as: str | None
    #: A one-hot encoder's categories, or those of an encoder that raises on others,
    #: when they are numbers (a numeric column's values).
    values: list[float] | None = None
    #: The categories it learned are text (a column a CSV reader may take for numbers,
    #: such as zip codes).
    learned_text: bool = False


def _column_names(selected: Any, names: Any) -> list[str] | None:
    """A column transformer branch's columns by name (selected by names, positions, a
    mask or a slice of the names it was fitted with); None when they have no names."""
    if isinstance(selected, str):
        return None  # one column as a 1-D input: not a one-hot encoder's
    if isinstance(selected, slice) or not all(isinstance(c, str) for c in selected):
        if names is None:
            return None
        try:
            picked = np.asarray(names, dtype=object)[selected]
        except (IndexError, TypeError, ValueError):
            return None
        return [str(name) for name in np.atleast_1d(picked)]
    return list(selected)


def _keeps_columns(step: Any) -> bool:
    """Whether ``step`` passes its input columns on in place, values unchanged but for a
    missing one (an imputer of NaN that dropped no column; indicators come after them)."""
    if not isinstance(step, SimpleImputer) or not is_missing(step.missing_values):
        return False  # an imputer of "?" changes a value the encoder then learns otherwise
    try:
        inputs = [f"x{i}" for i in range(step.n_features_in_)]
        names = getattr(step, "feature_names_in_", None)
        out = list(step.get_feature_names_out(names if names is not None else inputs))
    except (AttributeError, ValueError):
        return False
    return out[: len(inputs)] == [str(c) for c in (names if names is not None else inputs)]


def _input_facing(model: Any) -> Any:
    """The step that is given the model's own input columns: the first step of its
    pipeline (recursively), past imputers that keep the columns in place."""
    step = model
    while hasattr(step, "steps"):
        steps = [s for _, s in step.steps if s is not None and s != "passthrough"]
        while len(steps) > 1 and _keeps_columns(steps[0]):
            steps.pop(0)
        if not steps:
            return None
        step = steps[0]
    return step


def _encoded(encoder: Any, columns: list[str]) -> dict[str, EncodedColumn]:
    """column -> what ``encoder`` learned for it (its columns in order)."""
    found = {}
    one_hot = isinstance(encoder, OneHotEncoder)
    handling = getattr(encoder, "handle_unknown", None)  # a TargetEncoder has none
    # scikit-learn's one-hot and ordinal encoders raise on what they did not learn
    refuses = handling == "error" and isinstance(encoder, OneHotEncoder | OrdinalEncoder)
    infrequent = getattr(encoder, "infrequent_categories_", None) or []
    for position, (column, categories) in enumerate(
        zip(columns, encoder.categories_, strict=False)
    ):
        rare = infrequent[position] if position < len(infrequent) else None
        learned = [c for c in categories if not is_missing(c)]
        numbers = all(isinstance(c, int | float | np.number) for c in learned)
        found[column] = EncodedColumn(
            categories=[str(c) for c in learned],
            learned_missing=one_hot and any(map(is_missing, categories)),
            refuses_unknown=refuses,
            unknown_as=(
                str(rare[0])
                if one_hot and handling in _TO_INFREQUENT and rare is not None and len(rare)
                else None
            ),
            values=[float(c) for c in learned] if (one_hot or refuses) and numbers else None,
            learned_text=any(isinstance(c, str) for c in learned),
        )
    return found


def encoded_columns(model: Any, input_names: list[str] | None = None) -> dict[str, EncodedColumn]:
    """column -> what the one-hot or ordinal encoder given that input column as it came
    learned: the model's first step, or the first step of a branch of the column
    transformer that is (past imputers of missing values). ``input_names``: the model's
    input columns in order, for a model fitted on an array (no names of its own)."""
    found: dict[str, EncodedColumn] = {}
    facing = _input_facing(model)
    if facing is None:
        return found
    names = getattr(facing, "feature_names_in_", None)
    if names is None:
        names = input_names
    if hasattr(facing, "categories_"):
        if names is not None:
            found.update(_encoded(facing, [str(c) for c in names]))
        return found
    for _, transformer, selected in getattr(facing, "transformers_", ()):
        if isinstance(transformer, str):
            continue
        encoder = _input_facing(transformer)  # a later step sees values made by another
        columns = _column_names(selected, names)
        if hasattr(encoder, "categories_") and columns is not None:
            found.update(_encoded(encoder, columns))
    return found


def columns_read(model: Any, names: list[str]) -> list[str] | None:
    """The input columns (of ``names``, the model's own, in order) that ``model`` reads,
    when its first step is a column transformer that drops the others (``remainder``
    "drop", scikit-learn's default, or branches of "drop"); None when it reads every
    column or that cannot be told. scikit-learn predicts without the dropped columns, so
    the functions need not ask for them. Told only when every branch names its columns:
    skl2onnx selects a branch given by position from the graph's inputs by position."""
    step = model
    while hasattr(step, "steps"):
        steps = [
            s for _, s in step.steps
            if s is not None and s != "passthrough" and not hasattr(s, "fit_resample")
        ]  # fmt: skip
        if not steps:
            return None
        step = steps[0]
    if not isinstance(step, ColumnTransformer) or not hasattr(step, "transformers_"):
        return None
    read: set[str] = set()
    for name, transformer, selected in step.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if name == "remainder" or isinstance(selected, str):
            return None  # the remainder kept, or one column as a 1-D input
        selected = list(np.atleast_1d(np.asarray(selected, dtype=object)))
        if not all(isinstance(c, str) for c in selected):
            return None
        read.update(selected)
    if read >= set(names):
        return None
    return [name for name in names if name in read]


def unfitted_reason(model: Any) -> str | None:
    """Why ``model`` is not a fitted model that predicts; None when it is one."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not callable(getattr(model, "predict", None)):
        return f"a {type(model).__name__} is not a model (it has no predict method)"
    try:
        check_is_fitted(model)
    except NotFittedError:
        return f"the {type(model).__name__} is not fitted: fit it, then save it"
    except TypeError:  # not a scikit-learn estimator: its converter decides
        return None
    return None
