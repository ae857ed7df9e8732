import math

import numpy as np
import pandas as pd
import pytest

from predictor.errors import MissingColumnsError
from predictor.schema import ColumnSpec, FeatureSchema
from predictor.values import MISSING_CATEGORY, OversizedInteger
from training.schema_inference import features_from_frame, infer_schema


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30.0, np.nan, 45.0],
            "income": [1000, 2000, 1500],
            "city": ["Paris", None, "Oslo"],
            "member": [True, False, True],
        }
    )


@pytest.fixture
def schema(frame: pd.DataFrame) -> FeatureSchema:
    return infer_schema(frame)


def spec(schema: FeatureSchema, name: str) -> ColumnSpec:
    return next(c for c in schema.columns if c.name == name)


def test_infer_kinds_nullability_ranges_and_categories(schema: FeatureSchema) -> None:
    assert schema.names == ("age", "income", "city", "member")
    age, income = spec(schema, "age"), spec(schema, "income")
    assert (age.kind, age.nullable, age.minimum, age.maximum) == ("numeric", True, 30.0, 45.0)
    assert (income.kind, income.nullable, income.dtype) == ("numeric", False, "int64")
    city = spec(schema, "city")
    assert (city.kind, city.nullable, city.categories) == ("categorical", True, ("Oslo", "Paris"))
    member = spec(schema, "member")
    assert (member.kind, member.categories) == ("categorical", ("False", "True"))


def test_schema_round_trips_through_its_json_form(schema: FeatureSchema) -> None:
    assert FeatureSchema.from_dict(schema.to_dict()) == schema


def test_too_many_categories_is_refused() -> None:
    frame = pd.DataFrame({"id": [f"user-{i}" for i in range(50)]})
    with pytest.raises(ValueError, match="50 distinct values"):
        infer_schema(frame, max_categories=10)


def test_from_frame_gives_float32_and_sentinel_strings(
    schema: FeatureSchema, frame: pd.DataFrame
) -> None:
    features = features_from_frame(schema, frame)
    assert features["age"].dtype == np.float32
    assert features["age"].shape == (3, 1)
    assert math.isnan(features["age"][1, 0])
    assert features["city"][:, 0].tolist() == ["Paris", MISSING_CATEGORY, "Oslo"]
    assert features["member"][:, 0].tolist() == ["True", "False", "True"]


def test_valid_text_rows_are_coerced(schema: FeatureSchema) -> None:
    columns = {
        "age": ["31", ""],
        "income": ["1200.5", "7"],
        "city": ["Oslo", ""],
        "member": ["True", "False"],
    }
    result = schema.validate(columns, 2, text=True)
    assert result.errors == []
    assert result.rows.tolist() == [0, 1]
    assert result.features["age"][:, 0].tolist()[0] == 31.0
    assert math.isnan(result.features["age"][1, 0])
    assert result.features["income"].dtype == np.float32
    assert result.features["city"][:, 0].tolist() == ["Oslo", MISSING_CATEGORY]


def test_every_problem_is_reported_with_row_and_column(schema: FeatureSchema) -> None:
    columns = {
        "age": ["abc", "-Infinity", "40", "1e309", "41"],
        "income": ["", "10", "inf", "5", "1e39"],
        "city": ["Oslo", "Paris", "Lima", "Oslo", "Oslo"],
        "member": ["True", "True", "True", "True", "True"],
    }
    result = schema.validate(columns, 5, text=True)
    found = {(e.row, e.column): e.reason for e in result.errors}
    assert set(found) == {
        (0, "age"),
        (0, "income"),
        (1, "age"),
        (2, "income"),
        (3, "age"),
        (4, "income"),
    }
    assert "not a number: 'abc'" in found[(0, "age")]
    assert "does not allow" in found[(0, "income")]
    assert "not a finite number" in found[(1, "age")]
    assert "not a finite number" in found[(3, "age")]
    assert "out of range" in found[(4, "income")]
    assert result.rows.tolist() == []
    assert [e.row for e in result.errors] == sorted(e.row for e in result.errors)


def test_only_good_rows_reach_the_model(schema: FeatureSchema) -> None:
    columns = {
        "age": ["1", "x", "3"],
        "income": ["1", "2", "3"],
        "city": ["a", "b", "c"],
        "member": ["True"] * 3,
    }
    result = schema.validate(columns, 3, text=True)
    assert result.rows.tolist() == [0, 2]
    assert result.features["income"][:, 0].tolist() == [1.0, 3.0]
    assert result.features["city"][:, 0].tolist() == ["a", "c"]


