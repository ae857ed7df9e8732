"""The feedback loop through the handlers: an id on every answer, predictions kept, labels
joined exactly, every bad label accounted for, live quality judged, and retraining on
what production saw."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from monitor import app as monitor_app

from infra.local_env import DATA_BUCKET, MODEL_BUCKET
from predictor.batch_keys import row_id_prefix
from predictor.io import s3_store
from predictor.models.registry import RegistryReader
from predictor.monitoring import feedback, kept
from predictor.monitoring.feedback import NOT_FEATURES
from predictor.monitoring.layout import JOINED, KEPT, LABEL_REPORTS
from predictor.monitoring.monitor import run_monitor
from predictor.monitoring.reports import ModelReport, Period
from realtime import app as realtime_app
from tests.helpers import ROOT, WINE_LINES, Artifacts, call, put, run, sqs_event
from training import handler
from training.registry_admin import ModelRegistry

NAMES = [n.strip('"') for n in WINE_LINES[0].split(";")]
WHITE = (ROOT / "data" / "winequality-white-sample.csv").read_text().splitlines()[1:]
GENERATED = re.compile(r"[0-9a-f]{32}")


def wine_rows(lines: list[str]) -> list[tuple[dict[str, float], float]]:
    """(features, quality) of ``;``-separated wine lines."""
    found = []
    for line in lines:
        values = dict(zip(NAMES, (float(v) for v in line.split(";")), strict=True))
        found.append((values, values.pop("quality")))
    return found


RED = wine_rows(WINE_LINES[1:])


@pytest.fixture
def keeping(monkeypatch: pytest.MonkeyPatch, wine: str) -> str:
    """Capture and feedback on, into the data bucket, flushed only when a test asks."""
    monkeypatch.setenv("CAPTURE_BUCKET", DATA_BUCKET)
    monkeypatch.setenv("KEEP_PREDICTIONS", "true")
    monkeypatch.setenv("CAPTURE_FLUSH_SECONDS", "3600")
    realtime_app.container.reset()
    return wine


def flush() -> None:
    capture = realtime_app.container.get().capture
    assert capture is not None
    capture.flush()


def predict(rows: list[dict[str, float]], inference_id: str | None = None) -> dict[str, Any]:
    headers = {"x-inference-id": inference_id} if inference_id else {}
    status, body, answer_headers = call(
        "POST", "/predict", json.dumps({"instances": rows}), headers
    )
    assert status == 200, body
    answer = json.loads(body)
    assert answer_headers["X-Inference-Id"] == answer["inference_id"]
    return dict(answer)


def monitor(s3: Any, **options: Any) -> ModelReport:
    period = Period.of(datetime.now(UTC), 60, settle_seconds=None)
    reports = run_monitor(s3, DATA_BUCKET, RegistryReader(s3, MODEL_BUCKET), period, **options)
    (report,) = [r for r in reports if r.model == "wine"]
    return report


def labels_csv(pairs: list[tuple[str, Any]]) -> bytes:
    return ("inference_id,label\n" + "".join(f"{i},{v}\n" for i, v in pairs)).encode()


# ----- an id on every answer ---------------------------------------------------------------
def test_every_answer_carries_an_id_the_caller_may_choose(wine: str) -> None:
    row = RED[0][0]
    made = predict([row])["inference_id"]
    assert GENERATED.fullmatch(made)
    assert predict([row], "order-17")["inference_id"] == "order-17"
    status, body, headers = call(
        "POST", "/invocations", json.dumps({"instances": [row, row]}),
        {"x-amzn-sagemaker-inference-id": "sm-1"},
    )  # fmt: skip
    assert (status, json.loads(body)["inference_id"], headers["X-Inference-Id"]) == (
        200, "sm-1", "sm-1",
    )  # fmt: skip
    status, body, _ = call("POST", "/predict", json.dumps({"instances": [row]}),
                           {"x-inference-id": "has space"})  # fmt: skip
    assert status == 400
    assert "x-inference-id must be 1 to 64 characters" in json.loads(body)["error"]["message"]
    status, body, headers = call(
        "POST", "/predict", json.dumps({"instances": [row, row, row]}),
        {"accept": "application/jsonlines", "x-inference-id": "batch-9"},
    )  # fmt: skip
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [line["inference_id"] for line in lines] == ["batch-9#0", "batch-9#1", "batch-9#2"]
    status, body, headers = call("POST", "/predict", json.dumps({"instances": [row]}),
                                 {"accept": "text/csv", "x-inference-id": "csv-1"})  # fmt: skip
    assert status == 200
    assert headers["X-Inference-Id"] == "csv-1"
    tensors = [{"name": n, "shape": [1], "datatype": "FP64", "data": [row[n]]} for n in row]
    for body_id, expected in (("v2-id", "v2-id"), (None, None)):
        request = {"inputs": tensors, **({"id": body_id} if body_id else {})}
        status, body, headers = call("POST", "/v2/models/wine/infer", json.dumps(request))
        answer = json.loads(body)
        assert status == 200
        assert answer["parameters"]["inference_id"] == headers["X-Inference-Id"]
        if expected:
            assert answer["parameters"]["inference_id"] == expected
        else:
            assert GENERATED.fullmatch(answer["parameters"]["inference_id"])


# ----- predictions kept, labels joined -------------------------------------------------------
def test_labels_join_exactly_to_each_version(
    s3: Any, keeping: str, serve: ModelRegistry, wine_linear: Artifacts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("ALIAS_RECHECK_SECONDS", "0")  # the alias's move is seen at once
    realtime_app.container.reset()
    first = keeping
    second = wine_linear.publish(serve)["version"]
    for i, (features, _) in enumerate(RED[:30]):
        predict([features], f"v{first[-6:]}-{i}")
    serve.set_alias("wine", "production", second)
    for i, (features, _) in enumerate(RED[30:50]):
        assert predict([features], f"v{second[-6:]}-{i}")["model"]["version"] == second
    flush()
    labels = [(f"v{first[-6:]}-{i}", q) for i, (_, q) in enumerate(RED[:30])]
    labels += [(f"v{second[-6:]}-{i}", q) for i, (_, q) in enumerate(RED[30:50])]
    put(s3, "labels/wine/day-1.csv", labels_csv(labels))
    report = monitor(s3)
    (read,) = report.labels
    assert (read["labels"], read["joined"], read["bad_lines"]) == (50, 50, 0)
    assert read["by_version"] == {first: 30, second: 20}
    assert {v: s["rows"] for v, s in report.quality.items()} == {first: 30, second: 20}
    joined = {
        key.split("/")[3]: _joined_rows(s3, key)
        for key in s3_store.list_keys(s3, DATA_BUCKET, f"{JOINED}wine/")
    }
    assert {v: len(rows) for v, rows in joined.items()} == {first: 30, second: 20}
    row = joined[first][0]
    assert float(row["quality"]) == RED[0][1]  # the label, under the model's target
    assert float(row["alcohol"]) == RED[0][0]["alcohol"]  # the features as captured
    # A second run reads no file twice.
    assert monitor(s3).labels == []


def test_labels_join_to_the_rows_a_batch_run_scored(s3: Any, keeping: str) -> None:
    """A batch output is the record: ids are the input key and line, read back from it."""
    key = "incoming/shipment.csv"
    text = "\n".join([WINE_LINES[0], *WINE_LINES[1:41]]) + "\n"
    etag = put(s3, key, text.encode())
    assert run(sqs_event(key, etag)) == {"batchItemFailures": []}
    output = list(csv.reader(io.StringIO((s3_store.get_bytes(s3, DATA_BUCKET,
                  "predictions/shipment.csv") or b"").decode()), delimiter=";"))  # fmt: skip
    ids = [row[-1] for row in output[1:]]
    prefix = row_id_prefix(key, etag)
    assert ids == [f"{prefix}{line}" for line in range(2, 42)]
    labels = [(identity, q) for identity, (_, q) in zip(ids, RED[:40], strict=True)]
    labels.append((f"{prefix}99", 5))  # a line the file does not have
    labels.append((row_id_prefix("incoming/never-scored.csv", etag) + "2", 5))
    put(s3, "labels/wine/shipment.csv", labels_csv(labels))
    report = monitor(s3)
    (read,) = report.labels
    assert (read["joined"], read["unknown"], read["coverage"]) == (40, 2, 1.0)
    assert read["by_version"] == {keeping: 40}
    assert report.quality[keeping]["rows"] == 40
    (joined_key,) = s3_store.list_keys(s3, DATA_BUCKET, f"{JOINED}wine/")
    rows = _joined_rows(s3, joined_key)
    assert [row["inference_id"] for row in rows] == ids
    assert [float(row["quality"]) for row in rows] == [q for _, q in RED[:40]]
    assert float(rows[0]["alcohol"]) == RED[0][0]["alcohol"]
    assert float(rows[0]["prediction"]) == pytest.approx(float(output[1][-2]))
    # The same columns as the rows kept by the realtime function: one table to retrain on.
    assert list(rows[0])[:5] == ["inference_id", "time", "label_time", "prediction", "quality"]
    assert set(rows[0]) == {
        "inference_id",
        "time",
        "label_time",
        "prediction",
        "quality",
        *NAMES[:-1],
    }


def test_a_run_joins_a_bounded_number_of_labels_and_the_next_run_the_rest(
    s3: Any, keeping: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feedback, "MAX_LABELS_PER_RUN", 30)
    pairs = [(predict([features])["inference_id"], q) for features, q in RED[:60]]
    flush()
    put(s3, "labels/wine/a.csv", labels_csv(pairs[:30]))
    put(s3, "labels/wine/b.csv", labels_csv(pairs[30:]))
    first = monitor(s3).labels
    assert len(first) == 1
    assert first[0]["joined"] == 30
    (other,) = {"labels/wine/a.csv", "labels/wine/b.csv"} - {first[0]["key"]}
    second = monitor(s3).labels
    assert [(r["key"], r["joined"]) for r in second] == [(other, 30)]
    assert monitor(s3).labels == []


def test_a_labels_file_younger_than_the_settle_time_waits_for_a_later_run(
    s3: Any, keeping: str
) -> None:
    pairs = [(predict([features])["inference_id"], q) for features, q in RED[:5]]
    flush()
    put(s3, "labels/wine/new.csv", labels_csv(pairs))
    assert monitor(s3, labels_settle_seconds=3600).labels == []  # arrived seconds ago
    (read,) = monitor(s3, labels_settle_seconds=0).labels
    assert read["joined"] == 5


def test_labels_of_an_earlier_upload_never_join_the_rows_of_a_later_one(
    s3: Any, keeping: str
) -> None:
    """A daily file under one key: Monday's labels name Monday's upload, not Tuesday's."""
    key = "incoming/daily.csv"
    monday = "\n".join([WINE_LINES[0], *WINE_LINES[1:31]]) + "\n"
    monday_tag = put(s3, key, monday.encode())
    assert run(sqs_event(key, monday_tag)) == {"batchItemFailures": []}
    tuesday = "\n".join([WINE_LINES[0], *WINE_LINES[31:61]]) + "\n"
    assert run(sqs_event(key, put(s3, key, tuesday.encode()))) == {"batchItemFailures": []}
    late = [(row_id_prefix(key, monday_tag) + str(line), 5) for line in range(2, 32)]
    put(s3, "labels/wine/monday.csv", labels_csv(late))
    (read,) = monitor(s3).labels
    assert (read["joined"], read["unknown"]) == (0, 30)


