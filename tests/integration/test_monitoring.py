"""Monitoring through the handlers: capture on both paths, the monitor, its CLI, retraining."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from monitor import __main__ as monitor_cli
from monitor import app as monitor_app

from infra.cfn_yaml import load_template
from infra.local_env import DATA_BUCKET, MODEL_BUCKET
from predictor.io import s3_store
from predictor.models.registry import JOBLIB_ARTIFACT, ONNX_ARTIFACT, RegistryReader
from predictor.monitoring.layout import CAPTURE, PROFILES, WINDOW_SECONDS, window_name
from predictor.monitoring.monitor import run_monitor
from predictor.monitoring.reports import Period
from realtime import app as realtime_app
from tests.helpers import (
    ROOT,
    ROW,
    ROWS,
    Artifacts,
    call,
    instances,
    invoke,
    post,
    put,
    run,
    sqs_event,
)
from training.job import TrainingError
from training.registry_admin import ModelRegistry

WHITE = (ROOT / "data" / "winequality-white-sample.csv").read_bytes()


@pytest.fixture
def capturing(monkeypatch: pytest.MonkeyPatch, wine: str) -> str:
    """Capture on, into the data bucket, flushed only when a test asks."""
    monkeypatch.setenv("CAPTURE_BUCKET", DATA_BUCKET)
    monkeypatch.setenv("CAPTURE_FLUSH_SECONDS", "3600")
    realtime_app.container.reset()
    return wine


def _flush() -> None:
    capture = realtime_app.container.get().capture
    assert capture is not None
    capture.flush()


def _profiles(s3: Any) -> list[dict[str, Any]]:
    keys = s3_store.list_keys(s3, DATA_BUCKET, PROFILES)
    return [json.loads(s3.get_object(Bucket=DATA_BUCKET, Key=k)["Body"].read()) for k in keys]


def _monitor(s3: Any, **kwargs: Any) -> Any:
    """The monitor over the last hour, the open window included (as on demand)."""
    period = Period.of(datetime.now(UTC), 60, settle_seconds=None)
    return run_monitor(s3, DATA_BUCKET, RegistryReader(s3, MODEL_BUCKET), period, **kwargs)


def test_realtime_counts_every_scored_row_and_each_refusal_once(s3: Any, capturing: str) -> None:
    # Given: capture on; three requests scored (the first routed, the others lean) and one
    # refused (the lean path passes it to the routed one: it must be counted once)
    for rows in (1, 2, 3):
        status, _, _ = invoke(post(instances(*[ROW] * rows)))
        assert status == 200
    status, _, _ = invoke(post(instances({**ROW, "pH": "acid"})))
    assert status == 422
    # When: the container flushes
    _flush()
    # Then: one profile, 6 rows, 1 refusal naming pH, counts in every column
    (profile,) = _profiles(s3)
    assert (profile["model"], profile["version"]) == ("wine", capturing)
    assert profile["rows"] == 6
    assert profile["refused_rows"] == 1
    assert profile["refusals"] == {"pH": 1}
    assert all(sum(c["counts"]) == 6 for c in profile["columns"].values())


def test_sampled_requests_are_stored_in_sagemakers_capture_format(
    s3: Any, capturing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAPTURE_SAMPLE_PERCENT", "100")
    realtime_app.container.reset()
    body = instances(ROW)
    assert invoke(post(body))[0] == 200
    _flush()
    (key,) = s3_store.list_keys(s3, DATA_BUCKET, CAPTURE)
    assert key.startswith(f"{CAPTURE}wine/{capturing}/")
    (line,) = s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read().decode().splitlines()
    record = json.loads(line)
    captured = record["captureData"]
    assert captured["endpointInput"] == {
        "observedContentType": "application/json",
        "mode": "INPUT",
        "data": body,
        "encoding": "JSON",
    }
    assert captured["endpointOutput"]["mode"] == "OUTPUT"
    assert json.loads(captured["endpointOutput"]["data"])["model"]["version"] == capturing
    assert record["eventVersion"] == "0"
    assert record["eventMetadata"]["inferenceTime"].endswith("Z")


def test_capture_with_s3_failing_still_answers_every_prediction(
    s3: Any, capturing: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given: every capture write fails
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("S3 is down")

    monkeypatch.setattr(s3_store, "put_bytes", broken)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    realtime_app.container.reset()
    # When: requests come, the container flushing after each
    answers = []
    for _ in range(5):
        answers.append(invoke(post(instances(ROW)))[0])
        _flush()
    # Then: each was answered, the failures counted (and kept for the next flush)
    assert answers == [200] * 5
    capture = realtime_app.container.get().capture
    assert capture is not None
    assert capture.failures == 5
    assert '"CaptureErrors"' in capsys.readouterr().out
    # and once S3 is back, the counts that failed to go are stored
    monkeypatch.undo()
    capture.flush()
    (profile,) = _profiles(s3)
    assert profile["rows"] == 5


def test_batch_profiles_a_file_and_the_monitor_flags_the_white_wines(
    data: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given: capture on for the batch function, and the white wines dropped into the
    # red-wine model
    monkeypatch.setenv("CAPTURE_BUCKET", DATA_BUCKET)
    etag = put(data, "incoming/white.csv", WHITE)
    assert run(sqs_event("incoming/white.csv", etag)) == {"batchItemFailures": []}
    # a duplicate delivery must not count the file twice
    assert run(sqs_event("incoming/white.csv", etag, "m-2")) == {"batchItemFailures": []}
    (profile,) = _profiles(data)
    assert profile["rows"] == 600
    # When: the monitor runs (through its handler, as the schedule invokes it)
    monkeypatch.setenv("MODEL_BUCKET", MODEL_BUCKET)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monitor_app._settings.cache_clear()
    monitor_app._s3.cache_clear()
    # the file's window is still open: the schedule ({}) would read it once closed
    assert monitor_app.lambda_handler({}, _context())["reports"][0]["status"] == "no data"
    answer = monitor_app.lambda_handler({"include_open_window": True}, _context())
    # Then: drift, on the features that moved, in the JSON and the HTML report
    (summary,) = answer["reports"]
    assert summary["model"] == "wine"
    assert summary["status"] == "drift"
    latest = json.loads(
        data.get_object(Bucket=DATA_BUCKET, Key="monitoring/reports/wine/latest.json")[
            "Body"
        ].read()
    )
    (version,) = latest["versions"]
    assert version["rows"] == 600
    assert {"chlorides", "total sulfur dioxide", "residual sugar"} <= set(version["drifted"])
    page = data.get_object(Bucket=DATA_BUCKET, Key=summary["report"])["Body"].read().decode()
    assert "<svg" in page
    assert "total sulfur dioxide" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained
    # and the metrics, in embedded metric format
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    names = {m["Name"] for line in lines for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"MaxDriftScore", "DriftScore", "Violations", "RowsProfiled"} <= names
    top = next(line for line in lines if "MaxDriftScore" in line)
    assert top["Model"] == "wine"
    value = top["MaxDriftScore"]
    assert min(value if isinstance(value, list) else [value]) >= 0.25
    # The alarm watches exactly the metric the monitor emits: name, namespace, dimensions.
    drifted = next(line for line in lines if "DriftedFeatures" in line)
    assert drifted["DriftedFeatures"] in (11, [11.0], 11.0)
    alarm = load_template(ROOT / "template.yaml")["Resources"]["DriftAlarm"]["Properties"]
    (emitted,) = drifted["_aws"]["CloudWatchMetrics"]
    assert emitted["Namespace"] == alarm["Namespace"]
    assert sorted(emitted["Dimensions"][0]) == sorted(d["Name"] for d in alarm["Dimensions"])
    alarm_service = next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == "service")
    template = load_template(ROOT / "template.yaml")["Resources"]["MonitorFunction"]
    service = template["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    assert alarm_service == service


@pytest.mark.parametrize("capture_on", [True, False])
def test_batch_counts_and_loads_a_baseline_only_while_capture_is_on(
    data: Any, monkeypatch: pytest.MonkeyPatch, capture_on: bool
) -> None:
    """MonitoringCapture=Disabled leaves CAPTURE_BUCKET empty: nothing counted or stored."""
    from batch import app as batch_app

    monkeypatch.setenv("CAPTURE_BUCKET", DATA_BUCKET if capture_on else "")
    etag = put(data, "incoming/white.csv", WHITE)
    assert run(sqs_event("incoming/white.csv", etag)) == {"batchItemFailures": []}
    model = batch_app.container.get().models.get()
    assert (model.baseline is not None) is capture_on
    assert len(_profiles(data)) == (1 if capture_on else 0)


def _context() -> Any:
    from infra.lambda_context import LambdaContext

    return LambdaContext("monitor")


def test_a_version_without_a_baseline_is_served_and_reported_clearly(
    s3: Any, serve: ModelRegistry, wine_linear: Artifacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a version published before baselines existed (no statistics.json)
    old = Artifacts(
        wine_linear.manifest,
        {k: v for k, v in wine_linear.files.items() if k in (JOBLIB_ARTIFACT, ONNX_ARTIFACT)},
    )
    version = old.publish(serve)["version"]
    serve.set_alias("wine", "production", version)
    monkeypatch.setenv("CAPTURE_BUCKET", DATA_BUCKET)
    realtime_app.container.reset()
    # When: it serves, and the monitor runs
    assert invoke(post(instances(ROW, ROW)))[0] == 200
    _flush()
    (report,) = _monitor(s3)
    # Then: the rows are counted, and the report says why nothing is compared
    (section,) = report.versions
    assert section.status == "no baseline"
    assert "published without a monitoring baseline" in section.message
    assert section.rows == 2


def test_corrupt_profiles_are_skipped_and_named(s3: Any, capturing: str) -> None:
    assert invoke(post(instances(ROW)))[0] == 200
    _flush()
    (good,) = s3_store.list_keys(s3, DATA_BUCKET, PROFILES)
    folder = good.rsplit("/", 1)[0]
    (document,) = _profiles(s3)
    s3.put_object(Bucket=DATA_BUCKET, Key=f"{folder}/broken.json", Body=b"{not json")
    s3.put_object(
        Bucket=DATA_BUCKET,
        Key=f"{folder}/other-bins.json",
        Body=json.dumps({**document, "layout": "0123456789abcdef"}).encode(),
    )
    (report,) = _monitor(s3)
    (section,) = report.versions
    assert section.rows == 1
    assert section.profiles == 1
    assert sorted(s["key"].rsplit("/", 1)[1] for s in section.skipped_profiles) == [
        "broken.json",
        "other-bins.json",
    ]
    assert "other bins" in " ".join(s["reason"] for s in section.skipped_profiles)


def test_an_empty_period_gives_a_clear_report(s3: Any, wine: str) -> None:
    assert _monitor(s3) == []  # nothing captured: nothing to report
    (report,) = _monitor(s3, models=["wine"])
    assert report.status == "no data"
    assert "no profile of wine" in report.versions[0].message


def test_the_command_line_reports_and_exits_by_what_it_found(
    s3: Any, capturing: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given: red wines scored (no drift)
    for _ in range(3):
        assert invoke(post(instances(ROW)))[0] == 200
    _flush()
    argv = ["--bucket", DATA_BUCKET, "--registry", f"s3://{MODEL_BUCKET}"]
    # Then: exit 0 and one line per version with the report's URL
    assert monitor_cli.main(argv) == 0
    out = capsys.readouterr().out
    assert f"wine {capturing}: ok" in out
    assert f"s3://{DATA_BUCKET}/monitoring/reports/wine/" in out
    # and JSON on demand; 2 for a bucket that does not exist
    assert monitor_cli.main([*argv, "--json", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["versions"][0]["rows"] == 3
    assert monitor_cli.main(["--bucket", "no-such-bucket", "--registry", MODEL_BUCKET]) == 2
    assert "monitor:" in capsys.readouterr().err


def test_calls_through_every_route_are_counted(s3: Any, capturing: str) -> None:
    """/invocations and the Open Inference Protocol count their rows too."""
    assert call("POST", "/invocations", instances(ROW))[0] == 200
    body = json.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [1, 11], "datatype": "FP32", "data": list(ROW.values())}
            ]
        }
    )
    assert call("POST", "/v2/models/wine/infer", body)[0] == 200
    _flush()
    (profile,) = _profiles(s3)
    assert profile["rows"] == 2


def _wine_requests() -> list[tuple[str, str, str]]:
    """Requests of 1 to 40 rows through every route and body format: (path, body, type)."""
    columns = list(ROW)
    lines = [line.split(";")[:11] for line in ROWS[:60]]

    def records(first: int, count: int) -> list[dict[str, Any]]:
        return [dict(zip(columns, map(float, line), strict=True)) for line in lines[first:][:count]]

    def csv_body(first: int, count: int) -> str:
        return "\n".join(
            [",".join(f'"{c}"' for c in columns)]
            + [",".join(line) for line in lines[first:][:count]]
        )

    split = {"columns": columns, "data": [list(r.values()) for r in records(48, 2)]}
    tensor = {"name": "x", "shape": [2, 11], "datatype": "FP32"}
    tensor["data"] = [v for r in records(52, 2) for v in r.values()]
    return [
        ("/predict", instances(*records(0, 1)), "application/json"),
        ("/predict", instances(*records(1, 3)), "application/json"),
        ("/predict", instances(*records(4, 40)), "application/json"),  # noted as model input
        ("/predict", csv_body(44, 1), "text/csv"),
        ("/predict", csv_body(45, 3), "text/csv"),
        ("/invocations", json.dumps({"dataframe_split": split}), "application/json"),
        ("/invocations", json.dumps({"dataframe_records": records(50, 2)}), "application/json"),
        ("/v2/models/wine/infer", json.dumps({"inputs": [tensor]}), "application/json"),
    ]


def _churn_requests() -> list[tuple[str, str, str]]:
    """A classifier with a categorical column and missing values, as JSON and as CSV."""
    rows = [
        {"tenure months": 3.0, "plan": "basic", "monthly fee": 25.5},
        {"tenure months": None, "plan": "pro", "monthly fee": 31.0},
        {"tenure months": 40.0, "plan": None, "monthly fee": 12.25},
        {"tenure months": 12.0, "plan": "team", "monthly fee": 50.0},
    ]
    csv_body = '"tenure months",plan,"monthly fee"\n7,basic,20\n,,33.5\n59,team,41\n'
    return [
        ("/predict", instances(rows[0]), "application/json"),
        ("/predict", instances(*rows[1:]), "application/json"),
        ("/predict", instances(*rows * 5), "application/json"),  # noted as model input
        ("/predict", csv_body, "text/csv"),
    ]


def _counted(s3: Any, requests: list[tuple[str, str, str]]) -> dict[str, Any]:
    """The stored profile of ``requests``, answered and counted by a fresh container."""
    realtime_app.container.reset()
    for path, body, content_type in requests:
        status, answer, _ = call("POST", path, body, {"content-type": content_type})
        assert status == 200, answer
    _flush()
    (profile,) = _profiles(s3)
    s3_store.delete_prefix(s3, DATA_BUCKET, PROFILES)
    return profile


@pytest.mark.parametrize("model", ["wine", "churn"])
def test_small_requests_parsed_again_count_as_their_model_input_would(
    s3: Any,
    capturing: str,
    model: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A small request is noted as it came and parsed again off the request's path: it
    must be counted exactly as the validated model input it was scored with."""
    from predictor.monitoring import capture

    requests = _wine_requests()
    if model == "churn":
        churn: Artifacts = request.getfixturevalue("churn_classifier")
        registry = ModelRegistry(s3, MODEL_BUCKET)
        registry.set_alias("wine", "production", churn.publish(registry)["version"])
        requests = _churn_requests()
    rows = 0
    for _, body, content_type in requests:
        if content_type == "text/csv":
            rows += body.strip().count("\n")
        else:
            document = json.loads(body)
            found = document.get("instances") or document.get("dataframe_records")
            found = found or document.get("dataframe_split", {}).get("data")
            rows += len(found) if found else document["inputs"][0]["shape"][0]
    parsed_again = _counted(s3, requests)
    monkeypatch.setattr(capture, "RAW_ROWS", 0)  # every request noted as model input
    as_model_input = _counted(s3, requests)
    assert parsed_again["rows"] == as_model_input["rows"] == rows
    assert parsed_again["columns"] == as_model_input["columns"]
    assert parsed_again["prediction"] == as_model_input["prediction"]
    assert all(sum(c["counts"]) == rows for c in parsed_again["columns"].values())
    if model == "churn":  # missing values and categories reached their own bins
        assert parsed_again["columns"]["plan"]["counts"][0] == 1 + 5 + 1
        assert parsed_again["columns"]["tenure months"]["counts"][0] == 1 + 5 + 1


