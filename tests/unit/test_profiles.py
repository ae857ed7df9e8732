"""Profiles and drift: exact merges, the baseline's documents, false alarms and real drift."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from predictor.models.registry import LoadedModel
from predictor.monitoring.drift import PREDICTION_LABEL, compare
from predictor.monitoring.statistics import noise_floor, psi
from predictor.profiling.baseline import (
    DEFAULT_THRESHOLDS,
    Baseline,
    baseline_from_documents,
    checked_thresholds,
)
from predictor.profiling.bins import PREDICTION, Bins, Counts, Layout, numeric_bins
from predictor.profiling.profiles import Profile
from tests.helpers import ROOT, Artifacts, loaded_model

WHITE = ROOT / "data" / "winequality-white-sample.csv"
RED = ROOT / "data" / "winequality-red.csv"

LAYOUT = Layout(
    (
        Bins("x", "numeric", 0.0, 10.0, (2.0, 5.0)),
        Bins("colour", "categorical", categories=("red", "white")),
    ),
    Bins(PREDICTION, "numeric", 0.0, 1.0, (0.5,)),
)


def _profile(draw: Any) -> Profile:
    profile = Profile.empty("m", "v1", LAYOUT)
    n = draw(st.integers(0, 6))
    values = st.one_of(st.floats(-5, 15), st.just(float("nan")))
    xs = draw(st.lists(values, min_size=n, max_size=n))
    colours = draw(
        st.lists(st.sampled_from(["red", "white", "rosé", "__missing__"]), min_size=n, max_size=n)
    )
    predictions = draw(st.lists(st.floats(-1, 2), min_size=n, max_size=n))
    features = {"x": np.asarray(xs, dtype=np.float32), "colour": np.asarray(colours, dtype=object)}
    profile.add_rows(LAYOUT, features, np.asarray(predictions))
    refused = draw(st.integers(0, 3))
    if refused:
        profile.add_refusals(refused, draw(st.lists(st.sampled_from(["x", None]), max_size=3)))
    return profile


profiles = st.composite(_profile)


def _same(a: Profile, b: Profile) -> bool:
    return a.to_dict() == b.to_dict()


@settings(max_examples=200, deadline=None)
@given(profiles(), profiles(), profiles())
def test_merging_profiles_is_associative_and_commutative(
    a: Profile, b: Profile, c: Profile
) -> None:
    assert _same(a.merged(b), b.merged(a))
    assert _same(a.merged(b).merged(c), a.merged(b.merged(c)))
    assert _same(a.merged(Profile.empty("m", "v1", LAYOUT)), a)
    # and a stored profile merges as the one in memory
    assert _same(Profile.from_dict(json.loads(json.dumps(a.to_dict())), LAYOUT), a)


def test_counts_go_to_the_documented_slots() -> None:
    bins = LAYOUT.features[0]
    counts = bins.count(np.asarray([np.nan, -1, 0, 1.9, 2, 4.9, 5, 10, 10.5], dtype=np.float32))
    # missing, below, [0,2), [2,5), [5,10], above
    assert counts.tolist() == [1, 1, 2, 2, 2, 1]
    colours = LAYOUT.features[1].count(
        np.asarray(["red", "__missing__", "rosé", "red"], dtype=object)
    )
    assert colours.tolist() == [1, 1, 2, 0]


def test_merging_refuses_profiles_of_other_bins_or_versions() -> None:
    other = Layout((Bins("x", "numeric", 0.0, 9.0, (2.0,)),), LAYOUT.prediction)
    with pytest.raises(ValueError, match="cannot merge"):
        Profile.empty("m", "v1", LAYOUT).merged(Profile.empty("m", "v1", other))
    with pytest.raises(ValueError, match="cannot merge"):
        Profile.empty("m", "v1", LAYOUT).merged(Profile.empty("m", "v2", LAYOUT))
    with pytest.raises(ValueError, match="other bins"):
        Profile.from_dict(Profile.empty("m", "v1", other).to_dict(), LAYOUT)
    with pytest.raises(ValueError, match="count"):
        Profile.from_dict({**Profile.empty("m", "v1", LAYOUT).to_dict(), "rows": -3}, LAYOUT)


def test_float32_inputs_fall_in_the_bins_their_training_values_did() -> None:
    values = np.asarray([0.1, 0.2, 0.3, 0.7, 0.99, 0.2, 0.2, 0.3], dtype=np.float32)
    bins = numeric_bins("v", values)
    # The same float32 values, as serving coerces them, count as training counted them.
    assert bins.count(values)[1] == 0
    assert bins.count(values)[-1] == 0
    again = np.asarray([float(v) for v in values.tolist()], dtype=np.float32)
    assert bins.count(again).tolist() == bins.count(values).tolist()


# ----- the wine baseline ----------------------------------------------------------------
@pytest.fixture(scope="module")
def model(wine_linear: Artifacts) -> LoadedModel:
    served = loaded_model(wine_linear)
    files = wine_linear.files
    baseline = baseline_from_documents(
        json.loads(files["statistics.json"]), json.loads(files["constraints.json"])
    )
    return LoadedModel(served.manifest, served.predictor, baseline)


def _window(model: LoadedModel, frame: pd.DataFrame) -> Profile:
    schema = model.predictor.schema
    columns = {name: frame[name].astype(str).tolist() for name in schema.names}
    validated = schema.validate(columns, len(frame), text=True)
    predictions = model.predictor.predict(validated.features).values
    assert model.baseline is not None
    profile = Profile.empty(model.name, model.version, model.baseline.layout)
    profile.add_rows(model.baseline.layout, validated.features, predictions)
    return profile


def _baseline(model: LoadedModel) -> Baseline:
    assert model.baseline is not None
    return model.baseline


def test_the_stored_baseline_is_the_training_data_counted(model: LoadedModel) -> None:
    red = pd.read_csv(RED, sep=";")
    baseline = _baseline(model)
    window = _window(model, red)
    assert baseline.rows == len(red) == window.rows
    for name, counts in baseline.training.columns.items():
        assert counts.counts.tolist() == window.columns[name].counts.tolist(), name
    assert all(c.status == "stable" and c.psi == 0 for c in compare(baseline, window).columns)


def test_samples_of_the_training_data_flag_no_drift(model: LoadedModel) -> None:
    """100 windows of 200 rows drawn from the training data: at least 95 show no drift
    (the noise floor is set for a 1% false alarm rate per window over all columns).
    """
    red = pd.read_csv(RED, sep=";")
    rng = np.random.default_rng(17)
    quiet = 0
    for _ in range(100):
        rows = rng.choice(len(red), size=200, replace=True)
        comparison = compare(_baseline(model), _window(model, red.iloc[rows]))
        quiet += not comparison.drifted and not comparison.violations
    assert quiet >= 95


def test_white_wines_are_flagged_on_the_features_that_moved(model: LoadedModel) -> None:
    """Every feature whose distribution really moved (a two-sample Kolmogorov-Smirnov
    statistic of 0.15 or more between the red and the white wines) is flagged as drift.
    """
    red, white = pd.read_csv(RED, sep=";"), pd.read_csv(WHITE, sep=";")
    moved = {
        c for c in model.predictor.schema.names if ks_2samp(red[c], white[c]).statistic >= 0.15
    }
    assert len(moved) >= 8  # white wines differ from red ones almost everywhere
    comparison = compare(_baseline(model), _window(model, white))
    assert set(comparison.drifted) - {PREDICTION_LABEL} == moved
    checks = {(v.feature_name, v.constraint_check_type) for v in comparison.violations}
    assert ("residual sugar", "range_check") in checks  # sweeter than any red in training


def test_only_the_shifted_features_are_flagged(model: LoadedModel) -> None:
    """Red wines with two features moved: those two drift, the other nine stay quiet."""
    red = pd.read_csv(RED, sep=";").sample(800, random_state=3)
    red["alcohol"] = red["alcohol"] + 1.5
    red["sulphates"] = red["sulphates"] * 1.4
    comparison = compare(_baseline(model), _window(model, red))
    assert set(comparison.drifted) - {PREDICTION_LABEL} == {"alcohol", "sulphates"}
    assert {c.name for c in comparison.columns if c.status == "stable"} == set(
        model.predictor.schema.names
    ) - {"alcohol", "sulphates"}


def test_psi_and_its_noise_floor() -> None:
    same = np.asarray([100, 100, 100, 100])
    assert psi(same, same) == 0
    assert psi(same, np.asarray([400, 0, 0, 0])) > 1
    # The floor falls as windows grow, and is infinite with no row.
    assert noise_floor(10, 50, 1600, 0.001) > noise_floor(10, 500, 1600, 0.001) > 0
    assert noise_floor(10, 0, 1600, 0.001) == float("inf")


def test_a_window_with_missing_values_and_refusals_breaks_its_constraints(
    model: LoadedModel,
) -> None:
    red = pd.read_csv(RED, sep=";").head(300)
    window = _window(model, red)
    window.columns["pH"].counts[0] += 60  # 60 rows without pH (imputed by the model)
    window.add_refusals(30, ["density"] * 30)
    checks = {
        (v.feature_name, v.constraint_check_type)
        for v in compare(_baseline(model), window).violations
    }
    assert ("pH", "completeness_check") in checks
    assert ("(all)", "schema_refusal_check") in checks


def test_fresh_draws_from_the_training_population_rarely_break_a_constraint() -> None:
    """New values from the training population: some fall outside the training range or
    are missing by chance; in small periods one such value is several percent of the rows,
    so the share alone would flag most periods. At most 5% of periods may be flagged.
    """
    rng = np.random.default_rng(5)
    names = [f"x{i}" for i in range(11)]
    training = {n: rng.normal(size=1600).astype(np.float32) for n in names}
    for values in training.values():
        values[rng.random(1600) < 0.02] = np.nan  # 2% missing, in training as later
    bins = tuple(numeric_bins(n, training[n]) for n in names)
    prediction = numeric_bins(PREDICTION, training["x0"] * 2)
    layout = Layout(bins, prediction)
    base = Profile.empty("", "", layout)
    base.add_rows(layout, training, training["x0"] * 2)
    baseline = Baseline(layout, base, {"thresholds": dict(DEFAULT_THRESHOLDS)})
    for rows in (30, 50, 80, 200):
        flagged = 0
        for _ in range(100):
            window = {n: rng.normal(size=rows).astype(np.float32) for n in names}
            for values in window.values():
                values[rng.random(rows) < 0.02] = np.nan
            profile = Profile.empty("m", "v", layout)
            profile.add_rows(layout, window, window["x0"] * 2)
            comparison = compare(baseline, profile)
            flagged += bool(comparison.violations or comparison.drifted)
        assert flagged <= 5, (rows, flagged)


def test_a_feature_called_prediction_is_counted_apart_from_the_predictions() -> None:
    layout = Layout(
        (Bins("prediction", "numeric", 0.0, 10.0, (5.0,)),),
        Bins(PREDICTION, "numeric", 100.0, 200.0, (150.0,)),
    )
    profile = Profile.empty("m", "v", layout)
    profile.add_rows(layout, {"prediction": np.asarray([1.0, 6.0])}, np.asarray([120.0, 170.0]))
    assert profile.columns["prediction"].counts.tolist() == [0, 0, 1, 1, 0]
    assert profile.prediction is not None
    assert profile.prediction.counts.tolist() == [0, 0, 1, 1, 0]
    again = Profile.from_dict(json.loads(json.dumps(profile.to_dict())), layout)
    assert _same(again, profile)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"rows": 10**30}, "whole count"),
        ({"rows": 4.0}, "whole count"),
        ({"rows": True}, "whole count"),
        ({"columns": {"x": {"counts": [1.7, 0, 0, 0, 0, 0]}}}, "whole count"),
        ({"columns": {"x": {"counts": ["3", 0, 0, 0, 0, 0]}}}, "whole count"),
        (
            {"columns": {"x": {"counts": [1, 0, 0, 0, 0, 0], "min": float("nan"), "max": 1.0}}},
            "finite",
        ),
        ({"columns": {"x": {"counts": [1, 0, 0, 0, 0, 0], "min": 1.0}}}, "minimum"),
        ({"columns": {"x": {"counts": [1, 0, 0]}}}, "list of 6"),
        ({"refusals": {str(i): 1 for i in range(10_001)}}, "at most"),
        ({"model": 7}, "text"),
    ],
)
def test_a_malformed_profile_is_refused_with_a_reason(change: dict[str, Any], reason: str) -> None:
    document = {**Profile.empty("m", "v1", LAYOUT).to_dict(), **change}
    with pytest.raises(ValueError, match=reason):
        Profile.from_dict(document, LAYOUT)


def test_counts_too_large_to_add_exactly_are_refused() -> None:
    big = Counts(np.asarray([2**61 + 1, 0], dtype=np.int64))
    assert int(big.merged(Counts(np.asarray([2**61 - 1, 0]))).counts[0]) == 2**62
    with pytest.raises(ValueError, match="too large"):
        big.merged(big)


def test_thresholds_are_checked() -> None:
    assert checked_thresholds({"drift_psi": 0.2})["drift_psi"] == 0.2
    for bad in ({"drift_psi": "0.25"}, {"false_alarm_rate": 0}, {"drift_psi": float("nan")},
                {"no_such": 1}):  # fmt: skip
        with pytest.raises(ValueError, match=r"threshold|number"):
            checked_thresholds(bad)
