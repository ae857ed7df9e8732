"""The whole product on one machine: ``make run``.

Starts an embedded moto server (S3 and SQS) on 127.0.0.1:5000 and creates what
template.yaml defines for the data path: the buckets, the incoming queue with its
dead-letter queue, and the data bucket's notification of ``incoming/`` objects to the
queue. Trains and promotes the demo model on the bundled wine data with the real
training job, serves the realtime API on http://127.0.0.1:3000 through the real Lambda
handler (each HTTP request becomes an API Gateway HTTP API payload 2.0 event), and polls
the queue like Lambda's SQS event source, so a CSV copied to ``incoming/`` is scored by
the real batch handler within seconds. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from infra.api_gateway import REGION, ApiGatewayApp, LocalContext

ROOT = Path(__file__).resolve().parent.parent
MODEL_BUCKET = "serverless-predictor-models-local"
DATA_BUCKET = "serverless-predictor-data-local"
MODEL_NAME = "wine-quality"
ALIAS = "production"
DEMO_DATA = ROOT / "data" / "winequality-red.csv"


QUEUE = "serverless-predictor-incoming-local"
DEAD_LETTER_QUEUE = "serverless-predictor-dead-letter-local"
#: Locally a failed message comes back after this many seconds (the template's 5,400
#: suits a 15-minute function, not someone watching a terminal).
LOCAL_VISIBILITY_SECONDS = 10


#: The template's logical id of each bucket the local stack creates.
TEMPLATE_BUCKETS = {"ModelBucket": MODEL_BUCKET, "DataBucket": DATA_BUCKET}


def _template_resources() -> dict[str, Any]:
    from infra.cfn_yaml import load_template

    return dict(load_template(ROOT / "template.yaml")["Resources"])


def template_bucket_versioning() -> dict[str, str]:
    """Each local bucket's versioning status as template.yaml sets it; unversioned: absent.

    Read from the template, not repeated here, so that the two cannot drift apart.
    """
    resources = _template_resources()
    statuses: dict[str, str] = {}
    for logical_id, bucket in TEMPLATE_BUCKETS.items():
        versioning = resources[logical_id]["Properties"].get("VersioningConfiguration")
        if versioning is None:
            continue
        status = versioning.get("Status")
        if status not in ("Enabled", "Suspended"):
            raise ValueError(f"{logical_id}: cannot apply versioning status {status!r} locally")
        statuses[bucket] = str(status)
    return statuses


def create_buckets(s3: Any) -> None:
    """The model and data buckets, versioned as the template versions them."""
    versioning = template_bucket_versioning()
    for bucket in TEMPLATE_BUCKETS.values():
        s3.create_bucket(Bucket=bucket)
        if bucket in versioning:
            s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": versioning[bucket]}
            )


def template_data_path() -> tuple[str, int]:
    """The notification prefix and the redrive count the template defines."""
    resources = _template_resources()
    notification = resources["DataBucket"]["Properties"]["NotificationConfiguration"]
    rules = notification["QueueConfigurations"][0]["Filter"]["S3Key"]["Rules"]
    prefix = next(r["Value"] for r in rules if r["Name"] == "prefix")
    redrive = resources["IncomingQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    return str(prefix), int(redrive)


def create_data_path(s3: Any, sqs: Any) -> str:
    """Queue, dead-letter queue and the data bucket's notification; returns the queue URL."""
    prefix, max_receive = template_data_path()
    dead = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
    queue = sqs.create_queue(
        QueueName=QUEUE,
        Attributes={
            "VisibilityTimeout": str(LOCAL_VISIBILITY_SECONDS),
            "RedrivePolicy": json.dumps(
                {
                    "deadLetterTargetArn": dead_arn["Attributes"]["QueueArn"],
                    "maxReceiveCount": max_receive,
                }
            ),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=DATA_BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
            ]
        },
    )
    return str(queue)