def test_a_labels_file_uploaded_again_under_its_key_is_read_again(s3: Any, keeping: str) -> None:
    pairs = [(predict([features])["inference_id"], q) for features, q in RED[:4]]
    flush()
    put(s3, "labels/wine/today.csv", labels_csv(pairs[:2]))
    assert [r["joined"] for r in monitor(s3).labels] == [2]
    time.sleep(1.1)  # S3 dates an upload to the second: this one is another
    put(s3, "labels/wine/today.csv", labels_csv(pairs[2:]))
    assert [r["joined"] for r in monitor(s3).labels] == [2]
    assert monitor(s3).labels == []


def test_a_labels_file_outside_a_model_s_folder_is_reported_once_with_where_it_goes(
    s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    put(s3, "labels/", b"")  # the folder object a console makes: not a file
    put(s3, "labels/today.csv", labels_csv([("order-1", 6)]))
    period = Period.of(datetime.now(UTC), 60, settle_seconds=None)
    with caplog.at_level("WARNING"):
        for _ in range(2):
            run_monitor(s3, DATA_BUCKET, RegistryReader(s3, MODEL_BUCKET), period)
    said = [r.getMessage() for r in caplog.records if "labels file" in r.getMessage()]
    assert said == [
        "labels file labels/today.csv: not read: labels go under labels/<model>/ "
        "(move it to labels/<model>/today.csv)"
    ]
    (key,) = list(s3_store.list_keys(s3, DATA_BUCKET, LABEL_REPORTS))
    assert re.fullmatch(re.escape(LABEL_REPORTS) + r"today\.csv@\d+\.json", key)
    report = json.loads(s3_store.get_bytes(s3, DATA_BUCKET, key) or b"")
    assert report["key"] == "labels/today.csv"
    assert report["labels"] == 0
    assert report["error"].startswith("not read: labels go under")


def _joined_rows(s3: Any, key: str) -> list[dict[str, str]]:
    body = s3_store.get_bytes(s3, DATA_BUCKET, key) or b""
    return list(csv.DictReader(io.StringIO(gzip.decompress(body).decode())))


# ----- every label accounted for ----------------------------------------------------------
def test_every_bad_label_is_counted_and_reported_never_a_crash(
    s3: Any, keeping: str, serve: ModelRegistry, churn_classifier: Artifacts
) -> None:
    ids = [predict([features], f"red-{i}")["inference_id"] for i, (features, _) in
           enumerate(RED[:6])]  # fmt: skip
    # Another model's prediction, kept under its own name.
    churn = churn_classifier.publish(serve, name="churn")["version"]
    serve.set_alias("churn", "production", churn)
    status, _, _ = call(
        "POST", "/models/churn/predict",
        json.dumps({"instances": [{"tenure months": 3, "plan": "basic", "monthly fee": 20}]}),
        {"x-inference-id": "churn-1"},
    )  # fmt: skip
    assert status == 404  # not served by this function: its predictions are kept elsewhere
    store = kept.KeptPredictions("other-writer")
    store.add("churn", churn, None, {"plan": np.array(["basic"], dtype=object)},
              np.array(["yes"], dtype=object), ["churn-1"], [datetime.now(UTC).timestamp()],
              None)  # fmt: skip
    store.store(s3, DATA_BUCKET, lambda what: pytest.fail(what))
    flush()
    old = f"{int((datetime.now(UTC).timestamp() - 40 * 86400) * 1000):011x}" + "0" * 21
    text = (
        "inference_id,label\n"
        f"{ids[0]},5\n"  # joined
        f"{ids[1]},6\n"  # joined
        f"{ids[1]},7\n"  # the same id twice in a file: a duplicate
        f"{ids[2]},abc\n"  # not a number for a regression: the wrong type
        "churn-1,5\n"  # another model's prediction
        f"{old},5\n"  # made 40 days ago: older than the kept predictions
        "never-made,5\n"  # unknown
        "\n"  # a blank line
        f"{ids[3]},5,extra\n"  # a line of three fields
        ",5\n"  # no id
        f"{ids[4]},\n"  # no label
    )
    put(s3, "labels/wine/first.csv", text.encode())
    ground_truth = "\n".join(
        json.dumps({"groundTruthData": {"data": str(v), "encoding": "CSV"},
                    "eventMetadata": {"eventId": i}, "eventVersion": "0"})
        for i, v in ((ids[5], 6), (ids[0], 5))  # the second was labelled in first.csv
    ) + "\nnot json\n"  # fmt: skip
    put(s3, "labels/wine/second.jsonl", ground_truth.encode())
    put(s3, "labels/wine/notes.txt", b"not labels")
    put(s3, "labels/wine/headless.csv", b"id,value\n1,2\n")
    report = monitor(s3)
    by_key = {r["key"].rsplit("/", 1)[1]: r for r in report.labels}
    first = by_key["first.csv"]
    counts = {k: first[k] for k in ("labels", "joined", "duplicates", "wrong_type",
                                     "other_model", "too_old", "unknown", "bad_lines")}  # fmt: skip
    assert counts == {"labels": 7, "joined": 2, "duplicates": 1, "wrong_type": 1,
                      "other_model": 1, "too_old": 1, "unknown": 1, "bad_lines": 4}  # fmt: skip
    assert first["bad_lines_listed"] == [
        {"line": 9, "reason": "blank line"},
        {"line": 10, "reason": "expected 2 fields, got 3"},
        {"line": 11, "reason": "no inference_id"},
        {"line": 12, "reason": "no label"},
    ]
    second = by_key["second.jsonl"]
    assert (second["joined"], second["duplicates"], second["bad_lines"]) == (1, 1, 1)
    assert second["bad_lines_listed"][0]["line"] == 3
    assert "name it .csv or .jsonl" in by_key["notes.txt"]["error"]
    assert "must name inference_id and label" in by_key["headless.csv"]["error"]
    # Each file has its report, which also marks it read.
    reports = s3_store.list_keys(s3, DATA_BUCKET, f"{LABEL_REPORTS}wine/")
    assert len(reports) == 4
    assert monitor(s3).labels == []


# ----- live quality ------------------------------------------------------------------------
def test_labels_from_the_training_distribution_rarely_alarm(
    serve: ModelRegistry, wine_linear: Artifacts, wine: str
) -> None:
    """100 windows of 60 labels drawn from the wine data the model was trained and tested
    on: quality holds in at least 95 of them."""
    from predictor.monitoring.live_quality import measure

    answer = predict([features for features, _ in RED])
    predictions = np.array(answer["predictions"])
    qualities = np.array([q for _, q in RED])
    manifest = serve.manifest("wine", wine)
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(100):
        chosen = rng.choice(len(RED), 60, replace=False)
        rows = [{"prediction": str(predictions[i]), "quality": str(qualities[i]),
                 "time": "0", "label_time": "1"} for i in chosen]  # fmt: skip
        alarms += measure(rows, manifest)["dropped"]
    assert alarms <= 5


def test_a_shifted_relation_alarms_within_one_period(
    s3: Any, keeping: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The red-wine model's answers labelled with white wines' qualities: the first
    monitor run after the labels arrive says quality dropped, as metric and as report."""
    rng = np.random.default_rng(3)
    whites = wine_rows([WHITE[i] for i in rng.choice(len(WHITE), 80, replace=False)])
    pairs = []
    for i, (features, _) in enumerate(RED[:80]):
        answer = predict([features], f"shift-{i}")
        pairs.append((answer["inference_id"], whites[i][1]))
    flush()
    put(s3, "labels/wine/white.csv", labels_csv(pairs))
    capsys.readouterr()
    answer = monitor_app.lambda_handler({"include_open_window": True}, _context())
    (summary,) = [r for r in answer["reports"] if r["model"] == "wine"]
    assert summary["labels_joined"] == 80
    (verdict,) = summary["quality"].values()
    assert verdict.startswith("dropped: mse")
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if '"QualityDropped"' in line]  # fmt: skip
    assert [m["QualityDropped"] for m in metrics] == [[1.0]]
    page = s3_store.get_bytes(s3, DATA_BUCKET, "monitoring/reports/wine/latest.html") or b""
    assert b"Live quality" in page
    assert b"<svg" in page
    assert b"dropped: mse" in page


def _context() -> Any:
    from infra.lambda_context import LambdaContext

    return LambdaContext("monitor")


def test_keeping_predictions_with_s3_failing_loses_no_answer_and_no_row(
    s3: Any, keeping: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = True
    real_put = s3_store.put_bytes

    def put_bytes(client: Any, bucket: str, key: str, body: bytes, kind: str) -> None:
        if failing and key.startswith(KEPT):
            raise ConnectionError("S3 is down")
        real_put(client, bucket, key, body, kind)

    monkeypatch.setattr(kept.s3_store, "put_bytes", put_bytes)
    ids = [predict([features])["inference_id"] for features, _ in RED[:25]]
    flush()  # fails: the rows stay for the next flush
    capture = realtime_app.container.get().capture
    assert capture is not None
    assert capture.failures >= 1
    assert not s3_store.list_keys(s3, DATA_BUCKET, KEPT)
    failing = False
    flush()
    keys = s3_store.list_keys(s3, DATA_BUCKET, KEPT)
    bodies = [s3_store.get_bytes(s3, DATA_BUCKET, key) or b"" for key in keys]
    stored = [row.inference_id for body in bodies for row in kept.read_kept(body)]
    assert sorted(stored) == sorted(ids)


# ----- retraining on what production saw ----------------------------------------------------
def test_retraining_on_joined_rows_promotes_only_a_better_model(
    s3: Any, keeping: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = [(predict([features])["inference_id"], q) for features, q in RED[:400]]
    flush()
    put(s3, "labels/wine/june.csv", labels_csv(pairs))
    monitor(s3)
    monkeypatch.setenv("MODEL_BUCKET", MODEL_BUCKET)
    monkeypatch.setattr(handler, "s3_client", lambda: s3)
    event = {
        "data": f"s3://{DATA_BUCKET}/{JOINED}wine/", "target": "quality", "name": "wine",
        "candidates": ["linear"], "settings_per_candidate": 1, "cv_folds": 3,
        "drop": list(NOT_FEATURES),
        "promote": "production", "require_improvement": True,
        "report_to": f"s3://{DATA_BUCKET}/monitoring/retraining/",
    }  # fmt: skip
    answer = handler.lambda_handler(event, None)
    assert answer["rows"] == 400
    # The holder was trained before these rows arrived: both are compared on half of them.
    comparison = answer["comparison"]
    assert comparison["current_version"] == keeping
    assert comparison["metric"] == "mse"
    # Promoted exactly when the new version's error on those rows is lower.
    assert answer["promoted"] == (comparison["new"] < comparison["current"])
    alias = RegistryReader(s3, MODEL_BUCKET).alias("wine", "production")
    assert alias is not None
    assert alias["version"] == (answer["version"] if answer["promoted"] else keeping)
    assert answer["promotion"]
    record = s3_store.read_json(
        s3, DATA_BUCKET, f"monitoring/retraining/wine/{answer['version']}.json"
    )
    assert record is not None
    assert record[0]["promotion"] == answer["promotion"]
