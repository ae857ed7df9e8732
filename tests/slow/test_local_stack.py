"""`make run`'s program as a user meets it: a subprocess serving HTTP on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from infra.api_checks import check_api
from infra.local_env import DATA_BUCKET, MODEL_BUCKET
from predictor.batch_keys import row_id_prefix
from tests.helpers import (
    ROOT,
    SIGNING_REGION,
    SIGNING_SECRET,
    WINE_CSV,
    LocalStack,
    load_event,
    serving,
    verifying_forwarder,
)
from tests.helpers import local_stack as start_local_stack


def call(url: str, body: bytes | None = None, content_type: str = "") -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if content_type:
        request.add_header("content-type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for(s3: Any, key: str, seconds: float = 30) -> bytes:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return bytes(s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            time.sleep(0.2)
    raise AssertionError(f"{key} did not appear within {seconds} s")


@pytest.fixture(scope="module")
def function_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs") / "functions.log"


@pytest.fixture(scope="module")
def local_stack(function_log: Path) -> Iterator[LocalStack]:
    # Files of 0.5 MiB or more take the state machine, in ranges of 0.1 MiB.
    options = ["--candidates", "linear", "--fan-out-min-mib", "0.5", "--range-mib", "0.1"]
    options += ["--range-workers", "2", "--monitor-seconds", "1", "--log-file", str(function_log)]
    with start_local_stack(*options) as stack:
        yield stack


def test_the_terminal_shows_requests_and_files_and_the_log_keeps_functions_apart(
    local_stack: LocalStack, function_log: Path
) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{local_stack.s3_port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    rows = WINE_CSV.read_text().splitlines()[:6]
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/shown.csv", Body="\n".join(rows).encode())
    wait_for(s3, "reports/shown.csv.json")
    # After a batch run in the same process, requests (one refused) are logged...
    assert call(f"{local_stack.api}/predict", b"alcohol\n9.5\n", "text/csv")[0] == 422
    assert call(f"{local_stack.api}/health")[0] == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        "shown.csv: 5 rows scored" in line for line in local_stack.lines
    ):
        time.sleep(0.1)
    terminal = "".join(local_stack.lines)
    # The terminal: one line per request and per file, no JSON log or metrics line.
    assert "batch  incoming/shown.csv: 5 rows scored, 0 refused by wine-quality" in terminal
    assert "api  POST /predict -> 422" in terminal
    assert not [line for line in local_stack.lines if line.lstrip().startswith("{")]
    assert "UserWarning" not in terminal
    # The log file: the functions' JSON lines, each function's keys its own.
    logged = [json.loads(line) for line in function_log.read_text().splitlines() if line[:1] == "{"]
    api_lines = [line for line in logged if line.get("service") == "realtime"]
    batch_lines = [line for line in logged if line.get("service") == "batch"]
    assert any(line.get("message") == "request refused" for line in api_lines)
    assert any(line.get("object_key") == "incoming/shown.csv" for line in batch_lines)
    assert not [line for line in api_lines if "object_key" in line or "step" in line]


@pytest.mark.parametrize("which", ["--s3-port", "--api-port"])
def test_a_port_in_use_ends_the_stack_at_once_with_what_to_do(which: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = "--api-port" if which == "--s3-port" else "--s3-port"
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "infra.local_stack", which, str(port), other, "0"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert run.returncode == 1
    assert time.monotonic() - started < 30  # before any training
    assert f"port {port} on 127.0.0.1 is in use" in run.stderr
    assert "S3_PORT=" in run.stderr


def test_local_stack_trains_serves_and_stops(local_stack: LocalStack) -> None:
    text, api, s3_port = local_stack.output, local_stack.api, local_stack.s3_port
    assert f"{api}/predict" in text
    status, health = call(f"{api}/health")
    assert status == 200
    assert health["model"]["name"] == "wine-quality"
    # The checks `make sam-local` runs against `sam local start-api`, over HTTP.
    results = check_api(api)
    assert len(results) >= 8
    assert [(r.name, r.problem) for r in results if r.problem] == []
    body = json.loads(load_event("realtime_predict_json.json")["body"])
    status, answer = call(f"{api}/predict", json.dumps(body).encode(), "application/json")
    assert status == 200
    assert len(answer["predictions"]) == 2
    status, answer = call(f"{api}/predict", b"alcohol\n9.5\n", "text/csv")
    assert status == 422
    assert answer["error"]["type"] == "schema_violation"
    # A CSV dropped under incoming/ is scored through S3 -> SQS -> the batch handler
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{s3_port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    rows = WINE_CSV.read_text().splitlines()[:11]
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/dropped.csv", Body="\n".join(rows).encode())
    scored = wait_for(s3, "predictions/dropped.csv")
    lines = scored.decode().splitlines()
    assert len(lines) == 11
    assert lines[0].endswith(';"quality";prediction;inference_id')
    dropped_tag = s3.head_object(Bucket=DATA_BUCKET, Key="incoming/dropped.csv")["ETag"]
    assert lines[1].endswith(";" + row_id_prefix("incoming/dropped.csv", dropped_tag) + "2")
    report = json.loads(wait_for(s3, "reports/dropped.csv.json"))
    assert report["rows"] == {"read": 10, "scored": 10, "rejected": 0}
    # White wines dropped into the red-wine model show up as drift in the monitor's report
    # (before the large red file, which would outweigh them in the same window).
    white = (ROOT / "data" / "winequality-white-sample.csv").read_bytes()
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/white.csv", Body=white)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        latest = json.loads(wait_for(s3, "monitoring/reports/wine-quality/latest.json"))
        if latest["status"] == "drift":
            break
        time.sleep(0.5)
    assert latest["status"] == "drift", latest
    (version,) = latest["versions"]
    assert {"chlorides", "total sulfur dioxide"} <= set(version["drifted"])
    page = wait_for(s3, "monitoring/reports/wine-quality/latest.html").decode()
    assert page.startswith("<!doctype html>")
    # A larger file is scored in byte ranges by the state machine, to the same rows.
    header, data_rows = rows[0], WINE_CSV.read_text().splitlines()[1:]
    large = "\n".join([header, *(data_rows * 7)]) + "\n"
    s3.put_object(Bucket=DATA_BUCKET, Key="incoming/large.csv", Body=large.encode())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        report = json.loads(wait_for(s3, "reports/large.csv.json"))
        if report["status"] != "running":
            break
        time.sleep(0.2)
    assert report["status"] == "succeeded", report
    assert report["rows"]["scored"] == len(data_rows) * 7
    assert report["fan_out"]["ranges"]["total"] >= 5
    assert report["fan_out"]["workers"] == 2
    scored_large = wait_for(s3, "predictions/large.csv").decode().splitlines()
    # The same rows and predictions; each row's id names its own upload and line.
    assert [line.rsplit(";", 1)[0] for line in scored_large[:11]] == [
        line.rsplit(";", 1)[0] for line in lines
    ]
    large_tag = s3.head_object(Bucket=DATA_BUCKET, Key="incoming/large.csv")["ETag"]
    large_prefix = row_id_prefix("incoming/large.csv", large_tag)
    assert scored_large[1].endswith(f";{large_prefix}2")
    assert scored_large[-1].endswith(f";{large_prefix}{len(data_rows) * 7 + 1}")


# ----- the feedback loop, as the banner shows it ---------------------------------------------
def test_labels_dropped_with_awscli_report_live_quality_within_a_minute(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    api, endpoint = local_stack.api, f"http://127.0.0.1:{local_stack.s3_port}"
    rows = [line.split(";") for line in WINE_CSV.read_text().splitlines()[1:41]]
    names = [n.strip('"') for n in WINE_CSV.read_text().splitlines()[0].split(";")]
    labels = ["inference_id,label"]
    for n, row in enumerate(rows):
        instance = dict(zip(names[:-1], map(float, row[:-1]), strict=True))
        answer = requests.post(
            f"{api}/predict", json={"instances": [instance]},
            headers={"x-inference-id": f"order-{n}"}, timeout=10,
        )  # fmt: skip
        assert answer.status_code == 200
        assert answer.headers["x-inference-id"] == answer.json()["inference_id"] == f"order-{n}"
        labels.append(f"order-{n},{row[-1]}")
    labels.append("order-unknown,5")
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(labels) + "\n")
    environment = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                   "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    subprocess.run(
        [str(CLIENTS_PYTHON), "-m", "awscli", "--endpoint-url", endpoint, "s3", "cp", str(path),
         f"s3://{DATA_BUCKET}/labels/wine-quality/day-1.csv"],
        check=True, capture_output=True, env=environment, timeout=60,
    )  # fmt: skip
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
    deadline = time.monotonic() + 60
    quality: dict[str, Any] = {}
    while time.monotonic() < deadline and not quality:
        latest = json.loads(wait_for(s3, "monitoring/reports/wine-quality/latest.json"))
        quality = latest.get("quality") or {}
        time.sleep(0.5)
    ((version, section),) = quality.items()
    assert section["rows"] == 40
    assert section["primary"] == "mse"
    # Red wines' own labels for the red-wine model: its quality holds.
    assert section["verdict"].startswith("holding"), section
    page = wait_for(s3, "monitoring/reports/wine-quality/latest.html").decode()
    assert "Live quality" in page
    # The terminal says what became of the file; `python -m monitor` prints the quality.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("day-1.csv" in x for x in local_stack.lines):
        time.sleep(0.2)
    printed_lines = "".join(local_stack.lines)
    assert "labels/wine-quality/day-1.csv: 40 of 41 labels joined (1 unknown)" in printed_lines
    printed = subprocess.run(
        [sys.executable, "-m", "monitor", "--bucket", DATA_BUCKET, "--registry",
         f"s3://{MODEL_BUCKET}", "--lookback-minutes", "60"],
        capture_output=True, text=True, env={**environment, "AWS_ENDPOINT_URL": endpoint,
        "PYTHONPATH": f"{ROOT / 'functions'}"}, timeout=120,
    )  # fmt: skip
    # 1 when an earlier test's white wines drifted in the same hour; 2 would be a failure.
    assert printed.returncode in (0, 1), printed.stderr
    assert f"  quality {version}: {section['verdict']}; 40 labels" in printed.stdout


# ----- the smoke check of a deployed stack, against this one -------------------------------
def _smoke(api: str, local_stack: LocalStack, *extra: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{local_stack.s3_port}",
        "AWS_ACCESS_KEY_ID": SIGNING_SECRET.access_key,
        "AWS_SECRET_ACCESS_KEY": SIGNING_SECRET.secret_key,
        "AWS_SESSION_TOKEN": SIGNING_SECRET.token,
    }
    return subprocess.run(
        [sys.executable, "-m", "infra.smoke", "--api", api, "--data-bucket", DATA_BUCKET,
         "--batch-timeout", "60", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False, env=environment,
    )  # fmt: skip


def test_the_smoke_check_passes_against_the_local_stack(local_stack: LocalStack) -> None:
    done = _smoke(local_stack.api, local_stack)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    checks = [line for line in lines if line.startswith(("ok  ", "FAIL"))]
    assert len(checks) == 8
    assert all(line.startswith("ok  ") for line in checks)
    assert "a refusal (422)                422 naming row 0, column 'fixed acidity'" in done.stdout
    assert lines[-1] == "8 of 8 checks passed"


def test_the_smoke_check_signs_every_request_as_a_verifier_recomputes_it(
    local_stack: LocalStack,
) -> None:
    """Everything but the AWS endpoint: a verifier holding the secret checks each signature,
    then passes the request on to the local stack."""
    verdicts: list[bool] = []
    forwarder = ThreadingHTTPServer(
        ("127.0.0.1", 0), verifying_forwarder(local_stack.api, verdicts)
    )
    with serving(forwarder) as port:
        done = _smoke(f"http://127.0.0.1:{port}", local_stack, "--region", SIGNING_REGION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(verdicts) == 7  # every API check (the batch check talks to S3)
    assert all(verdicts)
    # And a stack that cannot be read is an exit status 2 with a message, not a traceback
    failed = _smoke("ftp://nowhere", local_stack)
    assert failed.returncode == 2
    assert "not an http(s) URL" in failed.stderr
    assert "Traceback" not in failed.stderr


# ----- clients no one here wrote, over HTTP ------------------------------------------------
CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
REGRESSOR, CLASSIFIER = "wine-quality", "wine-quality-class"
WINE_COLUMNS = [c.strip('"') for c in WINE_CSV.read_text().splitlines()[0].split(";")][:11]
SAMPLE = [
    [float(v) for v in line.split(";")[:11]] for line in WINE_CSV.read_text().splitlines()[1:7]
]


def _predict(api: str, model: str) -> dict[str, Any]:
    body = json.dumps({"dataframe_split": {"columns": WINE_COLUMNS, "data": SAMPLE}}).encode()
    status, answer = call(f"{api}/models/{model}/predict", body, "application/json")
    assert status == 200, answer
    return dict(answer)


def test_tritonclient_speaks_to_the_api(local_stack: LocalStack) -> None:
    if not CLIENTS_PYTHON.exists():
        pytest.fail("no .venv-clients: `make test` creates it (requirements-clients.txt)")
    url = local_stack.api.removeprefix("http://")
    run = subprocess.run(
        [
            str(CLIENTS_PYTHON),
            "tests/clients/tritonclient_checks.py",
            url,
            REGRESSOR,
            CLASSIFIER,
            json.dumps(SAMPLE),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    expected = _predict(local_stack.api, REGRESSOR)
    classes = _predict(local_stack.api, CLASSIFIER)
    assert got["live"]
    assert got["ready"]
    assert got["model_ready"]
    assert got["version_ready"]
    assert got["unknown_model_ready"] is False
    assert "binary_tensor_data" in got["server_metadata"]["extensions"]
    assert [i["name"] for i in got["metadata"]["inputs"]] == WINE_COLUMNS
    # The same rows, the same predictions: binary, JSON per column, at a version.
    assert got["predict_binary"] == expected["predictions"]
    assert got["predict_json"] == expected["predictions"]
    assert got["predict_version"] == expected["predictions"]
    assert got["request_id"] == "req-42"
    assert got["labels"] == classes["predictions"]
    order = list(classes["probabilities"][0])
    assert got["proba"] == [[row[c] for c in order] for row in classes["probabilities"]]
    assert got["regressor_proba"]["status"] == "400"
    assert "regressor" in got["regressor_proba"]["message"]
    assert got["unknown_model"]["status"] == "404"


def test_mlflow_requests_as_its_docs_show_them(local_stack: LocalStack) -> None:
    """The request bodies of `mlflow models serve`'s documentation, sent with requests."""
    url = f"{local_stack.api}/invocations"
    expected = _predict(local_stack.api, REGRESSOR)["predictions"]
    records = [dict(zip(WINE_COLUMNS, row, strict=True)) for row in SAMPLE]
    index = list(range(len(SAMPLE)))
    bodies = {
        "dataframe_records": {"dataframe_records": records},
        "dataframe_split": {
            "dataframe_split": {"columns": WINE_COLUMNS, "index": index, "data": SAMPLE}
        },
        "inputs": {"inputs": SAMPLE},
        "instances": {"instances": records},
        "inputs with params": {
            "inputs": {c: [r[c] for r in records] for c in WINE_COLUMNS},
            "params": {"max_answer_len": 10},
        },
    }
    for name, document in bodies.items():
        response = requests.post(
            url, headers={"Content-Type": "application/json"}, data=json.dumps(document), timeout=10
        )
        assert response.status_code == 200, (name, response.text)
        assert response.json()["predictions"] == expected, name
    # The older docs' "Content-Type:application/json;" (an empty parameter list) too.
    response = requests.post(
        url, headers={"Content-Type": "application/json;"}, json=bodies["inputs"], timeout=10
    )
    assert response.json()["predictions"] == expected
    csv_text = ",".join(WINE_COLUMNS) + "\n" + "\n".join(",".join(map(str, r)) for r in SAMPLE)
    response = requests.post(
        url, headers={"Content-Type": "text/csv", "Accept": "text/csv"}, data=csv_text, timeout=10
    )
    assert [float(v) for v in response.text.split()] == expected
    assert requests.get(f"{local_stack.api}/ping", timeout=10).status_code == 200


