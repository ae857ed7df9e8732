"""Training tables the suite did not try before: refused with the column named, or repaired
and said so, never mangled and published (each case found by probing the job)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import MODEL_BUCKET
from training.cli import main
from training.registry_admin import ModelRegistry

REGISTRY = f"s3://{MODEL_BUCKET}"


def train(
    path: Path, capsys: pytest.CaptureFixture[str], *extra: str, target: str = "y"
) -> tuple[int, str, str]:
    """Exit status, standard output and standard error of a quick training run."""
    args = ["--data", str(path), "--target", target, "--name", "probe", "--registry", REGISTRY]
    status = main([*args, "--candidates", "linear", "--settings", "1", "--cv-folds", "3", *extra])
    out, err = capsys.readouterr()
    return status, out, err


def table(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    frame["y"] = 2 * frame["a"] - frame["b"] + rng.normal(0, 0.1, rows)
    return frame


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("a,a,y", "names 'a' more than once"),
        ("a,y,y", "names 'y' more than once"),
        (",a,y", "no name for column(s) 1"),
        ("y ,a,y", "names 'y' more than once (spaces around names do not count)"),
        ("a ,a,y", "names 'a' more than once"),
        ('"a","  a",y', "names 'a' more than once"),
    ],
)
def test_duplicate_or_empty_header_names_are_refused(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], header: str, fragment: str
) -> None:
    body = "\n".join([header, *("1,2,3" for _ in range(30))]) + "\n"
    status, _, err = train(write(tmp_path / "t.csv", body), capsys)
    assert status == 1
    assert fragment in err
    assert "Traceback" not in err
    assert ModelRegistry(s3, MODEL_BUCKET).list_models() == []  # nothing published


def test_a_few_stray_cells_in_a_numeric_column_become_missing_and_are_reported(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame["a"] = frame["a"].astype(object)
    frame.loc[7, "a"] = "?"
    frame.loc[9, "y"] = np.nan  # one row without a target
    frame.to_csv(tmp_path / "t.csv", index=False)
    status, out, _ = train(tmp_path / "t.csv", capsys)
    assert status == 0
    assert "1 cell(s) of numeric column 'a' are not numbers ('?'): treated as missing" in out
    assert "1 row(s) without a target left out" in out
    assert "199 labelled rows" in out
    registry = ModelRegistry(s3, MODEL_BUCKET)
    manifest = registry.manifest("probe", registry.list_versions("probe")[0])
    (column,) = [c for c in manifest["schema"] if c["name"] == "a"]
    assert (column["kind"], column["nullable"]) == ("numeric", True)
    assert manifest["training"]["table"]["cells_made_missing"] == {
        "a": {"cells": 1, "examples": ["?"]}
    }


def test_a_column_of_words_with_a_few_numbers_stays_categorical(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame["colour"] = np.where(np.arange(200) % 2, "red", "white")
    frame.loc[:20, "colour"] = "3"  # 21 numbers of 200: over 5%, so words it is
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert train(tmp_path / "t.csv", capsys)[0] == 0
    registry = ModelRegistry(s3, MODEL_BUCKET)
    manifest = registry.manifest("probe", registry.list_versions("probe")[0])
    (column,) = [c for c in manifest["schema"] if c["name"] == "colour"]
    assert column["categories"] == ["3", "red", "white"]


def test_categories_longer_than_the_limit_are_refused(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame["note"] = np.where(np.arange(200) % 2, "short", "long")
    frame.loc[3, "note"] = "x" * 2_000_000
    frame.to_csv(tmp_path / "t.csv", index=False)
    status, _, err = train(tmp_path / "t.csv", capsys)
    assert status == 1
    assert "column 'note' has a value of 2,000,000 characters" in err
    assert len(err) < 1000  # the value itself is not repeated


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda f: f.assign(y=np.nan), "the target column 'y' has no values"),
        (lambda f: f.head(1), "has 1 value(s); at least 20 labelled rows are needed"),
        (
            lambda f: f.assign(a=f["a"].where(f.index != 4, np.inf)),
            "column 'a' has 1 infinite value(s) (first in data row 5)",
        ),
    ],
)
def test_misleading_messages_now_name_the_problem(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, fragment: str
) -> None:
    change(table()).to_csv(tmp_path / "t.csv", index=False)
    status, _, err = train(tmp_path / "t.csv", capsys)
    assert status == 1
    assert fragment in err


def test_more_classes_than_holdout_rows_is_explained(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table(rows=3000)
    frame["y"] = [f"class-{i % 1000}" for i in range(3000)]
    frame.to_csv(tmp_path / "t.csv", index=False)
    status, _, err = train(tmp_path / "t.csv", capsys, "--holdout", "0.1")
    assert status == 1
    assert "the target has 1000 classes but the holdout would have 300 rows" in err
    assert "test_size" not in err


def test_identifier_and_date_columns_are_refused_until_dropped(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table(rows=442)
    frame["patient"] = [f"P{i:04d}" for i in range(442)]
    frame["visit"] = [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(442)]
    frame.to_csv(tmp_path / "t.csv", index=False)
    status, _, err = train(tmp_path / "t.csv", capsys)
    assert status == 1
    assert "column 'patient' looks like an identifier (442 distinct values in 442 rows)" in err
    status, _, err = train(tmp_path / "t.csv", capsys, "--drop", "patient")
    assert status == 1
    assert "column 'visit' holds dates" in err
    status, out, _ = train(tmp_path / "t.csv", capsys, "--drop", "patient", "--drop", "visit")
    assert status == 0
    assert "column(s) dropped as asked: patient, visit" in out
    registry = ModelRegistry(s3, MODEL_BUCKET)
    manifest = registry.manifest("probe", registry.list_versions("probe")[0])
    assert [c["name"] for c in manifest["schema"]] == ["a", "b"]
    status, _, err = train(tmp_path / "t.csv", capsys, "--drop", "nosuch")
    assert (status, "--drop 'nosuch': no such column" in err) == (1, True)


def test_a_numeric_identifier_is_warned_about(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame.insert(0, "row_id", np.arange(1000, 1200))
    frame.to_csv(tmp_path / "t.csv", index=False)
    status, out, _ = train(tmp_path / "t.csv", capsys, "--json")
    assert status == 0
    (warning,) = json.loads(out)["training"]["table"]["warnings"]
    assert "column 'row_id' has a different whole number in (nearly) every row" in warning
    assert "--drop 'row_id'" in warning


def test_class_labels_with_leading_zeros_are_kept_as_written(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame["y"] = np.where(frame["a"] > 0.3, "0042", np.where(frame["a"] < -0.3, "0007", "0100"))
    frame.to_csv(tmp_path / "t.csv", index=False)
    status, _, err = train(tmp_path / "t.csv", capsys, "--task", "classification")
    assert status == 0, err
    registry = ModelRegistry(s3, MODEL_BUCKET)
    manifest = registry.manifest("probe", registry.list_versions("probe")[0])
    assert sorted(manifest["classes"]) == ["0007", "0042", "0100"]


@pytest.mark.parametrize(
    ("values", "extra", "status", "fragment"),
    [
        ([1.0, 2.5], (), 0, "regression"),  # two measurements are a quantity, not classes
        ([0.5, 1.5, 2.5], ("--task", "classification"), 1, "numbers that are not whole"),
        ([5.0], (), 1, "one value in every row"),
    ],
    ids=["two-floats", "float-classes", "constant"],
)
def test_targets_that_are_not_labels_are_named(
    s3: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    values: list[float],
    extra: tuple[str, ...],
    status: int,
    fragment: str,
) -> None:
    frame = table()
    frame["y"] = np.array(values)[np.arange(len(frame)) % len(values)]
    frame.to_csv(tmp_path / "t.csv", index=False)
    done, out, err = train(tmp_path / "t.csv", capsys, *extra, "--json")
    assert done == status, err
    if status == 0:
        assert json.loads(out)["task"] == fragment
    else:
        assert fragment in err
        assert "Traceback" not in err


def test_a_mostly_numeric_column_read_as_text_and_a_copy_of_the_target_are_warned_about(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame["a"] = frame["a"].round(3).astype(object)
    frame.loc[frame.index % 8 == 0, "a"] = "?"  # 12.5% of the cells
    frame["copy"] = frame["y"]
    frame.to_csv(tmp_path / "t.csv", index=False)
    status, out, err = train(tmp_path / "t.csv", capsys)
    assert status == 0, err
    assert "column 'a' is read as text: 175 of its 200 cells are numbers, 25 are not" in out
    assert "column 'copy' equals the target in every row" in out


def test_an_unknown_id_column_and_an_unreachable_registry_are_named(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table().to_csv(tmp_path / "t.csv", index=False)
    status, _, err = train(tmp_path / "t.csv", capsys, "--id-column", "nope")
    assert status == 1
    assert "--id-column 'nope': no such column" in err
    args = ["--data", str(tmp_path / "t.csv"), "--target", "y", "--name", "probe"]
    status = main([*args, "--registry", "s3://no-such-registry-bucket"])
    _, err = capsys.readouterr()
    assert status == 1
    assert "the registry s3://no-such-registry-bucket cannot be reached" in err
    assert "Traceback" not in err


def test_a_bad_model_name_is_a_bad_argument(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table().to_csv(tmp_path / "t.csv", index=False)
    args = ["--data", str(tmp_path / "t.csv"), "--target", "y", "--registry", REGISTRY]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--name", "wine/quality"])
    assert exited.value.code == 2  # the epilog's "2 bad arguments", before any work
    assert "invalid model name 'wine/quality'" in capsys.readouterr().err