def test_a_container_stores_its_profile_on_its_own(
    s3: Any, capturing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No later request is needed: the container's flusher stores the counts."""
    monkeypatch.setenv("CAPTURE_FLUSH_SECONDS", "0.2")
    realtime_app.container.reset()
    assert invoke(post(instances(ROW)))[0] == 200
    deadline = time.monotonic() + 10
    while not _profiles(s3) and time.monotonic() < deadline:
        time.sleep(0.05)
    (profile,) = _profiles(s3)
    assert profile["rows"] == 1


def test_retraining_compares_on_new_rows_neither_model_has_seen(
    s3: Any, wine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training import handler

    monkeypatch.setattr(handler, "s3_client", lambda: s3)
    lines = (ROOT / "data" / "winequality-red.csv").read_text().splitlines(keepends=True)
    header = lines[0]
    base = {"target": "quality", "name": "wine", "candidates": ["linear"]}
    base |= {"settings_per_candidate": 1, "cv_folds": 3}  # the defaults: no search
    base |= {"promote": "production", "require_improvement": True}
    retrain = {**base, "data": f"s3://{DATA_BUCKET}/training/", "report_to": (
        f"s3://{DATA_BUCKET}/monitoring/retraining/")}  # fmt: skip
    # Given: the alias holds a model trained on the 60 rows the prefix held then
    put(s3, "training/part-1.csv", "".join(lines[:61]).encode())
    first = handler.lambda_handler({**retrain, "force": True}, None)
    assert first["promoted"] is True
    # When nothing new has arrived: nothing to compare on, and the record says so
    with pytest.raises(TrainingError, match="0 row"):
        handler.lambda_handler(retrain, None)
    (key,) = s3_store.list_keys(s3, DATA_BUCKET, "monitoring/retraining/wine/failed-")
    record = json.loads(s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read())
    assert record["promoted"] is False
    assert "arrived after" in record["promotion"]
    # When: the rest of the wines arrive (after the holder was trained)
    time.sleep(1.1)  # upload times have a resolution of a second
    put(s3, "training/part-2.csv", (header + "".join(lines[61:])).encode())
    better = handler.lambda_handler(retrain, None)
    # Then: both are scored on half the new rows, which neither has seen; it is better
    assert better["rows"] == 1599
    assert better["promoted"] is True, better["promotion"]
    assert better["comparison"]["current_version"] == first["version"]
    assert better["comparison"]["new"] < better["comparison"]["current"]  # mse
    stored = json.loads(
        s3.get_object(
            Bucket=DATA_BUCKET, Key=f"monitoring/retraining/wine/{better['version']}.json"
        )["Body"].read()
    )
    assert stored["promotion"] == better["promotion"]
    manifest = json.loads(
        s3.get_object(Bucket=MODEL_BUCKET, Key=f"models/wine/{better['version']}/manifest.json")[
            "Body"
        ].read()
    )
    assert manifest["training"]["holdout_rows"] == (1599 - 60) // 2 + ((1599 - 60) % 2)


def test_nothing_in_the_bucket_stops_the_monitor(s3: Any, capturing: str) -> None:
    """Hostile folders and objects are skipped and named; every other model is reported."""
    assert invoke(post(instances(ROW)))[0] == 200
    _flush()
    (good,) = s3_store.list_keys(s3, DATA_BUCKET, PROFILES)
    folder = good.rsplit("/", 1)[0]
    window = folder.rsplit("/", 1)[1]
    (document,) = _profiles(s3)
    ghost = "20260101T000000.000Z-abcdef"
    junk = {
        f"{PROFILES}wine/{capturing}/9999-12-31T23:59Z/far.json": b"{}",
        f"{PROFILES}<b>bad name/v1/{window}/x.json": b"{}",
        f"{PROFILES}wine/not a version!/{window}/x.json": b"{}",
        f"{PROFILES}ghost/{ghost}/{window}/x.json": json.dumps(
            {**document, "model": "ghost", "version": ghost}
        ).encode(),
        f"{folder}/deep.json": b"[" * 100_000 + b"]" * 100_000,
        f"{folder}/huge.json": b" " * (2 * 1024 * 1024),
        f"{folder}/nested/x.json": b"{}",
    }
    for key, body in junk.items():
        s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
    reports = {r.model: r for r in _monitor(s3)}
    # the good profile still counts, the bad ones are named, the odd folders cost nothing
    wine = reports["wine"]
    section = next(v for v in wine.versions if v.version == capturing)
    assert section.rows == 1
    assert sorted(s["key"].rsplit("/", 1)[1] for s in section.skipped_profiles) == [
        "deep.json",
        "huge.json",
    ]
    assert [v.version for v in wine.versions] == [capturing]  # the odd folder: skipped
    assert "<b>bad name" not in reports  # not a model name: skipped
    # a version the registry does not have: its rows are counted, not compared
    (unknown,) = reports["ghost"].versions
    assert unknown.status == "unknown version"
    assert unknown.rows == 1


def test_consecutive_scheduled_periods_read_each_window_once() -> None:
    start = datetime(2026, 11, 24, 10, 0, 7, tzinfo=UTC)
    seen: list[datetime] = []
    for number in range(6):  # every 15 minutes, a few seconds late each time
        now = start + timedelta(minutes=15 * number, seconds=number * 3)
        period = Period.of(now, 15, settle_seconds=120)
        windows = [period.first + timedelta(minutes=5 * i) for i in range(3)]
        assert all(period.holds(w) for w in windows)
        assert period.end - period.first == timedelta(minutes=15)
        assert period.end <= now - timedelta(seconds=120)  # closed and settled
        seen += windows
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(seen))
    # on demand, the window still open is included
    open_period = Period.of(start, 15, settle_seconds=None)
    assert open_period.holds(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="lookback"):
        Period.of(start, 0, settle_seconds=None)


def test_an_operators_thresholds_apply_to_every_version(s3: Any, capturing: str) -> None:
    for _ in range(40):
        assert invoke(post(instances(ROW)))[0] == 200  # one wine, 40 times: far from training
    _flush()
    (report,) = _monitor(s3)
    assert report.status == "drift"
    key = "monitoring/thresholds/wine.json"
    s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=json.dumps({"drift_psi": 100}).encode())
    (relaxed,) = _monitor(s3)
    assert relaxed.status != "drift"
    s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=b'{"x": 1}')
    (ignored,) = _monitor(s3)
    assert ignored.status == "drift"
    assert f"{key} ignored" in ignored.versions[0].message


