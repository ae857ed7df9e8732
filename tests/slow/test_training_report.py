"""The training report stored beside each version: its JSON and its HTML page."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import MODEL_BUCKET, WINE_CSV
from training.cli import main
from training.registry_admin import ModelRegistry
from training.report import REPORT_HTML, REPORT_JSON

REGISTRY = f"s3://{MODEL_BUCKET}"


def _train(data: Path, name: str, target: str, *extra: str) -> None:
    arguments = ["--data", str(data), "--target", target, "--name", name, "--registry", REGISTRY]
    assert main([*arguments, "--cv-folds", "3", *extra]) == 0


def _reports(s3: Any, name: str) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    registry = ModelRegistry(s3, MODEL_BUCKET)
    found = []
    for version in registry.list_versions(name):
        manifest = registry.manifest(name, version)
        document = json.loads(registry.read_artifact(manifest, REPORT_JSON))
        page = registry.read_artifact(manifest, REPORT_HTML).decode()
        found.append((manifest, document, page))
    return found


def test_a_regressions_report_explains_the_choice_and_the_fit(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ("--candidates", "linear,random_forest", "--settings", "2")
    _train(WINE_CSV, "wine", "quality", *options, "--promote", "production")
    printed = capsys.readouterr().out
    _train(WINE_CSV, "wine", "quality", *options, "--seed", "1")
    (manifest, document, page), (_, second, _) = _reports(s3, "wine")
    # The report's address is printed after the run
    assert f"s3://{MODEL_BUCKET}/models/wine/{manifest['version']}/report.html" in printed
    # The leaderboard: every setting tried, with its CV score, fit time, size and latency
    board = document["leaderboard"]
    assert len(board) == 1 + 2  # linear's defaults, the forest's two settings
    for row in board:
        assert row["status"] == "evaluated"
        assert row["mean"] > 0
        assert row["std"] >= 0
        assert row["seconds"] > 0
        assert row["onnx_bytes"] > 0
        assert 0 < row["latency_ms"] < 2
    assert document["rule"].startswith(("the best of the", "the smallest graph"))
    assert "within one standard error" in document["rule"]
    # Holdout metrics against the dummy baseline; predicted against actual
    assert document["metrics"]["holdout"]["mse"] < document["metrics"]["baseline"]["mse"]
    points = document["figures"]["predicted_vs_actual"]
    assert len(points["actual"]) == len(points["predicted"]) == manifest["training"]["holdout_rows"]
    assert np.corrcoef(points["actual"], points["predicted"])[0, 1] > 0.4
    # Permutation importance of every column, alcohol the most telling
    importance = document["figures"]["permutation_importance"]
    assert {i["column"] for i in importance} == {c["name"] for c in manifest["schema"]}
    assert importance[0]["column"] == "alcohol"
    # The ONNX agreement and the data summary
    assert document["onnx"]["passed"] is True
    assert document["onnx"]["bytes"] == manifest["artifacts"]["model.onnx"]["size"]
    assert document["data"]["rows"] == 1599
    assert document["data"]["missing"] == {}
    assert 5.5 < document["data"]["target"]["mean"] < 5.8
    # The first version had nothing to replace; the second compares with the first
    assert document["comparison"]["current_version"] is None
    assert "holds production yet" in document["comparison"]["summary"]
    assert second["comparison"]["current_version"] == manifest["version"]
    assert second["comparison"]["comparable"] is True
    assert second["comparison"]["current"] > 0
    assert manifest["version"] in second["comparison"]["summary"]
    # The page: self-contained, with its charts and tables
    assert "<svg" in page
    assert "Predicted against actual" in page
    assert "Residuals" in page
    assert "Leaderboard" in page
    assert re.search(r"(src|href)=\"?https?:", page) is None
    assert "<script" not in page


def test_a_classifiers_report_has_its_matrix_curves_and_escapes_names(
    s3: Any, tmp_path: Path
) -> None:
    # Given: class labels and a column name that look like markup
    rng = np.random.default_rng(5)
    rows = 600
    frame = pd.DataFrame(
        {
            "<b>size</b>": rng.normal(size=rows),
            "colour": rng.choice(["red", "green", None], rows),
        }
    )
    frame["label"] = np.where(frame["<b>size</b>"] > 0, "<i>big</i>", "small & cheap")
    data = tmp_path / "shapes.csv"
    frame.to_csv(data, index=False)
    _train(data, "shapes", "label", "--candidates", "linear", "--settings", "1")
    ((manifest, document, page),) = _reports(s3, "shapes")
    figures = document["figures"]
    matrix = figures["confusion_matrix"]
    assert sorted(matrix["classes"]) == ["<i>big</i>", "small & cheap"]
    assert sum(map(sum, matrix["counts"])) == manifest["training"]["holdout_rows"]
    (roc,) = figures["roc"]  # two classes: the positive one's curve
    assert roc["auc"] > 0.95
    assert figures["precision_recall"][0]["average_precision"] > 0.9
    assert figures["calibration"][0]["x"]
    assert document["data"]["classes"] == {
        "<i>big</i>": int((frame["label"] == "<i>big</i>").sum()),
        "small & cheap": int((frame["label"] == "small & cheap").sum()),
    }
    assert document["data"]["missing"] == {"colour": int(frame["colour"].isna().sum())}
    # Names are shown as text, never as markup
    assert "<i>big</i>" not in page
    assert "&lt;i&gt;big&lt;/i&gt;" in page
    assert "<b>size</b>" not in page
    assert "small &amp; cheap" in page
    assert "<div class='card wide'><h3>Confusion matrix" in page  # a row of its own
