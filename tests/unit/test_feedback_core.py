"""The feedback loop's pure parts: labels files read with every bad line numbered, kept
predictions round-tripped, live metrics equal to scikit-learn's, and the quality verdict."""

from __future__ import annotations

import gzip
import json
import time

import numpy as np
import pytest
from sklearn import metrics as sk

from predictor.monitoring import kept
from predictor.monitoring import labels as labels_module
from predictor.monitoring.labels import UnreadableLabelsError, read_labels, typed_label
from predictor.monitoring.quality import (
    MIN_ROWS,
    classification_quality,
    judge,
    regression_quality,
)
from predictor.monitoring.quality_html import quality_section
from predictor.rows import generated_time, new_inference_id


# ----- labels files ----------------------------------------------------------------------
def test_csv_labels_with_their_lines_and_every_bad_line_numbered() -> None:
    text = (
        "label,inference_id\n"  # any column order
        "5,a-1\n"
        '"6","id, with comma"\n'
        "\n"
        "7\n"
        "8,\n"
        ",b-2\n"
        "6.5,c-3\n"
    )
    found = read_labels("labels/wine/june.csv", text.encode())
    assert [(x.inference_id, x.value, x.line) for x in found.labels] == [
        ("a-1", "5", 2),
        ("id, with comma", "6", 3),
        ("c-3", "6.5", 8),
    ]
    assert found.bad_lines == [
        (4, "blank line"),
        (5, "expected 2 fields, got 1"),
        (6, "no inference_id"),
        (7, "no label"),
    ]


def test_sagemaker_ground_truth_and_plain_json_lines_gzipped() -> None:
    lines = [
        {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "x"}},
        {
            "groundTruthData": {"data": '"yes"', "encoding": "JSON"},
            "eventMetadata": {"eventId": "y"},
        },
        {"inference_id": "z", "label": True},
        {"inference_id": "w", "label": [1, 2]},
        ["not", "an", "object"],
    ]
    body = "\n".join(json.dumps(line) for line in lines) + "\n{broken\n"
    found = read_labels("labels/m/batch.jsonl.gz", gzip.compress(body.encode()))
    assert [(x.inference_id, x.value) for x in found.labels] == [
        ("x", "1"),
        ("y", "yes"),
        ("z", "True"),
    ]
    assert [(line, why[:20]) for line, why in found.bad_lines] == [
        (4, "a label must be a si"),
        (5, "not a JSON object"),
        (6, "not JSON: Expecting "),
    ]


def test_semicolon_labels_and_integer_ids_as_pandas_writes_them() -> None:
    found = read_labels("labels/wine/semi.csv", b'inference_id;label\r\ny-0;5\r\n"a;b";6\r\n')
    assert [(x.inference_id, x.value) for x in found.labels] == [("y-0", "5"), ("a;b", "6")]
    assert found.bad_lines == []
    lines = [{"inference_id": 42, "label": 5}, {"inference_id": 4.5, "label": 5},
             {"inference_id": True, "label": 5}, {"inference_id": None, "label": 5}]  # fmt: skip
    found = read_labels("labels/wine/ids.jsonl", "\n".join(map(json.dumps, lines)).encode())
    assert [(x.inference_id, x.value) for x in found.labels] == [("42", "5")]
    assert found.bad_lines == [
        (2, "inference_id must be text, not 4.5"),
        (3, "inference_id must be text, not True"),
        (4, "no inference_id"),
    ]


def test_a_stray_quote_costs_its_own_line_only_and_booleans_read_as_classes() -> None:
    text = 'inference_id,label\n"a-1,5\nb-2,6\nc-3,7\n'
    found = read_labels("labels/m/q.csv", text.encode())
    assert [(x.inference_id, x.line) for x in found.labels] == [("b-2", 3), ("c-3", 4)]
    assert [line for line, _ in found.bad_lines] == [2]
    assert typed_label("True", {"task": "classification", "classes": [False, True]}) == "True"
    assert typed_label("true", {"task": "classification", "classes": [False, True]}) == "True"
    assert typed_label("7.0", {"task": "classification", "classes": [5, 7]}) == "7"
    assert typed_label("maybe", {"task": "classification", "classes": ["no", "yes"]}) is None