#: The bounded loopback load: clients, seconds.
LOAD_CLIENTS, LOAD_SECONDS = 8, 15


def test_mixed_load_has_no_5xx_and_matches_a_sequential_run(local_stack: LocalStack) -> None:
    api = local_stack.api
    records = [dict(zip(WINE_COLUMNS, row, strict=True)) for row in SAMPLE]
    v2 = {"inputs": [{"name": "x", "shape": [6, 11], "datatype": "FP64", "data": SAMPLE}]}
    requests_mix: list[tuple[str, str, dict[str, str], int]] = [
        (f"/models/{REGRESSOR}/predict", json.dumps({"instances": records}), {}, 200),
        ("/invocations", json.dumps({"dataframe_records": records}), {}, 200),
        ("/invocations", json.dumps({"inputs": SAMPLE}), {"x-model-name": CLASSIFIER}, 200),
        (f"/v2/models/{REGRESSOR}/infer", json.dumps(v2), {}, 200),
        (f"/v2/models/{CLASSIFIER}/infer", json.dumps(v2), {}, 200),
        ("/predict", json.dumps({"instances": [[1, 2]]}), {}, 422),
        ("/invocations", '{"instances": [', {}, 400),
        (f"/v2/models/{REGRESSOR}/infer", '{"inputs": []}', {}, 400),
        ("/models/unknown/predict", json.dumps({"instances": records}), {}, 404),
    ]

    def send(item: tuple[str, str, dict[str, str], int]) -> tuple[int, bytes, float]:
        path, body, headers, _ = item
        started = time.perf_counter()
        # Each answer names its request: the same id for the same request keeps the
        # answers comparable with the sequential run's.
        named = {"x-inference-id": f"load-{requests_mix.index(item)}"}
        response = requests.post(
            api + path,
            data=body.encode(),
            headers={"content-type": "application/json", **named, **headers},
            timeout=30,
        )
        return response.status_code, response.content, time.perf_counter() - started

    sequential = [send(item)[:2] for item in requests_mix]
    assert [s for s, _ in sequential] == [item[3] for item in requests_mix]
    deadline = time.monotonic() + LOAD_SECONDS
    latencies: list[float] = []
    mismatches: list[tuple[int, int]] = []

    def client(offset: int) -> None:
        i = offset
        while time.monotonic() < deadline:
            k = i % len(requests_mix)
            status, body, elapsed = send(requests_mix[k])
            latencies.append(elapsed)
            if (status, body) != sequential[k]:
                mismatches.append((k, status))
            i += 1

    with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
        list(pool.map(client, range(LOAD_CLIENTS)))
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(
        f"\nloopback load: {LOAD_CLIENTS} clients x {LOAD_SECONDS} s, {len(latencies)} requests, "
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )
    assert len(latencies) >= 100
    assert mismatches == []