@pytest.mark.parametrize(
    "event",
    [{"models": "wine"}, {"lookback_minutes": -5}, {"lookback_minutes": "60"}, {"other": 1}],
)
def test_the_monitor_refuses_a_malformed_event(
    event: dict[str, Any], monkeypatch: pytest.MonkeyPatch, s3: Any
) -> None:
    monkeypatch.setenv("MODEL_BUCKET", MODEL_BUCKET)
    monkeypatch.setenv("CAPTURE_BUCKET", DATA_BUCKET)
    monitor_app._settings.cache_clear()
    with pytest.raises(ValueError, match=r"must|unknown"):
        monitor_app.lambda_handler(event, _context())
    assert s3_store.list_keys(s3, DATA_BUCKET, "monitoring/reports/") == []


def test_realtime_loads_the_baseline_in_the_capture_thread(s3: Any, capturing: str) -> None:
    """A cold start loads the model alone; the bins come when the thread first counts."""
    assert invoke(post(instances(ROW)))[0] == 200
    model = realtime_app.container.get().models.current
    assert model is not None
    assert model.baseline is None
    _flush()
    (profile,) = _profiles(s3)
    assert profile["layout"]
    assert sum(profile["prediction"]["counts"]) == 1


def test_rows_counted_without_bins_are_not_called_ok(s3: Any, wine: str) -> None:
    """Serving could not load the baseline: its rows are counted but cannot be compared."""
    now = int(time.time())  # one clock reading: the window cannot turn between two
    window = window_name(datetime.fromtimestamp(now - now % WINDOW_SECONDS, UTC))
    document = {"format": 1, "model": "wine", "version": wine, "layout": "", "rows": 500}
    document |= {"refused_rows": 0, "refusals": {}, "columns": {}, "prediction": None}
    key = f"{PROFILES}wine/{wine}/{window}/realtime-x.json"
    s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=json.dumps(document).encode())
    (report,) = _monitor(s3)
    (section,) = report.versions
    assert section.status == "not compared"
    assert "500 rows were counted without the baseline's bins" in section.message