def test_a_label_follows_the_inputs_number_rule() -> None:
    regression = {"task": "regression"}
    assert typed_label("5.25", regression) == "5.25"
    assert typed_label(" 6 ", regression) == " 6 "
    # "1_0" and other digits Python reads, and a label whose square is not finite, are
    # refused as the API refuses such inputs (a label of 1e200 stopped the whole report)
    for text in ("1_0", "\uff16", "\u0665", "1e200", "inf", "NaN", ""):
        assert typed_label(text, regression) is None, text
    assert typed_label("1_0", {"task": "classification", "classes": [10, 5]}) is None


def test_a_file_of_too_many_labels_is_refused_before_it_is_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(labels_module, "MAX_LABELS", 3)
    text = "inference_id,label\n" + "".join(f"i-{n},5\n" for n in range(1000))
    with pytest.raises(UnreadableLabelsError, match="more than 3 labels"):
        read_labels("labels/m/big.csv", text.encode())


def test_only_ids_this_product_generates_read_as_times() -> None:
    now = time.time()
    assert generated_time(new_inference_id(), now) == pytest.approx(now, abs=2)
    assert generated_time("a1b2c3d4e5f60718293a4b5c6d7e8f90", now) is None  # a uuid4().hex
    assert generated_time("f" * 32, now) is None  # the year 2527
    assert generated_time("0" * 32, now) is None  # 1970
    assert generated_time("order-17", now) is None


@pytest.mark.parametrize(
    ("key", "body", "says"),
    [
        ("labels/m/notes.txt", b"inference_id,label\n", "not a labels file"),
        ("labels/m/a.csv.gz", b"inference_id,label\n", "not gzip"),
        ("labels/m/a.csv", b"", "the file is empty"),
        ("labels/m/a.csv", b"id,value\n1,2\n", "must name inference_id and label"),
    ],
)
def test_a_file_that_cannot_be_labels_says_why(key: str, body: bytes, says: str) -> None:
    with pytest.raises(UnreadableLabelsError, match=says):
        read_labels(key, body)


# ----- kept predictions ------------------------------------------------------------------
def test_kept_predictions_round_trip_with_probabilities_and_features() -> None:
    keeping = kept.KeptPredictions("w1")
    features = {"tenure": np.array([3.0, np.nan]), "plan": np.array(["basic", "team"], object)}
    keeping.add(
        "churn", "v1", ("no", "yes"), features, np.array(["yes", "no"], object),
        ["id-1", "id-2"], [1_800_000_000.0, 1_800_000_001.5], np.array([[0.2, 0.8], [0.9, 0.1]]),
    )  # fmt: skip
    (block,) = keeping._blocks.values()
    rows = list(kept.read_kept(kept.encode(block.classes, block.columns, block.rows)))
    assert [(r.inference_id, r.time, r.prediction) for r in rows] == [
        ("id-1", 1_800_000_000.0, "yes"),
        ("id-2", 1_800_000_001.5, "no"),
    ]
    assert rows[0].cells["proba:yes"] == "0.8"
    assert rows[0].cells["plan"] == "basic"
    assert rows[1].cells["tenure"] == ""  # a missing value stays missing