def test_unknown_categories_pass_and_extra_columns_are_listed(schema: FeatureSchema) -> None:
    columns = {"age": [1.0], "income": [2], "city": ["Atlantis"], "member": [True], "note": ["hi"]}
    result = schema.validate(columns, 1, text=False)
    assert result.errors == []
    assert result.extra_columns == ["note"]
    assert result.features["city"][0, 0] == "Atlantis"
    assert result.features["member"][0, 0] == "True"


def test_missing_required_column_is_refused_before_rows(schema: FeatureSchema) -> None:
    with pytest.raises(MissingColumnsError) as caught:
        schema.validate({"age": [1.0], "city": ["Oslo"]}, 1, text=False)
    assert caught.value.columns == ["income", "member"]


def test_absent_nullable_column_means_missing_values(frame: pd.DataFrame) -> None:
    schema = infer_schema(frame.drop(columns=["member"]))
    result = schema.validate({"income": [5]}, 1, text=False)
    assert result.errors == []
    assert math.isnan(result.features["age"][0, 0])
    assert result.features["city"][0, 0] == MISSING_CATEGORY


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("12", "expected a number, got str"),
        (True, "expected a number, got boolean"),
        ([1], "expected a number, got list"),
        ({"a": 1}, "expected a number, got dict"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (10**400, "out of range"),
        (OversizedInteger("9" * 4301), "out of range"),
        (1e39, "out of range"),
        (None, "does not allow"),
    ],
)
def test_json_numbers_are_checked(schema: FeatureSchema, value: object, reason: str) -> None:
    columns = {"age": [1.0], "income": [value], "city": ["Oslo"], "member": [True]}
    result = schema.validate(columns, 1, text=False)
    assert [(e.row, e.column) for e in result.errors] == [(0, "income")]
    assert reason in result.errors[0].reason


def one_number(schema: FeatureSchema, value: object, *, text: bool) -> list[str]:
    """The reasons the validator gives for ``value`` as the numeric column's only cell."""
    columns = {"age": ["1" if text else 1.0], "income": [value], "member": ["True"]}
    return [e.reason for e in schema.validate(columns, 1, text=text).errors]


@pytest.mark.parametrize(
    "literal", ["3.5", " 3.5", "3.5\t", "+3", "-0.5", ".5", "5.", "1E5", "1e-3", "3.4028235e38"]
)
def test_numbers_follow_one_rule_in_csv_and_json(schema: FeatureSchema, literal: str) -> None:
    assert one_number(schema, literal, text=True) == []
    assert one_number(schema, float(literal), text=False) == []


@pytest.mark.parametrize(
    "literal",
    ["3_4", "\uff17.\uff18", "\u0663.\u0665\u0661", "\xa03.5\xa0", "3.5\u2003", "1e5_0", "0x10"],
    ids=[
        "underscore",
        "full-width",
        "arabic-indic",
        "nbsp-padded",
        "em-space",
        "exp-underscore",
        "hex",
    ],
)
def test_text_python_reads_but_training_would_not_is_not_a_number(
    schema: FeatureSchema, literal: str
) -> None:
    (reason,) = one_number(schema, literal, text=True)
    assert reason.startswith("not a number")
    # The same in a chunk of good values (the vectorised path) as alone (the per-cell path).
    columns = {"age": ["1"] * 3, "income": ["1", literal, "2"], "member": ["True"] * 3}
    assert [(e.row, e.reason[:12]) for e in schema.validate(columns, 3, text=True).errors] == [
        (1, "not a number")
    ]


@pytest.mark.parametrize("literal", ["1e39", "-3.5e38"])
def test_beyond_float32_is_out_of_range_in_csv_and_json(
    schema: FeatureSchema, literal: str
) -> None:
    (from_text,) = one_number(schema, literal, text=True)
    (from_json,) = one_number(schema, float(literal), text=False)
    assert "out of range" in from_text
    assert "out of range" in from_json


def test_an_oversized_integer_is_a_category_like_any_integer(schema: FeatureSchema) -> None:
    digits = "7" * 5000
    columns = {"age": [1.0], "income": [1], "city": [OversizedInteger(digits)], "member": [True]}
    result = schema.validate(columns, 1, text=False)
    assert result.errors == []
    assert result.features["city"][0, 0] == digits


