"""Reading a batch output's rows back for labels: the appended columns, counted from the end."""

from __future__ import annotations

from predictor.monitoring.batch_rows import _rows


def test_an_input_with_its_own_prediction_and_probabilities_keeps_the_appended_ones() -> None:
    # A classifier's output scored again: its old prediction, probabilities and id are
    # input columns now, before the ones this run appended.
    header = "x,prediction,probability_a,probability_b,inference_id,time"
    appended = "prediction,probability_a,probability_b,inference_id"
    lines = [
        f"{header},{appended}\n",
        "1.5,a,0.9,0.1,old@1:2,2024-01-01T00:00,b,0.25,0.75,new@2:2\n",
        "2.5,b,0.2,0.8,old@1:3,2024-01-01T00:00,a,0.6,0.4,new@2:3\n",
    ]
    names, rows = _rows(iter(lines), {"new@2:3"}, "99.000", ["x"])
    assert names == ("inference_id", "time", "prediction", "proba:a", "proba:b", "x")
    assert rows == [["new@2:3", "99.000", "a", "0.6", "0.4", "2.5"]]


def test_a_labels_only_model_appends_no_probabilities() -> None:
    lines = ["x,probability_a,prediction,inference_id\n", "1,0.5,a,new@2:2\n"]
    names, rows = _rows(iter(lines), {"new@2:2"}, "1.000", ["x"])
    assert names == ("inference_id", "time", "prediction", "x")
    assert rows == [["new@2:2", "1.000", "a", "1"]]


def test_a_row_is_read_as_the_run_read_its_input() -> None:
    lines = ["x,c,prediction,inference_id\n", '2, "a,b",1.5,new@2:2\n']
    names, rows = _rows(iter(lines), {"new@2:2"}, "1.000", ["x", "c"])
    assert names == ("inference_id", "time", "prediction", "x", "c")
    assert rows == [["new@2:2", "1.000", "1.5", "2", "a,b"]]
