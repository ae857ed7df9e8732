"""The try-it page's routes, through the realtime handler: the page and its assets under a
strict policy, the model card, and the training and drift reports it links to.
(The page itself, in a browser: tests/browser.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import pytest

from infra.local_env import DATA_BUCKET, MODEL_BUCKET
from realtime import app as realtime_app
from realtime.card import image_shape
from realtime.try_page import PAGE_CSP, REPORT_CSP, STATIC_DIR
from tests.helpers import WINE_CSV, Artifacts, call
from training.registry_admin import ModelRegistry


def get(path: str) -> tuple[int, bytes, dict[str, str]]:
    return call("GET", path, headers={"content-type": None})  # type: ignore[dict-item]


def test_the_page_and_its_assets_are_served_under_a_strict_policy(wine: str) -> None:
    status, body, headers = get("/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == PAGE_CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    html = body.decode()
    assert '<script src="assets/try.js" defer></script>' in html
    # Nothing the policy would refuse: no inline script, style or handler, no other host.
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\s(style|on\w+)=", html)
    assert "http://" not in html
    assert "https://" not in html
    for name, content_type in (("try.js", "text/javascript"), ("try.css", "text/css")):
        status, asset, headers = get(f"/assets/{name}")
        assert status == 200
        assert headers["Content-Type"].startswith(content_type)
        assert headers["Content-Security-Policy"] == PAGE_CSP
        assert asset.decode() == (STATIC_DIR / name).read_text()
    for missing in ("index.html", "..%2Ftry_page.py", "try.js.map"):
        status, error, _ = get(f"/assets/{missing}")
        assert status == 404
        assert json.loads(error)["error"]["type"] == "not_found"


def test_the_script_inserts_values_only_as_text() -> None:
    """No API of the DOM that parses a string as HTML or code appears in the script."""
    script = (STATIC_DIR / "try.js").read_text()
    for parser in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert parser not in script
    assert "new Function" not in script
    assert "fetch(" in script
    assert "http://" not in script
    assert "https://" not in script


def test_the_card_describes_the_model_from_its_manifest(wine: str, limits: None) -> None:
    status, body, headers = get("/models/wine/card")
    assert status == 200
    assert headers["X-Model-Version"] == wine
    card = json.loads(body)
    assert (card["name"], card["version"], card["task"]) == ("wine", wine, "regression")
    assert card["target"] == "quality"
    frame = pd.read_csv(WINE_CSV, sep=";")
    features = {f["name"]: f for f in card["features"]}
    assert list(features) == list(frame.columns[:-1])
    for name, feature in features.items():
        assert feature["min"] == frame[name].min()
        assert feature["max"] == frame[name].max()
        assert feature["median"] == pytest.approx(frame[name].median())
    metrics = card["metrics"]
    assert metrics["primary"] == "mse"
    assert metrics["holdout"]["mse"] < metrics["baseline"]["mse"]
    importance = card["importance"]
    assert {item["column"] for item in importance} == set(features)
    means = [item["mean"] for item in importance]
    assert means == sorted(means, reverse=True)
    assert importance[0]["column"] == "alcohol"
    assert card["limits"] == {"max_rows": 5, "max_bytes": 2500, "error_details": 100}
    assert card["image"] is None
    assert card["links"] == {
        "predict": "models/wine/predict",
        "report": "models/wine/report",
        "drift": None,  # no capture here: no drift report
    }


def test_an_unknown_model_has_no_card(wine: str) -> None:
    status, body, _ = get("/models/nope/card")
    assert status == 404
    assert json.loads(body)["error"]["type"] == "model_not_found"


def test_the_training_report_is_served_verified_and_without_script(
    wine: str, serve: ModelRegistry, s3: Any
) -> None:
    status, body, headers = get("/models/wine/report")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == REPORT_CSP
    assert "script-src" not in REPORT_CSP
    assert body.decode().startswith("<!doctype html>")
    assert "<title>Training report: wine " in body.decode()
    # A report changed in the bucket is never served, nor linked by a fresh container's
    # card: a 503 that says why, never an internal error.
    key = f"models/wine/{wine}/report.html"
    s3.put_object(Bucket=MODEL_BUCKET, Key=key, Body=b"<script>alert(1)</script>")
    status, body, _ = get("/models/wine/report")
    assert status == 503
    assert b"alert" not in body
    error = json.loads(body)["error"]
    assert error["type"] == "report_unavailable"
    assert "does not match its manifest" in error["message"]
    realtime_app.container.reset()
    assert json.loads(get("/models/wine/card")[1])["links"]["report"] is None


def test_a_version_without_a_report_says_so(serve: ModelRegistry, wine_linear: Artifacts) -> None:
    files = {k: v for k, v in wine_linear.files.items() if not k.startswith("report.")}
    keep = {k: v for k, v in wine_linear.manifest.items() if k not in ("name", "version")}
    keep.pop("artifacts", None)
    version = serve.publish("wine", keep, files)["version"]
    serve.set_alias("wine", "production", version)
    _, body, _ = get("/models/wine/card")
    assert json.loads(body)["links"]["report"] is None
    status, body, _ = get("/models/wine/report")
    assert status == 404
    assert json.loads(body)["error"]["message"] == (
        f"wine {version} was published without a training report"
    )


def test_the_drift_report_is_linked_once_the_monitor_wrote_one(
    wine: str, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, body, _ = get("/models/wine/drift")
    assert status == 404
    assert "does not capture" in json.loads(body)["error"]["message"]
    monkeypatch.setenv("CAPTURE_BUCKET", DATA_BUCKET)
    realtime_app.container.reset()
    status, body, _ = get("/models/wine/drift")
    assert status == 404
    assert json.loads(body)["error"]["message"] == "wine has no drift report yet"
    assert json.loads(get("/models/wine/card")[1])["links"]["drift"] is None
    report = b"<!doctype html><title>Monitoring report: wine</title>"
    s3.put_object(Bucket=DATA_BUCKET, Key="monitoring/reports/wine/latest.html", Body=report)
    quality = {"primary": "mse", "metrics": {"mse": 0.41}, "intervals": {"mse": [0.3, 0.52]},
               "holdout": {"mse": 0.38}, "dropped": False, "rows": 80}  # fmt: skip
    document = {"window": {"end": "2026-12-07T10:00:00Z"}, "quality": {wine: quality}}
    s3.put_object(
        Bucket=DATA_BUCKET,
        Key="monitoring/reports/wine/latest.json",
        Body=json.dumps(document).encode(),
    )
    card = json.loads(get("/models/wine/card")[1])
    assert card["links"]["drift"] == "models/wine/drift"
    assert card["live_quality"] == {
        "end": "2026-12-07T10:00:00Z", "version": wine, "metric": "mse", "value": 0.41,
        "low": 0.3, "high": 0.52, "holdout": 0.38, "dropped": False, "rows": 80,
    }  # fmt: skip
    status, body, headers = get("/models/wine/drift")
    assert status == 200
    assert body == report
    assert headers["Content-Security-Policy"] == REPORT_CSP
    # A latest report that is not UTF-8 text: a 503 that says so, never an internal error.
    s3.put_object(
        Bucket=DATA_BUCKET, Key="monitoring/reports/wine/latest.html", Body=b"<html>\xff\xfe"
    )
    status, body, _ = get("/models/wine/drift")
    assert status == 503
    error = json.loads(body)["error"]
    assert (error["type"], "not UTF-8" in error["message"]) == ("report_unavailable", True)


def pixels(size: int, **changes: Any) -> list[dict[str, Any]]:
    columns = [
        {"name": f"p_{r}_{c}", "kind": "numeric", "min": 0.0, "max": 16.0}
        for r in range(size)
        for c in range(size)
    ]
    for index, column in changes.items():
        columns[int(index.removeprefix("at"))] = column
    return columns


def test_a_square_grid_of_pixel_columns_is_drawn_on_a_canvas() -> None:
    shape = image_shape(pixels(8))
    assert shape is not None
    assert shape.to_dict() == {"rows": 8, "columns": 8, "ink": 16.0}
    assert image_shape(pixels(4)) is not None
    # Anything else is a form: names out of order, a category, not square, all blank.
    swapped = pixels(8)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    assert image_shape(swapped) is None
    assert image_shape(pixels(8, at5={"name": "p_0_5", "kind": "categorical"})) is None
    assert image_shape(pixels(8)[:63]) is None
    assert image_shape([{**c, "max": 0.0} for c in pixels(8)]) is None
    assert image_shape([{"name": "alcohol", "kind": "numeric"}]) is None