@pytest.mark.parametrize("value", [1.5, [1], {"x": 1}])
def test_json_categories_must_be_text(schema: FeatureSchema, value: object) -> None:
    columns = {"age": [1.0], "income": [1], "city": [value], "member": [True]}
    result = schema.validate(columns, 1, text=False)
    assert [(e.column, e.reason.split(",")[0]) for e in result.errors] == [
        ("city", "expected a string")
    ]


def test_column_of_wrong_length_is_a_programming_error(schema: FeatureSchema) -> None:
    with pytest.raises(ValueError, match="expected 2"):
        schema.validate({"age": [1.0], "income": [1, 2], "member": ["a", "b"]}, 2, text=False)


def test_an_unknown_category_is_refused_or_made_the_infrequent_one_as_the_encoder_says() -> None:
    strict = ColumnSpec("band", "categorical", "object", True, categories=("a", "b"),
                        refuses_unknown=True)  # fmt: skip
    pooled = ColumnSpec("size", "categorical", "object", True, categories=("s", "m", "l"),
                        unknown_as="l")  # fmt: skip
    schema = FeatureSchema([strict, pooled])
    assert FeatureSchema.from_dict(schema.to_dict()) == schema
    assert "refuses_unknown" not in ColumnSpec("c", "categorical", "object", True).to_dict()
    done = schema.validate({"band": ["a", "z", None], "size": ["xl", "s", None]}, 3, text=False)
    assert [(e.row, e.column) for e in done.errors] == [(1, "band")]
    assert "unknown category 'z'" in done.errors[0].reason
    assert done.features["size"].reshape(-1).tolist() == ["l", MISSING_CATEGORY]


def test_a_one_hot_encoded_number_the_graph_would_answer_otherwise_is_refused() -> None:
    ignored = ColumnSpec("n", "numeric", "int64", True, 1.0, 5.0, encoded_values=(1.0, 2.0, 5.0))
    strict = ColumnSpec("m", "numeric", "int64", True, 1.0, 5.0, encoded_values=(1.0, 2.0),
                        refuses_unknown=True)  # fmt: skip
    schema = FeatureSchema([ignored, strict])
    assert FeatureSchema.from_dict(schema.to_dict()) == schema
    columns = {"n": [2.5, 7, None, 5], "m": [1, 1, 2, 3]}
    done = schema.validate(columns, 4, text=False)
    # 2.5 would be read as 2 by the graph; 3 is unknown where the encoder raises; 7 is
    # ignored by the graph as by scikit-learn, and kept as sent (other steps may read it)
    assert [(e.row, e.column) for e in done.errors] == [(0, "n"), (3, "m")]
    assert "2.5 is not one of the values the model's encoder learned" in (done.errors[0].reason)
    assert done.rows.tolist() == [1, 2]
    kept = done.features["n"].reshape(-1)
    assert kept[0] == 7.0
    assert math.isnan(kept[1])


def test_a_missing_value_marker_the_encoder_learned_is_that_category_in_csv() -> None:
    spec = ColumnSpec("region", "categorical", "object", False, categories=("EU", "NA", "None"))
    done = FeatureSchema([spec]).validate({"region": ["NA", "None", "EU", "null"]}, 4, text=True)
    assert [(e.row, e.column) for e in done.errors] == [(3, "region")]  # not learned: missing
    assert done.features["region"].reshape(-1).tolist() == ["NA", "None", "EU"]


def test_a_required_column_sent_under_another_spacing_or_case_is_named() -> None:
    schema = FeatureSchema([ColumnSpec("pH", "numeric", "float64", False, 2.0, 4.0)])
    with pytest.raises(MissingColumnsError) as missing:
        schema.validate({" PH ": [3.5]}, 1, text=False)
    assert str(missing.value) == "required column(s) missing: pH (sent as ' PH ')"


def test_near_names_are_matched_for_every_column_and_in_one_pass() -> None:
    columns = ["pH", "PH", "alcohol"]
    sent = [f"k{i}" for i in range(200_000)] + [" ph"]
    message = str(MissingColumnsError(columns, sent))
    assert message == (
        "required column(s) missing: pH (sent as ' ph'), PH (sent as ' ph'), alcohol"
    )
