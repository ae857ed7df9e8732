"""Helpers shared by the tests: data, a model trained once, and events for both handlers.

The one place test modules share code: no test module imports another. Fixtures live in
the conftest files; the local AWS (credentials, buckets as the template defines them)
comes from :mod:`infra.local_env`, as for ``make run`` and the benchmarks.
"""

from __future__ import annotations

import base64
import copy
import csv
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

import boto3
import numpy as np
import pandas as pd
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from moto import mock_aws

from infra.lambda_context import REGION, LambdaContext
from infra.local_env import DATA_BUCKET, MODEL_BUCKET, ROOT, create_buckets
from predictor.inference import OnnxPredictor
from predictor.io.s3_store import ObjectRef
from predictor.models.registry import MANIFEST_FILE, ONNX_ARTIFACT, LoadedModel
from predictor.schema import FeatureSchema
from predictor.settings import RegistryLocation
from training.job import TrainingConfig, run_training
from training.registry_admin import ModelRegistry

__all__ = ["DATA_BUCKET", "MODEL_BUCKET", "REGION", "ROOT"]

WINE_CSV = ROOT / "data" / "winequality-red.csv"
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    """One of the sample events under events/."""
    return dict(json.loads((EVENTS / name).read_text()))


# ----- models ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Artifacts:
    """A model trained once per session, to publish into each test's fresh moto."""

    manifest: dict[str, Any]
    files: dict[str, bytes]

    def publish(self, registry: ModelRegistry, name: str = "wine") -> dict[str, Any]:
        """Store these artifacts as a new version of ``name``."""
        keep = {k: v for k, v in self.manifest.items() if k not in ("name", "version", "artifacts")}
        return registry.publish(name, keep, self.files)


def loaded_model(artifacts: Artifacts) -> LoadedModel:
    """The ONNX side of trained ``artifacts``, as the serving functions load it."""
    manifest = artifacts.manifest
    predictor = OnnxPredictor(
        artifacts.files[ONNX_ARTIFACT],
        FeatureSchema.from_dict(manifest["schema"]),
        manifest["task"],
        manifest.get("classes"),
    )
    return LoadedModel(manifest, predictor)


def write_churn_csv(path: Path, n: int = 800) -> None:
    """A synthetic classification table: text classes, categories, missing values, BOM."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "tenure months": rng.integers(0, 60, n).astype(float),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "monthly fee": rng.normal(30, 10, n).round(2),
        }
    )
    frame.loc[rng.random(n) < 0.05, "tenure months"] = np.nan
    frame.loc[rng.random(n) < 0.05, "plan"] = None
    churn = (frame["plan"] == "basic") & (frame["tenure months"].fillna(0) < 20)
    frame["churned"] = np.where(churn ^ (rng.random(n) < 0.05), "yes", "no")
    path.write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False).encode())


def train_once(
    candidates: tuple[str, ...], data: Path = WINE_CSV, target: str = "quality"
) -> Artifacts:
    """Train with the project's own job in a throw-away moto; keep the artifacts."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        create_buckets(client)
        config = TrainingConfig(
            data=str(data),
            target=target,
            name="wine",
            registry=RegistryLocation(MODEL_BUCKET),
            candidates=candidates,
            cv_folds=3,
            settings_per_candidate=1,  # each candidate's defaults: no search
        )
        manifest = run_training(config, client).manifest
        store = ModelRegistry(client, MODEL_BUCKET)
        files = {name: store.read_artifact(manifest, name) for name in manifest["artifacts"]}
        assert MANIFEST_FILE not in files
        return Artifacts(manifest=manifest, files=files)


# ----- realtime events -------------------------------------------------------------------
WINE_ROW = load_event("realtime_predict_json.json")
ROW = json.loads(WINE_ROW["body"])["instances"][0]


