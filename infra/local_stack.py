"""The whole product on one machine: ``make run``.

Starts an embedded moto server (S3 and SQS) on 127.0.0.1:5000 and creates what
template.yaml defines for the data path: the buckets, the incoming queue with its
dead-letter queue, and the data bucket's notification of ``incoming/`` objects to the
queue. Trains and promotes the demo model on the bundled wine data with the real
training job, serves the realtime API on http://127.0.0.1:3000 through the real Lambda
handler (each HTTP request becomes an API Gateway HTTP API payload 2.0 event), and polls
the queue like Lambda's SQS event source, so a CSV copied to ``incoming/`` is scored by
the real batch handler within seconds. A file of ``--fan-out-min-mib`` or more takes the
state machine of template.yaml instead, executed by moto's Step Functions interpreter,
its ranges scored by the real range handler in ``--range-workers`` processes. Ctrl-C
stops everything.
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
from typing import Any, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from infra.api_gateway import CONTENT_LENGTHS_KEY, SEND_CONTINUE_KEY, ApiGatewayApp
from infra.lambda_context import ACCOUNT, REGION, LambdaContext
from infra.local_env import (
    DATA_BUCKET,
    MODEL_BUCKET,
    QUEUE,
    ROOT,
    LocalAws,
    function_environment,
)
from infra.local_lambda import LOG_FILE_VARIABLE

MODEL_NAME = "wine-quality"
#: A second model, served by the same function: the wine quality as classes.
CLASSIFIER_NAME = "wine-quality-class"
ALIAS = "production"
DEMO_DATA = ROOT / "data" / "winequality-red.csv"
#: The third model: handwritten digits, 8 x 8 pixels (the try-it page draws them).
DIGITS_NAME = "digits"
DIGITS_DATA = ROOT / "data" / "digits.csv"

#: Where the functions' standard output goes (their JSON logs and metrics, CloudWatch's
#: part); the terminal shows one line per request, batch file and drift change.
FUNCTION_LOG = ROOT / ".local" / "functions.log"
#: How a range worker process (started by moto's Step Functions run) learns that file.
FUNCTION_LOG_VARIABLE = LOG_FILE_VARIABLE

#: Seconds the queue poller waits after a failed ReceiveMessage, doubling after each
#: further failure up to the maximum, and back to the first after a success.
FIRST_RECEIVE_RETRY_SECONDS = 1.0
MAX_RECEIVE_RETRY_SECONDS = 10.0
#: The functions store profiles and kept predictions this often here, so that a report
#: shows a file soon.
CAPTURE_FLUSH_SECONDS = 5
#: A labels file is joined once it is this old: two flushes, so that the predictions it
#: names have been kept.
LABELS_SETTLE_SECONDS = 2 * CAPTURE_FLUSH_SECONDS
#: Seconds a client may keep the API waiting for the next bytes of its request (line,
#: headers or body). Without a limit, a client that declares a body and never sends it
#: holds a server thread for ever.
READ_TIMEOUT_SECONDS = 30.0
#: How long the terminal waits for a file's report, and how often it looks.
REPORT_WAIT_SECONDS, REPORT_POLL_SECONDS = 1800.0, 1.0


def _read_report(s3: Any, report_key: str) -> dict[str, Any] | None:
    """A batch report, or None while there is none (or it cannot be read yet)."""
    try:
        report: dict[str, Any] = json.loads(
            s3.get_object(Bucket=DATA_BUCKET, Key=report_key)["Body"].read()
        )
    except Exception:  # absent until the run writes it; the wait says when it gives up
        return None
    return report


def _report_line(key: str, keys: Any, report: dict[str, Any]) -> str:
    """What a finished report says, in one line."""
    rows, model = report.get("rows") or {}, report.get("model") or {}
    status = report.get("status")
    if status == "failed":
        return f"{key}: failed: {report.get('error')}  -> {keys.report}"
    if status == "skipped":
        return f"{key}: skipped: {report.get('reason')}"
    return (
        f"{key}: {rows.get('scored', 0)} rows scored, {rows.get('rejected', 0)} refused "
        f"by {model.get('name')} {model.get('version')} in {report.get('seconds')} s"
        f"  -> {keys.predictions}"
    )


def _of_upload(report: dict[str, Any] | None, etag: str) -> dict[str, Any] | None:
    """``report`` if it is of the upload whose ETag is ``etag`` (any, when the event gave
    none); None for a report of an earlier upload of the key."""
    if report is None or not etag:
        return report
    scored = str((report.get("input") or {}).get("etag", "")).strip('"')
    return report if scored == etag.strip('"') else None


#: (key, etag) of the uploads a thread waits for, so a redelivered message starts none.
_awaited: set[tuple[str, str]] = set()
_awaited_lock = threading.Lock()


def _await_report(s3: Any, key: str, etag: str, keys: Any, stop: threading.Event) -> None:
    """Print an upload's report once its run ends (a run in byte ranges outlives its
    message), or say that none came within REPORT_WAIT_SECONDS."""
    deadline = time.monotonic() + REPORT_WAIT_SECONDS
    try:
        while not stop.wait(REPORT_POLL_SECONDS):
            report = _of_upload(_read_report(s3, keys.report), etag)
            if report is not None and report.get("status") != "running":
                say(f"batch  {_report_line(key, keys, report)}")
                return
            if time.monotonic() > deadline:
                say(
                    f"batch  {key}: no final report after {REPORT_WAIT_SECONDS:.0f} s (an event "
                    f"left to a newer upload writes none) -> {keys.report}"
                )
                return
    finally:
        with _awaited_lock:
            _awaited.discard((key, etag))


def _batch_summary(s3: Any, body: str, stop: threading.Event | None = None) -> list[str]:
    """One line per file a queue message named: what its upload's report says now; a run
    still going (in byte ranges) gets its line when it ends, from a thread that waits
    for it (``stop`` given: the message was handled, not left to be delivered again)."""
    from urllib.parse import unquote_plus

    from predictor.batch_keys import output_keys

    try:
        records = json.loads(body).get("Records", [])
    except (ValueError, AttributeError):
        return []
    lines = []
    for record in records:
        entry = record.get("s3", {}).get("object", {})
        key, etag = unquote_plus(entry.get("key", "")), str(entry.get("eTag", ""))
        keys = output_keys(key)
        if keys is None:
            continue
        report = _of_upload(_read_report(s3, keys.report), etag)
        if report is not None and report.get("status") != "running":
            lines.append(_report_line(key, keys, report))
            continue
        lines.append(
            f"{key}: scoring in byte ranges; its line follows when the run ends"
            if report is not None
            else f"{key}: no report yet; its line follows when there is one"
        )
        with _awaited_lock:
            waiting = (key, etag) in _awaited
            if stop is not None and not waiting:
                _awaited.add((key, etag))
                threading.Thread(
                    target=_await_report,
                    args=(s3, key, etag, keys, stop),
                    daemon=True,
                    name=f"await {key}",
                ).start()
    return lines


def poll_queue(
    sqs: Any, queue: str, lambda_handler: Any, stop: threading.Event, s3: Any = None
) -> None:
    """Deliver queue messages to the batch handler, one per invocation, as Lambda does.

    Runs until ``stop`` is set: a failed receive (moto answering 500, the queue deleted
    and created again) is printed and retried after a back-off, as Lambda's event source
    keeps polling; otherwise one error would end batch scoring while /health stays 200.
    """
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}"
    retry_seconds = FIRST_RECEIVE_RETRY_SECONDS
    while not stop.is_set():
        try:
            received = sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1, AttributeNames=["All"]
            )
        except Exception as exc:
            say(f"batch  cannot receive from the queue, retrying: {_error_line(exc)}")
            stop.wait(retry_seconds)  # returns at once when stopping
            retry_seconds = min(retry_seconds * 2, MAX_RECEIVE_RETRY_SECONDS)
            continue
        retry_seconds = FIRST_RECEIVE_RETRY_SECONDS
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
                response = lambda_handler(event, LambdaContext("batch-local"))
            except Exception as exc:  # the whole batch failed: SQS will redeliver it
                for line in _failure_lines(exc):
                    say(f"batch  failed, will retry: {line}")
                continue
            if s3 is not None:
                handled = not response.get("batchItemFailures")
                for line in _batch_summary(s3, message["Body"], stop if handled else None):
                    say(f"batch  {line}")
            if not response.get("batchItemFailures"):
                try:
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                except Exception as exc:  # as for receiving: one error must not end polling
                    say(
                        "batch  cannot delete the scored message, it may come again: "
                        + _error_line(exc)
                    )


def watch_drift(
    s3: Any, endpoint: str, every_seconds: float, lookback_minutes: int, stop: threading.Event
) -> None:
    """The scheduled monitor, locally: run it every ``every_seconds`` and print each model's
    status when it changes, with the URL of its report.
    """
    from datetime import UTC, datetime

    from predictor.models.registry import RegistryReader
    from predictor.monitoring.monitor import run_monitor
    from predictor.monitoring.reports import Period

    shown: dict[str, str] = {}
    registry = RegistryReader(s3, MODEL_BUCKET)
    while not stop.wait(every_seconds):
        try:
            # The rows counted so far, the window still open included: a file dropped
            # now shows within one run.
            period = Period.of(datetime.now(UTC), lookback_minutes, settle_seconds=None)
            reports = run_monitor(
                s3, DATA_BUCKET, registry, period, labels_settle_seconds=LABELS_SETTLE_SECONDS
            )
        except Exception as exc:  # the next run tries again, as the schedule would
            say(f"monitor  failed, will run again: {_error_line(exc)}")
            continue
        for report in reports:
            for read in report.labels:
                say(f"labels   {report.model}: {labels_line(read)}")
            rows = sum(v.rows for v in report.versions)
            line = "; ".join(v.message for v in report.versions)
            quality = "; ".join(
                f"{version}: {section['verdict']}, {section['rows']} labels"
                for version, section in report.quality.items()
            )
            if shown.get(report.model) == line + quality:
                continue
            shown[report.model] = line + quality
            say(
                f"monitor  {report.model}: {report.status} ({rows} rows: {line})\n"
                + (f"quality  {report.model} {quality}\n" if quality else "")
                + f"         {endpoint}/{DATA_BUCKET}/monitoring/reports/{report.model}/latest.html"
            )


def labels_line(read: dict[str, Any]) -> str:
    """One labels file as the terminal shows it: how many joined, what became of the rest."""
    if read["error"]:
        return f"{read['key']}: not read: {read['error']}"
    counted = ", ".join(
        f"{read[kind]} {kind.replace('_', ' ')}"
        for kind in ("duplicates", "other_model", "too_old", "wrong_type", "unknown", "bad_lines")
        if read[kind]
    )
    return f"{read['key']}: {read['joined']} of {read['labels']} labels joined" + (
        f" ({counted})" if counted else ""
    )


#: Where this program's own lines go once the functions' standard output (their JSON
#: logs and metrics) goes to the log file: the terminal it was started from.
_terminal: TextIO | None = None


def say(text: str) -> None:
    """A line for the person at the terminal."""
    print(text, file=_terminal or sys.stdout, flush=True)


#: Each function's module and its POWERTOOLS_SERVICE_NAME in template.yaml. In Lambda each
#: runs in a process of its own; here they share one, and powertools' loggers of one
#: service share their keys: apart, a batch run's keys stay out of the API's log lines.
FUNCTION_SERVICES = {
    "batch.app": "batch",
    "batch.fan_out_app": "batch-fan-out",
    "realtime.app": "realtime",
}


def import_functions() -> dict[str, Any]:
    """The handler modules, each imported with its own service name."""
    import importlib

    modules = {}
    for module, service in FUNCTION_SERVICES.items():
        os.environ["POWERTOOLS_SERVICE_NAME"] = service
        modules[module] = importlib.import_module(module)
    return modules


def send_function_output(path: Path) -> None:
    """The functions' standard output (structured logs, metrics) to ``path``, not the terminal.

    Called before the handler modules are imported: powertools' loggers keep the stream
    they find at their creation. Warnings (powertools' "no metrics to publish") go too.
    """
    import logging
    import warnings

    global _terminal
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = path.open("a", encoding="utf-8", buffering=1)
    _terminal, sys.stdout = sys.stdout, stream
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.addHandler(logging.StreamHandler(stream))
    warnings_logger.propagate = False
    warnings.simplefilter("default")


def _ports_in_use(*ports: int) -> list[int]:
    """Those of ``ports`` something listens on now (checked before minutes of training)."""
    import socket

    busy = []
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
    return busy


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text.strip() else ""


def _error_line(exc: BaseException) -> str:
    """``Type: first line of the message``, or the type alone when there is no message."""
    message = _first_line(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


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
    #: The socket timeout of each connection; ``serve_api`` sets it per server.
    read_timeout: float = READ_TIMEOUT_SECONDS


class _QuietRequestHandler(WSGIRequestHandler):
    """One line per request on stderr, like ``sam local start-api``."""

    # http.server assumes HTTP/0.9 until the request line parses, and answers 0.9 clients
    # with a bare body: a client whose request line is refused (garbage, a bad version)
    # would get no status line. No client speaks 0.9 any more; answer in 1.0.
    default_request_version = "HTTP/1.0"

    def setup(self) -> None:
        # StreamRequestHandler.setup applies ``timeout`` to the connection's socket.
        self.timeout = getattr(self.server, "read_timeout", READ_TIMEOUT_SECONDS)
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except TimeoutError:
            # The request line or headers stopped arriving (a stalled body is answered by
            # the app with a 408). Nothing is parsed to answer: close, as http.server does,
            # instead of socketserver's traceback.
            sys.stderr.write(f"api  closed: the client was silent for {self.timeout:g} s\n")

    def get_environ(self) -> dict[str, Any]:
        """The WSGI environ, without the ``text/plain`` wsgiref invents for no header.

        Adds what the app needs and wsgiref drops or cannot do: every Content-Length
        field, and a way to send 100 Continue to a client that waits for one.
        """
        environ = dict(super().get_environ())
        if self.headers.get("content-type") is None:
            environ.pop("CONTENT_TYPE", None)
        environ[CONTENT_LENGTHS_KEY] = self.headers.get_all("Content-Length", [])
        # RFC 9110 10.1.1: an HTTP/1.0 request's expectation is ignored. (Version strings
        # compare as http.server compares them.)
        expects_continue = self.headers.get("Expect", "").strip().lower() == "100-continue"
        if expects_continue and self.request_version >= "HTTP/1.1":
            environ[SEND_CONTINUE_KEY] = self._send_continue
        return environ

    def _send_continue(self) -> None:
        """The interim answer a client waits for (curl: 1 s) before it sends its body."""
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.wfile.flush()

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


def one_at_a_time(lambda_handler: Any) -> Any:
    """``lambda_handler`` called by one thread at a time, as a Lambda container calls it.

    The server's threads read and write bodies concurrently, but the function, like a
    container, handles one event at a time: its router keeps the current event in a
    global, as it may, since Lambda never runs two events in one container at once.
    """
    lock = threading.Lock()

    def handle(event: dict[str, Any], context: Any) -> Any:
        with lock:
            return lambda_handler(event, context)

    return handle


def serve_api(
    lambda_handler: Any,
    max_body: int,
    port: int,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> WSGIServer:
    """An HTTP server on 127.0.0.1:``port`` forwarding every request to ``lambda_handler``.

    A client silent for ``read_timeout`` seconds mid-request is answered 408 (during its
    body) or disconnected (before its headers end).
    """
    server = _ThreadingWSGIServer(("127.0.0.1", port), _QuietRequestHandler)
    server.read_timeout = read_timeout
    server.set_app(ApiGatewayApp(lambda_handler, max_body))
    return server


def main(argv: list[str] | None = None) -> int:
    """Start moto, train the demo model, serve the API until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--s3-port", type=int, default=5000, help="moto's S3 endpoint (make run S3_PORT=...)"
    )
    parser.add_argument(
        "--api-port", type=int, default=3000, help="the realtime API (make run API_PORT=...)"
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        default=FUNCTION_LOG,
        help="where the functions' JSON logs and metrics go (CloudWatch's part)",
    )
    parser.add_argument(
        "--fan-out-min-mib",
        type=float,
        default=8.0,
        help="files of this many MiB or more are scored in byte ranges by the state machine",
    )
    parser.add_argument(
        "--range-mib", type=float, default=2.0, help="size of each byte range, in MiB"
    )
    parser.add_argument(
        "--range-workers", type=int, default=2, help="processes scoring ranges in parallel"
    )
    parser.add_argument(
        "--monitor-seconds",
        type=float,
        default=20.0,
        help="the drift monitor runs this often (the template's schedule, sped up)",
    )
    parser.add_argument(
        "--monitor-lookback-minutes",
        type=int,
        default=15,
        help="each drift report covers the rows scored in this many last minutes",
    )
    parser.add_argument(
        "--candidates",
        default="linear,random_forest,hist_gradient_boosting",
        help="training candidates for the demo model",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()

    busy = _ports_in_use(args.s3_port, args.api_port)
    if busy:
        print(
            f"port {busy[0]} on 127.0.0.1 is in use: stop what uses it, or choose another "
            "(make run S3_PORT=5001 API_PORT=3001)",
            file=sys.stderr,
        )
        return 1
    send_function_output(args.log_file)
    local = LocalAws(
        args.s3_port,
        queue=True,
        states=True,
        range_processes=args.range_workers,
        range_environment={
            "POWERTOOLS_SERVICE_NAME": "batch-range",
            FUNCTION_LOG_VARIABLE: str(args.log_file),
        },
    )
    try:
        local.start()
    except OSError as exc:
        print(
            f"cannot start moto on port {args.s3_port}: {exc.strerror or exc}; "
            "stop what uses it, or choose another: make run S3_PORT=5001",
            file=sys.stderr,
        )
        return 1
    endpoint, s3, sqs, queue = local.endpoint, local.s3, local.sqs, local.queue_url
    assert queue is not None
    os.environ.update(
        function_environment(
            endpoint,
            MODEL_NAME,
            MODEL_ALIAS=ALIAS,
            ALIAS_RECHECK_SECONDS="5",
            POWERTOOLS_METRICS_DISABLED="true",
            SERVED_MODELS="*",  # every model of the registry, each at ALIAS
            FAN_OUT_STATE_MACHINE_ARN=str(local.state_machine_arn),
            FAN_OUT_MIN_MIB=str(args.fan_out_min_mib),
            FAN_OUT_RANGE_MIB=str(args.range_mib),
            FAN_OUT_MAX_CONCURRENCY=str(max(1, args.range_workers)),
            CAPTURE_BUCKET=DATA_BUCKET,
            CAPTURE_FLUSH_SECONDS=str(CAPTURE_FLUSH_SECONDS),
            # Each realtime prediction kept, for joining with the labels dropped later.
            KEEP_PREDICTIONS="true",
        )
    )

    from predictor.inference import Task
    from predictor.settings import RegistryLocation, Settings
    from training.job import TrainingConfig, run_training

    def train(
        name: str,
        candidates: tuple[str, ...],
        task: Task | None = None,
        data: Path = DEMO_DATA,
        target: str = "quality",
    ) -> Any:
        """Train ``name`` on ``data`` and promote it to ALIAS."""
        config = TrainingConfig(
            data=str(data),
            target=target,
            name=name,
            registry=RegistryLocation(MODEL_BUCKET),
            task=task,
            candidates=candidates,
            settings_per_candidate=1,  # quick to start: each candidate's defaults
            promote=ALIAS,
        )
        return run_training(config, s3)

    say(f"Function logs (JSON, as CloudWatch would hold them): {args.log_file}")
    say(f"Training the demo model on {DEMO_DATA.relative_to(ROOT)} ...")
    result = train(MODEL_NAME, tuple(args.candidates.split(",")))
    say(result.summary())
    say(f"Training a second model, {CLASSIFIER_NAME} (quality as classes) ...")
    classifier = train(CLASSIFIER_NAME, ("linear",), "classification")
    say(f"Training a third model, {DIGITS_NAME} (8 x 8 handwritten digits) ...")
    digits = train(DIGITS_NAME, ("linear",), "classification", DIGITS_DATA, "digit")

    functions = import_functions()
    batch_app, app = functions["batch.app"], functions["realtime.app"]

    max_body = Settings.from_env(os.environ).max_request_bytes
    try:
        api = serve_api(one_at_a_time(app.lambda_handler), max_body, args.api_port)
    except OSError as exc:
        print(
            f"cannot serve the API on port {args.api_port}: {exc.strerror or exc}; "
            "stop what uses it, or choose another: make run API_PORT=3001",
            file=sys.stderr,
        )
        local.stop()
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
    say(
        f"""
Ready in {time.monotonic() - started:.1f} s.
  S3 (moto)     {endpoint}   buckets: {MODEL_BUCKET}, {DATA_BUCKET}
  realtime API  {api_url}     model {MODEL_NAME}@{ALIAS} = {result.manifest["version"]}
                also {CLASSIFIER_NAME}@{ALIAS} = {classifier.manifest["version"]}
                and {DIGITS_NAME}@{ALIAS} = {digits.manifest["version"]}

Try it in a browser: {api_url}/

Or from a terminal:
  curl -s {api_url}/health
  curl -s {api_url}/model
  curl -s -X POST {api_url}/predict -H 'content-type: application/json' \\
       -d '{json.dumps({"instances": [row]})}'
  printf '{",".join(row)}\\n{",".join(str(v) for v in row.values())}\\n' | \\
       curl -s -X POST {api_url}/predict -H 'content-type: text/csv' --data-binary @-
  curl -s {api_url}/models
  curl -s -X POST {api_url}/invocations -H 'content-type: application/json' \\
       -H 'x-model-name: {CLASSIFIER_NAME}' -d '{json.dumps({"dataframe_records": [row]})}'
  curl -s -X POST {api_url}/v2/models/{MODEL_NAME}/infer -H 'content-type: application/json' \\
       -d '{
            json.dumps(
                {
                    "inputs": [
                        {
                            "name": "x",
                            "shape": [1, 11],
                            "datatype": "FP32",
                            "data": list(row.values()),
                        }
                    ]
                }
            )
        }'

Batch: copy a CSV under incoming/ (AWS CLI, any credentials):
  aws --endpoint-url {endpoint} s3 cp data/winequality-red.csv s3://{DATA_BUCKET}/incoming/
then, seconds later:
  aws --endpoint-url {endpoint} s3 ls --recursive s3://{DATA_BUCKET}/
  predictions/<path>.csv  scored rows   errors/<path>.csv  refused rows   reports/<path>.csv.json
A file of {args.fan_out_min_mib:g} MiB or more is scored in byte ranges of {
            args.range_mib:g} MiB by the state
machine ({args.range_workers} worker processes); its report counts the ranges done meanwhile:
  (head -1 data/winequality-red.csv; \\
   for i in $(seq 100); do tail -n +2 data/winequality-red.csv; done) > /tmp/wine-10mb.csv
  aws --endpoint-url {endpoint} s3 cp /tmp/wine-10mb.csv s3://{DATA_BUCKET}/incoming/
  aws --endpoint-url {endpoint} stepfunctions list-executions --state-machine-arn {
            local.state_machine_arn
        }

Monitoring: every scored row is counted into the model's training bins; the drift
monitor runs every {args.monitor_seconds:g} s over the last {
            args.monitor_lookback_minutes
        } minutes and prints what changes.
Drop white wines into the red-wine model to see drift, then open the report:
  aws --endpoint-url {endpoint} s3 cp data/winequality-white-sample.csv s3://{DATA_BUCKET}/incoming/
  {endpoint}/{DATA_BUCKET}/monitoring/reports/{MODEL_NAME}/latest.html
  make monitor    (the same monitor, from the command line)
Every answer carries an inference id (X-Inference-Id); label answers by dropping a CSV of
inference_id,label under labels/<model>/, and the next run reports the live quality:
  curl -s {api_url}/predict -H 'x-inference-id: order-1' -H 'content-type: application/json' \\
       -d '{{"feature_array": [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4]}}'
  printf 'inference_id,label\\norder-1,6\\n' > /tmp/labels.csv
  aws --endpoint-url {endpoint} s3 cp /tmp/labels.csv s3://{DATA_BUCKET}/labels/{MODEL_NAME}/

What the functions do shows here: one line per request, batch file and drift change; their
JSON logs go to {args.log_file}.
Ctrl-C stops everything."""
    )

    stopping = threading.Event()
    poller = threading.Thread(
        target=poll_queue,
        args=(sqs, queue, batch_app.lambda_handler, stopping, s3),
        daemon=True,
    )
    poller.start()
    monitor = threading.Thread(
        target=watch_drift,
        args=(s3, endpoint, args.monitor_seconds, args.monitor_lookback_minutes, stopping),
        daemon=True,
    )
    monitor.start()

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
        monitor.join(timeout=5)
        api.server_close()
        local.stop()
        say("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