def poll_queue(sqs: Any, queue: str, lambda_handler: Any, stop: threading.Event) -> None:
    """Deliver queue messages to the batch handler, one per invocation, as Lambda does."""
    queue_arn = f"arn:aws:sqs:{REGION}:000000000000:{QUEUE}"
    while not stop.is_set():
        received = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1, AttributeNames=["All"]
        )
        for message in received.get("Messages", []):
            event = {
                "Records": [
                    {
                        "messageId": message["MessageId"],
                        "receiptHandle": message["ReceiptHandle"],
                        "body": message["Body"],
                        "attributes": message.get("Attributes", {}),
                        "messageAttributes": {},
                        "md5OfBody": message["MD5OfBody"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": queue_arn,
                        "awsRegion": REGION,
                    }
                ]
            }
            try:
                response = lambda_handler(event, LocalContext("batch-local"))
            except Exception as exc:  # the whole batch failed: SQS will redeliver it
                for line in _failure_lines(exc):
                    print(f"batch  failed, will retry: {line}", flush=True)
                continue
            if not response.get("batchItemFailures"):
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text.strip() else ""


def _failure_lines(exc: Exception) -> list[str]:
    """The failed invocation's message, then one line per record error (no tracebacks).

    powertools' BatchProcessingError says its record errors are "logged separately below"
    but only carries them, in ``child_exceptions``: nothing logs them unless we do.
    """
    # Imported here: powertools is loaded with the batch function, not before.
    from aws_lambda_powertools.utilities.batch.exceptions import BaseBatchProcessingError

    lines = [_first_line(str(exc)) or type(exc).__name__]
    if isinstance(exc, BaseBatchProcessingError):
        for error_type, error, _traceback in exc.child_exceptions:
            name = (error_type or type(error)).__name__
            message = _first_line(str(error)) if error is not None else ""
            lines.append(f"{name}: {message}" if message else name)
    return lines


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when a burst of clients
    # arrives faster than they are accepted; 20 concurrent clients met resets with it.
    request_queue_size = 128


class _QuietRequestHandler(WSGIRequestHandler):
    """One line per request on stderr, like ``sam local start-api``."""

    # http.server assumes HTTP/0.9 until the request line parses, and answers 0.9 clients
    # with a bare body: a client whose request line is refused (garbage, a bad version)
    # would get no status line. No client speaks 0.9 any more; answer in 1.0.
    default_request_version = "HTTP/1.0"

    def get_environ(self) -> dict[str, Any]:
        """The WSGI environ, without the ``text/plain`` wsgiref invents for no header."""
        environ = dict(super().get_environ())
        if self.headers.get("content-type") is None:
            environ.pop("CONTENT_TYPE", None)
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # command and path are unset when the request line could not be parsed; send_error
        # has then logged the refusal through log_message already.
        command = getattr(self, "command", None)
        path = getattr(self, "path", None)
        if command and path is not None:
            sys.stderr.write(f"api  {command} {path} -> {code}\n")

    def log_message(self, format: str, *args: Any) -> None:
        """A refused request (send_error's ``code %d, message %s``), on one short line."""
        # The message can quote a request line of 64 KiB: keep the terminal readable.
        sys.stderr.write(f"api  refused: {(format % args)[:200]}\n")


def serve_api(lambda_handler: Any, max_body: int, port: int) -> WSGIServer:
    """An HTTP server on 127.0.0.1:``port`` forwarding every request to ``lambda_handler``."""
    return make_server(
        "127.0.0.1",
        port,
        ApiGatewayApp(lambda_handler, max_body),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietRequestHandler,
    )


def main(argv: list[str] | None = None) -> int:
    """Start moto, train the demo model, serve the API until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--s3-port", type=int, default=5000)
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument(
        "--candidates",
        default="linear,random_forest,hist_gradient_boosting",
        help="training candidates for the demo model",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()

    endpoint = f"http://127.0.0.1:{args.s3_port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_SESSION_TOKEN="local",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint,
        MODEL_BUCKET=MODEL_BUCKET,
        MODEL_NAME=MODEL_NAME,
        MODEL_ALIAS=ALIAS,
        ALIAS_RECHECK_SECONDS="5",
        POWERTOOLS_SERVICE_NAME="local",
        POWERTOOLS_METRICS_NAMESPACE="ServerlessPredictorLocal",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
    )
    os.environ.pop("AWS_PROFILE", None)

    import boto3
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=args.s3_port, verbose=False)
    try:
        moto.start()
    except OSError as exc:
        print(f"cannot start moto on port {args.s3_port}: {exc}", file=sys.stderr)
        return 1
    s3 = boto3.client("s3")
    sqs = boto3.client("sqs")
    create_buckets(s3)
    queue = create_data_path(s3, sqs)

    from training.job import TrainingConfig, run_training

    print(f"Training the demo model on {DEMO_DATA.relative_to(ROOT)} ...", flush=True)
    result = run_training(
        TrainingConfig(
            data=str(DEMO_DATA),
            target="quality",
            name=MODEL_NAME,
            bucket=MODEL_BUCKET,
            candidates=tuple(args.candidates.split(",")),
            promote=ALIAS,
        ),
        s3,
    )
    print(result.summary(), flush=True)

    from batch import app as batch_app
    from predictor.settings import get_settings
    from realtime import app

    try:
        api = serve_api(app.lambda_handler, get_settings().max_request_bytes, args.api_port)
    except OSError as exc:
        print(f"cannot serve the API on port {args.api_port}: {exc}", file=sys.stderr)
        moto.stop()
        return 1
    row = {
        "fixed acidity": 7.4,
        "volatile acidity": 0.7,
        "citric acid": 0,
        "residual sugar": 1.9,
        "chlorides": 0.076,
        "free sulfur dioxide": 11,
        "total sulfur dioxide": 34,
        "density": 0.9978,
        "pH": 3.51,
        "sulphates": 0.56,
        "alcohol": 9.4,
    }
    api_url = f"http://127.0.0.1:{args.api_port}"
    print(
        f"""
Ready in {time.monotonic() - started:.1f} s.
  S3 (moto)     {endpoint}   buckets: {MODEL_BUCKET}, {DATA_BUCKET}
  realtime API  {api_url}     model {MODEL_NAME}@{ALIAS} = {result.manifest["version"]}

Try:
  curl -s {api_url}/health
  curl -s {api_url}/model
  curl -s -X POST {api_url}/predict -H 'content-type: application/json' \\
       -d '{json.dumps({"instances": [row]})}'
  printf '{",".join(row)}\\n{",".join(str(v) for v in row.values())}\\n' | \\
       curl -s -X POST {api_url}/predict -H 'content-type: text/csv' --data-binary @-

Batch: copy a CSV under incoming/ (AWS CLI, any credentials):
  aws --endpoint-url {endpoint} s3 cp data/winequality-red.csv s3://{DATA_BUCKET}/incoming/
then, seconds later:
  aws --endpoint-url {endpoint} s3 ls --recursive s3://{DATA_BUCKET}/
  predictions/<path>.csv  scored rows   errors/<path>.csv  refused rows   reports/<path>.csv.json

Ctrl-C stops everything.""",
        flush=True,
    )

    stopping = threading.Event()
    poller = threading.Thread(
        target=poll_queue, args=(sqs, queue, batch_app.lambda_handler, stopping), daemon=True
    )
    poller.start()

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(
        signal.SIGINT, stop
    )  # also when started in the background, where SIGINT is ignored
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        poller.join(timeout=5)
        api.server_close()
        moto.stop()
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
