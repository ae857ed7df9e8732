"""Chunk scoring is pure: records in, output text and error rows out; no S3 involved."""

from __future__ import annotations

import io
from typing import Any

import pytest

from predictor.batch.chunks import ChunkScorer, error_lines
from predictor.errors import MissingColumnsError
from predictor.io.csv.lines import open_text
from predictor.io.csv.stream import CsvStream
from predictor.models.registry import LoadedModel
from tests.helpers import HEADER, ROWS, Artifacts, loaded_model


def score_text(model: LoadedModel, text: str, chunk_rows: int = 3) -> tuple[str, list[Any], Any]:
    stream = CsvStream(open_text(io.BytesIO(text.encode()), gzipped=False))
    scorer = ChunkScorer(model, stream.columns, stream.delimiter)
    output, problems = scorer.output_header(stream.header_raw), []
    for chunk in stream.chunks(chunk_rows, scorer.check_record):
        text_out, found = scorer.score(chunk)
        output += text_out
        problems += found
    return output, problems, scorer.rows


def test_good_rows_keep_their_text_and_gain_a_prediction(wine_linear: Artifacts) -> None:
    text = "\n".join([HEADER, *ROWS[:7]]) + "\n"
    output, problems, rows = score_text(loaded_model(wine_linear), text)
    lines = output.splitlines()
    assert lines[0] == HEADER + ";prediction"
    assert [line.rsplit(";", 1)[0] for line in lines[1:]] == ROWS[:7]
    assert all(3.0 < float(line.rsplit(";", 1)[1]) < 8.0 for line in lines[1:])
    assert problems == []
    assert rows.to_dict() == {"read": 7, "scored": 7, "rejected": 0}


def test_bad_rows_become_error_rows_with_their_line(wine_linear: Artifacts) -> None:
    bad = ROWS[1].replace(";", ";abc;", 1).split(";")
    del bad[2]
    lines = [HEADER, ROWS[0], ";".join(bad), "", ROWS[2], ROWS[3] + ";9"]
    output, problems, rows = score_text(loaded_model(wine_linear), "\n".join(lines) + "\n")
    assert len(output.splitlines()) == 1 + 2
    assert [(p[0], p[1], p[2][:12]) for p in problems] == [
        ("3", "volatile acidity", "not a number"),
        ("4", "", "blank line"),
        ("6", "", "expected 12 "),
    ]
    assert rows.to_dict() == {"read": 5, "scored": 2, "rejected": 3}
    assert error_lines(problems[:1]).decode().startswith("3,volatile acidity,not a number")


def test_classifiers_append_the_label_and_one_probability_per_class(
    churn_classifier: Artifacts,
) -> None:
    text = "tenure months,plan,monthly fee\n3,basic,20.5\n50,team,99\n"
    output, problems, _ = score_text(loaded_model(churn_classifier), text)
    header, *rows = output.splitlines()
    assert header.endswith(",prediction,probability_no,probability_yes")
    for row in rows:
        label, p_no, p_yes = row.split(",")[-3:]
        assert label in ("yes", "no")
        assert float(p_no) + float(p_yes) == pytest.approx(1.0, abs=1e-6)
    assert problems == []


def test_required_columns_missing_is_an_input_error(wine_linear: Artifacts) -> None:
    with pytest.raises(MissingColumnsError, match="alcohol"):
        ChunkScorer(loaded_model(wine_linear), ["colour", "size"], ";")
