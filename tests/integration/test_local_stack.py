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

import pytest

from tests.conftest import ROOT, load_event

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


def test_local_stack_trains_serves_and_stops() -> None:
    s3_port, api_port = free_port(), free_port()
    command = [
        sys.executable,
        str(ROOT / "infra" / "local_stack.py"),
        "--s3-port",
        str(s3_port),
        "--api-port",
        str(api_port),
        "--candidates",
        "linear",
    ]
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
        body = json.loads(load_event("realtime_predict_json.json")["body"])
        status, answer = call(f"{api}/predict", json.dumps(body).encode(), "application/json")
        assert status == 200
        assert len(answer["predictions"]) == 2
        status, answer = call(f"{api}/predict", b"alcohol\n9.5\n", "text/csv")
        assert status == 422
        assert answer["error"]["type"] == "schema_violation"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
