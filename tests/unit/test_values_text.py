"""CSV cells read as training's reader (pandas) reads them: missing-value markers, and
spaces after a delimiter."""

from __future__ import annotations

import io

import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES

from predictor.protocols.text_bodies import parse_csv
from predictor.schema import ColumnSpec, FeatureSchema
from predictor.values import MISSING_CATEGORY, MISSING_MARKERS

SCHEMA = FeatureSchema(
    [
        ColumnSpec("size", "numeric", "float64", True),
        ColumnSpec("colour", "categorical", "object", True, categories=("blue", "red")),
        ColumnSpec("shape", "categorical", "object", False, categories=("o", "x")),
    ]
)


def test_the_missing_markers_are_pandas_defaults() -> None:
    assert set(STR_NA_VALUES) == MISSING_MARKERS


def test_a_csv_body_reads_as_pandas_reads_it_with_training_s_options() -> None:
    body = 'size,colour,shape\n1.5, red, "x"\nNA,NA, o\n 2,"NaN",x\n'
    parsed = parse_csv(body, 10, SCHEMA, None)
    done = SCHEMA.validate(parsed.columns, parsed.n_rows, text=True)
    assert done.errors == []
    trained = pd.read_csv(io.StringIO(body), skipinitialspace=True)  # training/data.py's
    colours = [MISSING_CATEGORY if pd.isna(v) else v for v in trained["colour"]]
    assert (
        done.features["colour"].reshape(-1).tolist()
        == colours
        == ["red", MISSING_CATEGORY] * 1 + [MISSING_CATEGORY]
    )
    assert list(trained["shape"]) == ["x", "o", "x"]
    assert done.features["shape"].reshape(-1).tolist() == list(trained["shape"])
    sizes = done.features["size"].reshape(-1).tolist()
    assert sizes[0] == 1.5
    assert sizes[2] == 2.0
    assert pd.isna(sizes[1])
    assert pd.isna(trained["size"][1])


def test_a_marker_in_a_column_without_missing_values_is_refused_as_missing() -> None:
    parsed = parse_csv("size,colour,shape\n1,red,NA\n", 10, SCHEMA, None)
    done = SCHEMA.validate(parsed.columns, parsed.n_rows, text=True)
    assert [(e.row, e.column) for e in done.errors] == [(0, "shape")]
    assert "does not allow" in done.errors[0].reason