# ----- live metrics ----------------------------------------------------------------------
def test_regression_metrics_equal_scikit_learn_s_and_their_interval_holds_them() -> None:
    rng = np.random.default_rng(0)
    labels = rng.normal(5.6, 0.8, 500)
    predictions = labels + rng.normal(0, 0.6, 500)
    quality = regression_quality(predictions, labels)
    assert quality.metrics["mae"] == pytest.approx(sk.mean_absolute_error(labels, predictions))
    assert quality.metrics["mse"] == pytest.approx(sk.mean_squared_error(labels, predictions))
    assert quality.metrics["r2"] == pytest.approx(sk.r2_score(labels, predictions))
    for name, (low, high) in quality.intervals.items():
        assert low < quality.metrics[name] < high
    # The 95% interval holds the true MSE (0.36 for this noise) about 95 times in 100.
    covered = 0
    for seed in range(200):
        noisy = np.random.default_rng(seed).normal(0, 0.6, 200)
        low, high = regression_quality(labels[:200] + noisy, labels[:200]).intervals["mse"]
        covered += low < 0.36 < high
    assert 180 <= covered <= 200


def test_classification_metrics_equal_scikit_learn_s() -> None:
    rng = np.random.default_rng(1)
    labels = list(rng.choice(["no", "yes", "maybe"], 300))
    predictions = [y if rng.random() < 0.7 else "no" for y in labels]
    classes = ["maybe", "no", "yes"]
    probabilities = rng.dirichlet([1, 1, 1], 300)
    quality = classification_quality(predictions, labels, probabilities, classes)
    assert quality.metrics["accuracy"] == pytest.approx(sk.accuracy_score(labels, predictions))
    assert quality.metrics["f1_macro"] == pytest.approx(
        sk.f1_score(labels, predictions, average="macro")
    )
    assert quality.metrics["log_loss"] == pytest.approx(
        sk.log_loss(labels, probabilities, labels=classes)
    )
    low, high = quality.intervals["accuracy"]
    assert 0 < low < quality.metrics["accuracy"] < high < 1


def test_the_verdict_needs_enough_rows_and_a_drop_beyond_the_interval() -> None:
    holdout = {"holdout": {"mse": 0.40}, "primary": "mse", "higher_is_better": False}
    rng = np.random.default_rng(2)
    labels = rng.normal(5.6, 0.8, 400)
    few = judge(regression_quality(labels[:10] + 0.5, labels[:10]), holdout)
    assert not few.dropped
    assert few.verdict.startswith(f"10 label(s): too few to judge (at least {MIN_ROWS})")
    same = judge(regression_quality(labels + rng.normal(0, 0.63, 400), labels), holdout)
    assert not same.dropped
    assert same.verdict.startswith("holding: mse")
    worse = judge(regression_quality(labels + rng.normal(0, 1.0, 400), labels), holdout)
    assert worse.dropped
    assert worse.verdict.startswith("dropped: mse")
    assert "against 0.4 on the holdout" in worse.verdict
    # one label far off: an MSE of thousands is not "holding", though the interval of
    # its mean reaches the holdout's value
    extreme = labels.copy()
    extreme[0] = 1_000.0
    one_off = judge(regression_quality(labels + rng.normal(0, 0.63, 400), extreme), holdout)
    assert not one_off.dropped
    assert one_off.metrics["mse"] > 2_000
    assert one_off.verdict.startswith("uncertain: mse"), one_off.verdict
    assert "more than 5% worse, with an interval down to 0" in one_off.verdict
    # a few labels, worse by chance within a trustworthy interval: holding
    noisy = judge(regression_quality(labels[:40] + rng.normal(0, 0.75, 40), labels[:40]), holdout)
    assert noisy.metrics["mse"] > 0.42
    assert noisy.intervals["mse"][0] > 0
    assert noisy.verdict.startswith("holding: mse"), noisy.verdict
    page = quality_section({"quality": {"v1": one_off.to_dict()}})
    assert "<span class='status moderate'>uncertain</span>" in page
    accuracy = {"holdout": {"accuracy": 0.9}, "primary": "accuracy", "higher_is_better": True}
    labels_text = ["a"] * 200
    half_right = ["a" if i % 2 else "b" for i in range(200)]
    assert judge(classification_quality(half_right, labels_text), accuracy).dropped
    assert not judge(classification_quality(labels_text, labels_text), accuracy).dropped
