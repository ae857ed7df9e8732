"""A cold start's first prediction: signed GETs instead of boto3, no powertools, same answer.

Against moto's server (an endpoint, as ``make run`` and ``sam local`` have), with the
variables Lambda sets. boto3 still answers everything but the first reads: a missing
key, a fault, any other call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from infra.lambda_context import LambdaContext
from infra.local_env import MODEL_BUCKET, LocalAws
from predictor.io import s3_store
from predictor.io.signed_get import ColdStartS3
from realtime import app
from tests.helpers import (
    SIGNING_REGION,
    SIGNING_SECRET,
    Artifacts,
    free_port,
    invoke,
    load_event,
    serving,
    verifying_forwarder,
)
from training.registry_admin import ModelRegistry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch, wine_linear: Artifacts) -> Iterator[LocalAws]:
    """moto's server with the linear wine model promoted, and Lambda's variables set."""
    for name in ("AWS_ENDPOINT_URL", "MOTO_PORT"):  # the server sets them: undone after
        monkeypatch.setenv(name, "")
    with LocalAws() as local:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "realtime")
        monkeypatch.setenv("MODEL_BUCKET", MODEL_BUCKET)
        monkeypatch.setenv("MODEL_NAME", "wine")
        registry = ModelRegistry(local.s3, MODEL_BUCKET)
        registry.set_alias("wine", "production", wine_linear.publish(registry)["version"])
        app.container.reset()
        yield local
        app.container.reset()


def test_the_first_prediction_reads_with_signed_gets_and_answers_as_boto3_would(
    moto_server: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = load_event("realtime_predict_json.json")
    status, signed_answer, _ = invoke(event)
    assert status == 200
    client = app.container.get().s3
    assert isinstance(client, ColdStartS3)
    assert client.signed_gets == 3  # the alias, the manifest, the model
    assert client._full is None  # boto3's client not created
    # The same request with boto3 alone (outside Lambda) gets the same predictions.
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    app.container.reset()
    status, boto3_answer, _ = invoke(event)
    assert status == 200
    assert app.container.get().s3.signed_gets == 0
    assert signed_answer["predictions"] == boto3_answer["predictions"]
    assert signed_answer["model"] == boto3_answer["model"]


def test_a_missing_key_and_every_other_call_go_to_boto3(moto_server: LocalAws) -> None:
    client = ColdStartS3(lambda: moto_server.s3)
    key = "models/wine/aliases/production.json"
    assert s3_store.get_bytes(client, MODEL_BUCKET, key) == s3_store.get_bytes(
        moto_server.s3, MODEL_BUCKET, key
    )
    assert client.signed_gets == 1
    # A key that is not there: boto3's NoSuchKey, as the store expects it.
    assert s3_store.get_bytes(client, MODEL_BUCKET, "models/wine/aliases/none.json") is None
    assert client._full is moto_server.s3
    # From then on, boto3 reads too.
    assert s3_store.get_bytes(client, MODEL_BUCKET, key) is not None
    assert client.signed_gets == 1
    assert s3_store.list_keys(client, MODEL_BUCKET, "models/wine/aliases/") == [key]


def test_an_unreachable_endpoint_falls_back_to_boto3(moto_server: LocalAws) -> None:
    environ = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    client = ColdStartS3(lambda: moto_server.s3, environ)
    answer = client.get_object(Bucket=MODEL_BUCKET, Key="models/wine/aliases/production.json")
    assert json.loads(answer["Body"].read())["version"]
    assert client.signed_gets == 0


def test_the_signature_passes_a_verifier_holding_the_secret(moto_server: LocalAws) -> None:
    key = "models/a b/ü+=&(1).json"
    moto_server.s3.put_object(Bucket=MODEL_BUCKET, Key=key, Body=b'{"x": 1}')
    verdicts: list[bool] = []
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), verifying_forwarder(moto_server.endpoint, verdicts, "s3")
    )
    with serving(server) as port:
        environ = {
            "AWS_LAMBDA_FUNCTION_NAME": "realtime",
            "AWS_ACCESS_KEY_ID": SIGNING_SECRET.access_key,
            "AWS_SECRET_ACCESS_KEY": SIGNING_SECRET.secret_key,
            "AWS_SESSION_TOKEN": str(SIGNING_SECRET.token),
            "AWS_REGION": SIGNING_REGION,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        }
        client = ColdStartS3(lambda: pytest.fail("boto3 was asked"), environ)
        for _ in range(2):  # the second on the kept connection
            assert client.get_object(Bucket=MODEL_BUCKET, Key=key)["Body"].read() == b'{"x": 1}'
    assert verdicts == [True, True]
    assert client.signed_gets == 2


def test_the_first_prediction_imports_neither_powertools_nor_botocore(
    moto_server: LocalAws,
) -> None:
    """In a fresh interpreter, as Lambda runs the function: the first answer, then a GET
    that needs the router (and imports powertools then); one ColdStart metric."""
    code = textwrap.dedent(
        """
        import json, sys
        from infra.lambda_context import LambdaContext
        from realtime import app
        event = json.load(open("events/realtime_predict_json.json"))
        first = app.lambda_handler(event, LambdaContext("realtime"))
        loaded = sorted({m.split(".")[0] for m in sys.modules})
        health = json.load(open("events/realtime_get_health.json"))
        second = app.lambda_handler(health, LambdaContext("realtime"))
        print("RESULT " + json.dumps([first["statusCode"], loaded, second["statusCode"]]))
        """
    )
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = done.stdout.splitlines()
    first, loaded, second = json.loads(
        next(line for line in lines if line.startswith("RESULT "))[len("RESULT ") :]
    )
    assert (first, second) == (200, 200)
    assert not {"aws_lambda_powertools", "boto3", "botocore", "pandas", "sklearn"} & set(loaded)
    cold: list[dict[str, Any]] = [
        json.loads(line) for line in lines if line.startswith("{") and '"ColdStart"' in line
    ]
    assert len(cold) == 1
    assert cold[0]["function_name"] == "realtime"
    assert cold[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "ColdStart", "Unit": "Count"}
    ]


def test_a_routed_cold_start_counts_one_cold_start(
    moto_server: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    app._cold = True
    invoke(load_event("realtime_get_health.json"), LambdaContext("realtime"))
    invoke(load_event("realtime_predict_json.json"), LambdaContext("realtime"))
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if '"ColdStart":[1.0]' in line]) == 1


def test_the_scoring_table_is_every_post_route_in_order() -> None:
    """The lean path finds a request's route in the scoring table alone: it must give
    what the whole table gives, so it must hold every POST route, in the same order."""
    from realtime.routed import app as resolver  # noqa: F401 (registers every group)
    from realtime.routes import TABLE
    from realtime.routes.scoring import SCORING

    declared = [route for group in SCORING.values() for route in group]
    assert [route for route in TABLE if route.method == "POST"] == declared
    assert all(route.codec is not None for route in declared)
    assert all(route.codec is None for route in TABLE if route.method != "POST")


def test_the_lean_metrics_switch_is_powertools_own() -> None:
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    from realtime.emf import metrics_disabled

    values = (None, "true", "false", "1", "0")
    for dev in values:
        for disabled in values:
            environ = {
                name: value
                for name, value in (
                    ("POWERTOOLS_DEV", dev),
                    ("POWERTOOLS_METRICS_DISABLED", disabled),
                )
                if value is not None
            }
            with pytest.MonkeyPatch.context() as patch:
                for name in ("POWERTOOLS_DEV", "POWERTOOLS_METRICS_DISABLED"):
                    patch.delenv(name, raising=False)
                for name, value in environ.items():
                    patch.setenv(name, value)
                assert metrics_disabled(environ) == is_metrics_disabled(), environ


def test_a_connection_the_server_closed_while_idle_is_opened_again() -> None:
    """http.client does not notice an idle connection the server closed: the next GET
    meets a disconnect, and is sent once more on a new connection, not left to boto3."""
    from http.server import BaseHTTPRequestHandler

    class ClosesWhenIdle(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.send_header("ETag", '"abc"')
            self.end_headers()
            self.wfile.write(b"ok")
            self.close_connection = True  # without saying so: as an idle timeout would

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ClosesWhenIdle)
    with serving(server) as port:
        environ = {
            "AWS_LAMBDA_FUNCTION_NAME": "realtime",
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        }
        client = ColdStartS3(lambda: pytest.fail("boto3 was asked"), environ)
        for _ in range(3):
            answer = client.get_object(Bucket="models", Key="k")
            assert (answer["Body"].read(), answer["ETag"]) == (b"ok", '"abc"')
    assert client.signed_gets == 3


def test_the_cold_start_metric_follows_powertools_rules(
    moto_server: LocalAws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def cold_lines() -> list[dict[str, Any]]:
        out = capsys.readouterr().out.splitlines()
        return [json.loads(line) for line in out if '"ColdStart":[1.0]' in line]

    event = load_event("realtime_predict_json.json")
    monkeypatch.setenv("POWERTOOLS_METRICS_FUNCTION_NAME", "predictor-live")
    app._cold = True
    invoke(event, LambdaContext("realtime"))
    assert [line["function_name"] for line in cold_lines()] == ["predictor-live"]
    # Provisioned concurrency: powertools counts no cold start.
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    app._cold = True
    invoke(event, LambdaContext("realtime"))
    assert cold_lines() == []


def test_the_first_routed_request_after_a_lean_one_is_not_logged_as_a_cold_start(
    moto_server: LocalAws,
) -> None:
    import io

    from aws_lambda_powertools.logging import logger as powertools_logging

    from realtime import context as realtime_context
    from tests.helpers import ROW, instances, post

    app._cold, powertools_logging.is_cold_start = True, True
    logs = io.StringIO()
    handler = realtime_context.logger.registered_handler
    previous = handler.setStream(logs)
    try:
        assert invoke(load_event("realtime_predict_json.json"))[0] == 200  # lean
        assert invoke(post(instances({**ROW, "alcohol": "text"})))[0] == 422  # routed
    finally:
        handler.setStream(previous)
    (refused,) = [
        record
        for record in map(json.loads, logs.getvalue().splitlines())
        if record["message"] == "request refused"
    ]
    assert refused["cold_start"] is False
    assert refused["model_version"]
