"""`make run`'s program as a user meets it: a subprocess serving HTTP on loopback."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import boto3
import pytest

from infra.api_checks import check_api
from infra.local_env import DATA_BUCKET
from tests.helpers import ROOT, WINE_CSV, load_event

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def test_local_stack_trains_serves_and_stops() -> None:
    s3_port, api_port = free_port(), free_port()
    command = [sys.executable, "-m", "infra.local_stack", "--s3-port", str(s3_port)]
    command += ["--api-port", str(api_port), "--candidates", "linear"]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output = []
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "".join(output)
            output.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        text = "".join(output)
        assert f"http://127.0.0.1:{api_port}/predict" in text
        api = f"http://127.0.0.1:{api_port}"
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
        assert lines[0].endswith(';"quality";prediction')
        report = json.loads(wait_for(s3, "reports/dropped.csv.json"))
        assert report["rows"] == {"read": 10, "scored": 10, "rejected": 0}
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