def invoke(
    event: dict[str, Any], context: LambdaContext | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The realtime handler's status, JSON body and headers for ``event``."""
    from realtime import app

    response = app.lambda_handler(event, context or LambdaContext("test-function"))
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def post(
    body: str | bytes, content_type: str | None = "application/json", *, b64: bool = False
) -> dict[str, Any]:
    """An API Gateway event of ``POST /predict`` with ``body``."""
    event = copy.deepcopy(WINE_ROW)
    raw = body.encode() if isinstance(body, str) else body
    event["body"] = base64.b64encode(raw).decode() if b64 else raw.decode("utf-8", "replace")
    event["isBase64Encoded"] = b64
    event["headers"].pop("content-type", None)
    if content_type is not None:
        event["headers"]["content-type"] = content_type
    return event


def call(
    method: str,
    path: str,
    body: str | bytes = "",
    headers: dict[str, str] | None = None,
    context: LambdaContext | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    """Any route of the realtime handler: status, body bytes (base64 undone) and headers.

    ``headers`` have lower-case names, as API Gateway delivers them; a body that is not
    UTF-8 is sent base64-encoded, as API Gateway sends binary bodies.
    """
    from realtime import app

    event = copy.deepcopy(WINE_ROW)
    raw = body.encode() if isinstance(body, str) else body
    try:
        event["body"], event["isBase64Encoded"] = raw.decode("utf-8"), False
    except UnicodeDecodeError:
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    event["headers"] = {"content-type": "application/json"} | (headers or {})
    event["headers"] = {k: v for k, v in event["headers"].items() if v is not None}
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = "$default"
    response = app.lambda_handler(event, context or LambdaContext("test-function"))
    data = response.get("body") or ""
    answer = base64.b64decode(data) if response.get("isBase64Encoded") else data.encode()
    return response["statusCode"], answer, response["headers"]


def instances(*rows: dict[str, Any]) -> str:
    """A JSON body of ``rows`` as instances."""
    return json.dumps({"instances": list(rows)})


# ----- batch events and outputs ----------------------------------------------------------
WINE_LINES = WINE_CSV.read_text().splitlines()
HEADER, ROWS = WINE_LINES[0], WINE_LINES[1:]


def put(s3: Any, key: str, body: bytes) -> str:
    """Upload ``body`` to the data bucket; its ETag."""
    return str(s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)["ETag"].strip('"'))


def read(s3: Any, key: str) -> bytes | None:
    """An object of the data bucket, or None."""
    try:
        return bytes(s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def report(s3: Any, relative: str) -> dict[str, Any]:
    """The stored report of ``incoming/<relative>``."""
    raw = read(s3, f"reports/{relative}.json")
    assert raw is not None, f"no report for {relative}"
    return dict(json.loads(raw))


def sqs_event(
    key: str, etag: str, message_id: str = "m-1", version_id: str | None = None
) -> dict[str, Any]:
    """The SQS-wrapped S3 put of events/, pointed at ``key`` (URL-encoded as S3 does)."""
    event = load_event("batch_sqs_s3_put.json")
    notification = json.loads(event["Records"][0]["body"])
    entry = notification["Records"][0]["s3"]["object"]
    entry["key"], entry["eTag"] = quote_plus(key, safe="/"), etag
    if version_id is not None:
        entry["versionId"] = version_id
    event["Records"][0]["body"] = json.dumps(notification)
    event["Records"][0]["messageId"] = message_id
    return event


def run(event: dict[str, Any], remaining_ms: int = 900_000) -> dict[str, Any]:
    """The batch handler's answer to ``event``, with ``remaining_ms`` before the deadline."""
    from batch import app

    return dict(app.lambda_handler(event, LambdaContext("test", seconds=remaining_ms / 1000)))


def csv_rows(data: bytes) -> list[list[str]]:
    """Semicolon-separated output rows."""
    return list(csv.reader(io.StringIO(data.decode()), delimiter=";"))


def semicolons(lines: list[str], ending: str = "\n") -> bytes:
    """``lines`` as a file, each ended by ``ending``."""
    return ending.join(lines).encode() + ending.encode()


def leases(s3: Any) -> list[str]:
    """Lease objects left in the data bucket."""
    listed = s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="reports/").get("Contents", [])
    return [o["Key"] for o in listed if o["Key"].endswith(".lease")]


def object_ref(s3: Any, key: str) -> ObjectRef:
    """The data bucket's current version of ``key``, as an S3 event names it."""
    head = s3.head_object(Bucket=DATA_BUCKET, Key=key)
    return ObjectRef(DATA_BUCKET, key, head["ETag"].strip('"'), head.get("VersionId"))


def batch_outputs(s3: Any, relative: str) -> dict[str, Any]:
    """What a batch run of ``incoming/<relative>`` left: outputs (each row's id with the
    input's key as ``<input>``), and its report's rows, status and error (None when there
    is no report)."""
    stored = read(s3, f"reports/{relative}.json")
    done = json.loads(stored) if stored else {}
    predictions = read(s3, f"predictions/{relative}")
    if predictions is not None and not relative.endswith(".gz"):
        # Each row's id names its input (incoming/<relative>@<upload>:<line>): named
        # alike here, two runs of the same rows under different keys compare equal.
        named = re.escape(f"incoming/{relative}@".encode()) + rb"[^:;,\"\n]*:"
        predictions = re.sub(named, b"<input>:", predictions)
    return {
        "predictions": predictions,
        "errors": read(s3, f"errors/{relative}"),
        "rows": done.get("rows"),
        "status": done.get("status"),
        "error": done.get("error"),
    }


def score_whole(s3: Any, name: str, body: bytes, version: str) -> dict[str, Any]:
    """``body`` scored in one invocation (``incoming/whole/<name>``), for comparison."""
    from predictor.batch.run import score_object
    from predictor.models.registry import RegistryReader

    key = f"incoming/whole/{name}"
    put(s3, key, body)
    model = RegistryReader(s3, MODEL_BUCKET).load_onnx("wine", version)
    obj = object_ref(s3, key)
    score_object(s3, obj, lambda: model, chunk_rows=7, seconds_left=lambda: 900.0)
    return batch_outputs(s3, f"whole/{name}")


# ----- `make run`'s program in a subprocess ---------------------------------------------------
def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LocalStack:
    """`make run`'s program, serving: its API's URL, moto's port, what it printed until
    ready (``output``) and every line it printed so far (``lines``, growing)."""

    api: str
    s3_port: int
    output: str
    lines: list[str]


@contextmanager
def local_stack(*options: str, environment: dict[str, str] | None = None) -> Iterator[LocalStack]:
    """`python -m infra.local_stack` on free ports with ``options``, until it is ready
    (and stopped with Ctrl-C afterwards, which must end it cleanly)."""
    s3_port, api_port = free_port(), free_port()
    command = [sys.executable, "-m", "infra.local_stack", "--s3-port", str(s3_port)]
    command += ["--api-port", str(api_port), *options]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(environment or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = []
        deadline = time.monotonic() + 180
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "".join(output)
            output.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        lines = list(output)
        stdout = process.stdout

        def keep_reading() -> None:  # a full pipe would block the server mid-request
            for line in stdout:
                lines.append(line)

        threading.Thread(target=keep_reading, daemon=True).start()
        yield LocalStack(f"http://127.0.0.1:{api_port}", s3_port, "".join(output), lines)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


# ----- SigV4: a verifier holding the signer's secret -------------------------------------------
#: The credentials the signing tests sign with, and the verifiers check against.
SIGNING_SECRET = ReadOnlyCredentials("AKIDEXAMPLE", "proxy-test-secret", "a-session-token")
SIGNING_REGION = "eu-west-1"


def signature_is_valid(
    method: str, path: str, headers: Any, body: bytes, service: str = "execute-api"
) -> bool:
    """Whether a received request's SigV4 signature is the one SIGNING_SECRET gives for
    ``service`` in SIGNING_REGION, recomputed by botocore from what arrived."""
    authorization = headers.get("Authorization", "")
    if "SignedHeaders=" not in authorization:
        return False
    signed_names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    request = AWSRequest(
        method=method,
        url=f"http://{headers['Host']}{path}",
        data=body,
        headers={name: headers[name] for name in signed_names},
    )
    request.context["timestamp"] = headers["X-Amz-Date"]
    signer = S3SigV4Auth if service == "s3" else SigV4Auth  # S3 paths are not re-encoded
    auth = signer(SIGNING_SECRET, service, SIGNING_REGION)
    expected = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    return bool(authorization.endswith(f"Signature={expected}"))


def verifying_forwarder(
    upstream: str, verdicts: list[bool], service: str = "execute-api"
) -> type[BaseHTTPRequestHandler]:
    """A handler that checks each request's signature for ``service`` (its verdict
    appended to ``verdicts``), answers 403 to a bad one, and forwards a good one to
    ``upstream``."""
    target = urlsplit(upstream)

    class Forwarder(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            valid = signature_is_valid(self.command, self.path, self.headers, body, service)
            verdicts.append(valid)
            if valid:
                connection = http.client.HTTPConnection(target.netloc, timeout=30)
                forwarded = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                connection.request(self.command, self.path, body=body or None, headers=forwarded)
                response = connection.getresponse()
                status, answer = response.status, response.read()
                kind = response.getheader("Content-Type", "application/json")
                connection.close()
            else:
                status, answer, kind = 403, b'{"message": "bad signature"}', "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Forwarder


@contextmanager
def serving(server: Any) -> Iterator[int]:
    """A ``socketserver`` server answering in a thread, shut down afterwards; its port."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def probability_rows(answer: dict[str, Any], classes: list[Any]) -> list[list[float]] | None:
    """An answer's probabilities as rows in the order of ``classes`` (None without any)."""
    rows = answer.get("probabilities")
    if rows is None:
        return None
    return [[row[str(c)] for c in classes] for row in rows]


def copy_locks(folder: Path) -> Path:
    """The requirements files (inputs and locks) copied into ``folder``; ``folder``."""
    for path in ROOT.glob("requirements*.*"):
        shutil.copy(path, folder / path.name)
    return folder
