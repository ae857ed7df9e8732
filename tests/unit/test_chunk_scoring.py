"""Chunk scoring is pure: records in, output text and error rows out; no S3 involved."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from predictor.batch.chunks import ChunkScorer, RowIds, error_lines
from predictor.batch_keys import parse_row_id, row_id_prefix, same_upload
from predictor.errors import MissingColumnsError
from predictor.io.csv.lines import open_text
from predictor.io.csv.stream import CsvStream
from predictor.models.registry import LoadedModel
from tests.helpers import HEADER, ROWS, Artifacts, loaded_model


def score_text(
    model: LoadedModel, text: str, chunk_rows: int = 3, ids: RowIds | None = None
) -> tuple[str, list[Any], Any]:
    stream = CsvStream(open_text(io.BytesIO(text.encode()), gzipped=False))
    scorer = ChunkScorer(model, stream.columns, stream.delimiter, ids or RowIds("in/a.csv@e1:"))
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
    assert lines[0] == HEADER + ";prediction;inference_id"
    assert [line.rsplit(";", 2)[0] for line in lines[1:]] == ROWS[:7]
    assert all(3.0 < float(line.rsplit(";", 2)[1]) < 8.0 for line in lines[1:])
    # Each row is named by the input's key and the line it starts on.
    assert [line.rsplit(";", 1)[1] for line in lines[1:]] == [
        f"in/a.csv@e1:{n}" for n in range(2, 9)
    ]
    assert problems == []
    assert rows.to_dict() == {"read": 7, "scored": 7, "rejected": 0}


def test_a_range_of_a_file_names_its_rows_by_the_file_s_lines(wine_linear: Artifacts) -> None:
    text = "\n".join([HEADER, *ROWS[:3]]) + "\n"
    output, _, _ = score_text(loaded_model(wine_linear), text, ids=RowIds("in/a.csv@e1:", 1000))
    assert [line.rsplit(";", 1)[1] for line in output.splitlines()[1:]] == [
        "in/a.csv@e1:1002",
        "in/a.csv@e1:1003",
        "in/a.csv@e1:1004",
    ]


def test_the_model_s_id_column_names_its_rows_and_a_key_that_needs_quotes_is_quoted(
    wine_linear: Artifacts,
) -> None:
    declared = LoadedModel(
        {**wine_linear.manifest, "id_column": "order"}, loaded_model(wine_linear).predictor
    )
    text = "\n".join([HEADER + ';"order"', ROWS[0] + ";A-1", ROWS[1] + ';"B;2"']) + "\n"
    output, problems, _ = score_text(declared, text)
    assert problems == []
    read = list(csv.reader(io.StringIO(output), delimiter=";"))
    assert [row[-1] for row in read[1:]] == ["A-1", "B;2"]
    # Without the column in the file, the key and line name the rows, quoted if needed.
    plain = "\n".join([HEADER, ROWS[0]]) + "\n"
    output, _, _ = score_text(declared, plain, ids=RowIds("in/x;y.csv@e1:"))
    assert output.splitlines()[1].endswith(';"in/x;y.csv@e1:2"')


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


def test_a_row_id_names_the_upload_and_the_line_and_reads_back() -> None:
    prefix = row_id_prefix("incoming/daily:v@2.csv", '"0123456789abcdef-2"')
    assert prefix == "incoming/daily:v@2.csv@0123456789ab:"
    assert parse_row_id(prefix + "17") == ("incoming/daily:v@2.csv", "0123456789ab", 17)
    assert same_upload("0123456789ab", '"0123456789abcdef-2"')
    assert not same_upload("0123456789ab", "ffffffffffffffff")
    for other in ("order-17", "incoming/a.csv:17", "a.csv@x:1", "incoming/a.csv@x:y"):
        assert parse_row_id(other) is None, other


def test_classifiers_append_the_label_and_one_probability_per_class(
    churn_classifier: Artifacts,
) -> None:
    text = "tenure months,plan,monthly fee\n3,basic,20.5\n50,team,99\n"
    output, problems, _ = score_text(loaded_model(churn_classifier), text)
    header, *rows = output.splitlines()
    assert header.endswith(",prediction,probability_no,probability_yes,inference_id")
    for row in rows:
        label, p_no, p_yes = row.split(",")[-4:-1]
        assert label in ("yes", "no")
        assert float(p_no) + float(p_yes) == pytest.approx(1.0, abs=1e-6)
    assert problems == []


def test_required_columns_missing_is_an_input_error(wine_linear: Artifacts) -> None:
    with pytest.raises(MissingColumnsError, match="alcohol"):
        ChunkScorer(loaded_model(wine_linear), ["colour", "size"], ";")
