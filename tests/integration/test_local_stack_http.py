"""The HTTP side of ``make run`` in-process: ``serve_api`` in a thread with a fake function.

No moto and no model: the fake Lambda handler echoes the request body, so each test sees
exactly what the local API Gateway hands to the function and what it answers itself
(refused bodies, malformed requests, stalled and truncated bodies, 100 Continue). Plus the
queue poller (its failure lines, and that it outlives a failing queue) and the buckets the
local stack creates.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, redirect_stdout
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError, EndpointConnectionError

from infra import local_env
from infra.local_env import DATA_BUCKET, MODEL_BUCKET
from infra.local_stack import poll_queue, serve_api

#: The realtime function's default MAX_REQUEST_BYTES: more than loopback socket buffers
#: hold, so a server that does not read a refused body resets the client mid-send.
MAX_BODY = 6 * 1024 * 1024
#: Every socket operation of these tests gives up after this long.
SOCKET_TIMEOUT = 10.0
#: The read timeout of the server in the timeout tests: short, so that they are quick.
SHORT_READ_TIMEOUT = 0.5
#: How long a client waits for 100 Continue (curl waits 1 s, then sends anyway).
CONTINUE_WAIT = 5.0


class EchoFunction:
    """A Lambda handler that answers 200 with the request body and records each event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.events.append(event)
        return {
            "statusCode": 200,
            "headers": {"content-type": event["headers"].get("content-type", "text/plain")},
            "body": event["body"],
            "isBase64Encoded": event["isBase64Encoded"],
        }


class LocalApi:
    """A running ``serve_api`` server and the fake function behind it."""

    def __init__(self, function: EchoFunction, port: int) -> None:
        self.function = function
        self.port = port

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=SOCKET_TIMEOUT)

    def exchange(self, raw_request: bytes) -> bytes:
        """Send bytes as they are; everything the server answers until it closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=SOCKET_TIMEOUT) as sock:
            sock.sendall(raw_request)
            sock.shutdown(socket.SHUT_WR)
            return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    answer = bytearray()
    while chunk := sock.recv(65536):
        answer += chunk
    return bytes(answer)


def status_line(answer: bytes) -> str:
    return answer.split(b"\r\n", 1)[0].decode("latin-1")


def split_answer(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status code, headers (lower-case names) and body of a raw HTTP/1.x answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@contextmanager
def running_api(**serve_options: Any) -> Iterator[LocalApi]:
    function = EchoFunction()
    server = serve_api(function, MAX_BODY, 0, **serve_options)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield LocalApi(function, server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def local_api() -> Iterator[LocalApi]:
    with running_api() as api:
        yield api


@pytest.fixture
def impatient_api() -> Iterator[LocalApi]:
    """A server whose read timeout is SHORT_READ_TIMEOUT."""
    with running_api(read_timeout=SHORT_READ_TIMEOUT) as api:
        yield api


def assert_error(body: bytes, error_type: str) -> dict[str, Any]:
    """The project's error object of the given type; returns its "error" member."""
    error = json.loads(body)["error"]
    assert error["type"] == error_type
    assert error["details"] == []
    assert isinstance(error["message"], str)
    assert error["message"]
    return dict(error)


# --- 1. oversize bodies: the documented 413, received in full --------------------------


def test_oversize_body_gets_the_documented_413_after_it_is_read(local_api: LocalApi) -> None:
    connection = local_api.connection()
    try:
        connection.request(
            "POST", "/predict", body=b"x" * (MAX_BODY + 1), headers={"content-type": "text/csv"}
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 413
    assert response.getheader("content-type") == "application/json"
    error = assert_error(body, "payload_too_large")
    assert str(MAX_BODY + 1) in error["message"]
    assert str(MAX_BODY) in error["message"]
    assert local_api.function.events == []  # refused before the function runs


def test_body_at_the_limit_reaches_the_function(local_api: LocalApi) -> None:
    connection = local_api.connection()
    try:
        connection.request(
            "POST", "/predict", body=b"y" * MAX_BODY, headers={"content-type": "text/csv"}
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200
    assert body == b"y" * MAX_BODY


# --- 2. malformed request lines: an HTTP error status, no traceback --------------------


@pytest.mark.parametrize(
    ("raw_request", "expected_status"),
    [
        pytest.param(b"GET /" + b"a" * 65_600 + b" HTTP/1.1\r\n\r\n", 414, id="line-too-long"),
        pytest.param(b"GARBAGE\r\n\r\n", 400, id="garbage"),
        pytest.param(b"GET / HTTP/9.x\r\n\r\n", 400, id="unparsable-version"),
        pytest.param(b"GET / HTTP/9.0\r\n\r\n", 505, id="unsupported-version"),
    ],
)
def test_malformed_request_line_gets_an_error_status_and_no_traceback(
    local_api: LocalApi,
    capfd: pytest.CaptureFixture[str],
    raw_request: bytes,
    expected_status: int,
) -> None:
    answer = local_api.exchange(raw_request)
    line = status_line(answer)
    assert line.startswith("HTTP/1."), answer[:200]
    assert line.split()[1] == str(expected_status)
    logged = capfd.readouterr().err
    assert "Traceback" not in logged
    assert "AttributeError" not in logged
    assert f"code {expected_status}" in logged
    assert local_api.function.events == []


# --- 3. chunked request bodies ---------------------------------------------------------


def chunked_request(encoded_body: bytes, content_type: str = "text/plain") -> bytes:
    return (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Content-Type: {content_type}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + encoded_body
    )


def test_chunked_body_arrives_whole(local_api: LocalApi) -> None:
    # Sizes in either case of hex, a chunk extension and a trailer, as RFC 9112 allows.
    encoded = b"5;name=value\r\nhello\r\n7\r\n, world\r\nA\r\n from curl\r\n0\r\nX-T: 1\r\n\r\n"
    status, headers, body = split_answer(local_api.exchange(chunked_request(encoded)))
    assert status == 200
    assert headers["content-type"] == "text/plain"
    assert body == b"hello, world from curl"
    assert [event["body"] for event in local_api.function.events] == ["hello, world from curl"]


def test_large_binary_chunked_body_arrives_whole(local_api: LocalApi) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, not UTF-8: arrives base64-encoded
    pieces = [payload[i : i + 300_000] for i in range(0, len(payload), 300_000)]
    connection = local_api.connection()
    try:
        connection.request(
            "POST",
            "/predict",
            body=iter(pieces),
            headers={"content-type": "application/octet-stream"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200
    assert body == payload
    assert local_api.function.events[0]["isBase64Encoded"] is True


def test_chunked_body_over_the_limit_gets_the_documented_413(local_api: LocalApi) -> None:
    piece = b"z" * (1024 * 1024)
    pieces = [piece] * (MAX_BODY // len(piece)) + [b"!"]  # MAX_BODY + 1 bytes
    connection = local_api.connection()
    try:
        connection.request(
            "POST",
            "/predict",
            body=iter(pieces),
            headers={"content-type": "text/csv"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 413
    assert response.getheader("content-type") == "application/json"
    error = assert_error(body, "payload_too_large")
    assert str(MAX_BODY) in error["message"]
    assert local_api.function.events == []


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(b"zz\r\nhello\r\n0\r\n\r\n", id="size-not-hex"),
        pytest.param(b"0x5\r\nhello\r\n0\r\n\r\n", id="size-with-0x"),
        pytest.param(b"-5\r\nhello\r\n0\r\n\r\n", id="negative-size"),
        pytest.param(b"\r\nhello\r\n0\r\n\r\n", id="empty-size"),
        pytest.param(b"5\r\nhelloXX0\r\n\r\n", id="no-crlf-after-data"),
        pytest.param(b"5\r\nhel", id="truncated-data"),
        pytest.param(b"5\r\nhello\r\n", id="no-last-chunk"),
        pytest.param(b"0\r\nX-T: 1\r\n", id="unterminated-trailers"),
        pytest.param(b"1" * 5000 + b"\r\n", id="endless-size-line"),
    ],
)
def test_malformed_chunked_framing_gets_400(local_api: LocalApi, encoded: bytes) -> None:
    status, headers, body = split_answer(local_api.exchange(chunked_request(encoded)))
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert "chunked body" in assert_error(body, "malformed_request")["message"]
    assert local_api.function.events == []


@pytest.mark.parametrize(
    ("header", "mentioned"),
    [
        pytest.param(b"Transfer-Encoding: gzip, chunked", "Transfer-Encoding", id="gzip"),
        pytest.param(b"Content-Length: abc", "Content-Length", id="length-not-a-number"),
        pytest.param(b"Content-Length: -1", "Content-Length", id="negative-length"),
    ],
)
def test_unreadable_body_framing_gets_400(
    local_api: LocalApi, header: bytes, mentioned: str
) -> None:
    request = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"\r\n\r\nhello"
    status, headers, body = split_answer(local_api.exchange(request))
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert mentioned in assert_error(body, "malformed_request")["message"]
    assert local_api.function.events == []


# --- 4. bodies that stop short, conflicting lengths, 100 Continue ----------------------


def post_head(*header_lines: str, version: str = "HTTP/1.1") -> bytes:
    """A POST /predict request's head (text/plain), with the given extra header lines."""
    lines = [f"POST /predict {version}", "Host: 127.0.0.1", "Content-Type: text/plain"]
    return ("\r\n".join([*lines, *header_lines]) + "\r\n\r\n").encode()


def read_head(sock: socket.socket) -> bytes:
    """One response head, up to its blank line, read byte by byte to leave what follows."""
    head = bytearray()
    while not head.endswith(b"\r\n\r\n") and len(head) < 4096:
        byte = sock.recv(1)
        if not byte:
            break
        head += byte
    return bytes(head)


def test_body_that_stops_arriving_gets_408_after_the_read_timeout(
    impatient_api: LocalApi, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.create_connection(("127.0.0.1", impatient_api.port), SOCKET_TIMEOUT) as sock:
        sock.sendall(post_head("Content-Length: 100") + b"x")  # then silence, still open
        started = time.monotonic()
        answer = read_until_closed(sock)
        waited = time.monotonic() - started
    status, headers, body = split_answer(answer)
    assert status == 408, answer[:200]
    assert headers["content-type"] == "application/json"
    assert_error(body, "request_timeout")
    assert SHORT_READ_TIMEOUT / 2 <= waited < SOCKET_TIMEOUT / 2
    assert impatient_api.function.events == []
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n", id="unfinished-headers"),
    ],
)
def test_client_silent_before_its_headers_end_is_disconnected(
    impatient_api: LocalApi, capfd: pytest.CaptureFixture[str], sent: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", impatient_api.port), SOCKET_TIMEOUT) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        answer = read_until_closed(sock)
        waited = time.monotonic() - started
    assert answer == b""  # nothing parsed to answer: closed, as http.server does
    assert waited < SOCKET_TIMEOUT / 2
    logged = capfd.readouterr().err
    assert "Traceback" not in logged
    assert f"silent for {SHORT_READ_TIMEOUT:g} s" in logged
    assert impatient_api.function.events == []


def test_body_shorter_than_its_content_length_gets_400(local_api: LocalApi) -> None:
    # The client half-closes after 5 of the 100 bytes it declared.
    answer = local_api.exchange(post_head("Content-Length: 100") + b"hello")
    status, headers, body = split_answer(answer)
    assert status == 400, answer[:200]
    assert headers["content-type"] == "application/json"
    assert "ended after 5 of 100 bytes" in assert_error(body, "malformed_request")["message"]
    assert local_api.function.events == []


@pytest.mark.parametrize(
    "lengths",
    [
        pytest.param(("5", "6"), id="5-then-6"),
        pytest.param(("6", "5"), id="6-then-5"),
        pytest.param(("5", "5", "4"), id="5-5-4"),
    ],
)
def test_conflicting_content_lengths_get_400(local_api: LocalApi, lengths: tuple[str, ...]) -> None:
    head = post_head(*(f"Content-Length: {length}" for length in lengths))
    status, headers, body = split_answer(local_api.exchange(head + b"hello!"))
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert "conflicting Content-Length" in assert_error(body, "malformed_request")["message"]
    assert local_api.function.events == []


def test_repeated_identical_content_length_is_accepted(local_api: LocalApi) -> None:
    head = post_head("Content-Length: 5", "Content-Length:  5")
    status, _, body = split_answer(local_api.exchange(head + b"hello"))
    assert status == 200
    assert body == b"hello"


def test_expect_100_continue_is_answered_before_the_body_is_sent(local_api: LocalApi) -> None:
    with socket.create_connection(("127.0.0.1", local_api.port), CONTINUE_WAIT) as sock:
        sock.sendall(post_head("Expect: 100-continue", "Content-Length: 5"))
        try:
            interim = read_head(sock)
        except TimeoutError:
            pytest.fail(f"no 100 Continue within {CONTINUE_WAIT} s")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.settimeout(SOCKET_TIMEOUT)
        sock.sendall(b"hello")
        sock.shutdown(socket.SHUT_WR)
        answer = read_until_closed(sock)
    status, _, body = split_answer(answer)
    assert status == 200, answer[:200]
    assert body == b"hello"
    assert [event["body"] for event in local_api.function.events] == ["hello"]


def test_expect_100_continue_over_the_limit_gets_413_without_sending_the_body(
    local_api: LocalApi,
) -> None:
    with socket.create_connection(("127.0.0.1", local_api.port), CONTINUE_WAIT) as sock:
        sock.sendall(post_head("Expect: 100-continue", f"Content-Length: {MAX_BODY + 1}"))
        try:
            answer = read_until_closed(sock)  # the body is never sent
        except TimeoutError:
            pytest.fail(f"no answer within {CONTINUE_WAIT} s: the server waits for the body")
    assert b"100 Continue" not in answer
    status, _, body = split_answer(answer)
    assert status == 413, answer[:200]
    assert str(MAX_BODY + 1) in assert_error(body, "payload_too_large")["message"]
    assert local_api.function.events == []


def test_expect_100_continue_in_http_1_0_is_ignored(local_api: LocalApi) -> None:
    # RFC 9110 10.1.1: a server ignores the expectation of an HTTP/1.0 request.
    head = post_head("Expect: 100-continue", "Content-Length: 5", version="HTTP/1.0")
    answer = local_api.exchange(head + b"hello")
    assert b"100 Continue" not in answer
    status, _, body = split_answer(answer)
    assert status == 200
    assert body == b"hello"


# --- 5. many concurrent clients --------------------------------------------------------


def test_a_burst_of_connections_waits_in_the_listen_queue() -> None:
    # The server is listening but busy (not accepting yet): with the default backlog of 5
    # the seventh connection's SYN is dropped and waits for a retransmission.
    function = EchoFunction()
    server = serve_api(function, MAX_BODY, 0)
    clients: list[socket.socket] = []
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    answers = []
    try:
        for _ in range(40):
            clients.append(socket.create_connection(("127.0.0.1", server.server_port), 1.0))
        thread.start()
        for client in clients:
            client.settimeout(SOCKET_TIMEOUT)
            client.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            answers.append(status_line(read_until_closed(client)))
    finally:
        for client in clients:
            client.close()
        if thread.is_alive():  # shutdown() waits for serve_forever: only once it runs
            server.shutdown()
            thread.join(timeout=5)
        server.server_close()
    assert len(answers) == 40
    assert {answer.split()[1] for answer in answers} == {"200"}


def test_twenty_concurrent_clients_all_get_answers(local_api: LocalApi) -> None:
    def fifty_requests(client: int) -> list[int]:
        statuses = []
        for request in range(50):
            connection = local_api.connection()
            try:
                connection.request("GET", f"/health?client={client}&request={request}")
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
            finally:
                connection.close()
        return statuses

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = [pool.submit(fifty_requests, client) for client in range(20)]
        statuses = [status for result in results for status in result.result(timeout=120)]
    print(f"1,000 requests from 20 clients in {time.monotonic() - started:.1f} s")
    assert statuses == [200] * 1000
    assert len(local_api.function.events) == 1000


# --- 6. the queue poller names every failed record and outlives a failing queue --------


def sqs_message(number: int) -> dict[str, Any]:
    """A received message as boto3 returns it, body ``{}``."""
    return {
        "MessageId": f"m-{number}",
        "ReceiptHandle": f"r-{number}",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {},
    }


class OneMessageQueue:
    """An SQS client with one message; receiving it asks the poller to stop afterwards."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.deleted: list[str] = []

    def receive_message(self, **_: Any) -> dict[str, Any]:
        self.stop.set()
        return {"Messages": [sqs_message(1)]}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:  # boto3's names
        self.deleted.append(ReceiptHandle)


class ScriptedQueue:
    """An SQS client whose receives follow a script: raise an exception, or return messages.

    The last receive of the script asks the poller to stop. ``delete_errors`` are raised by
    the first deletes, one each.
    """

    def __init__(
        self,
        stop: threading.Event,
        script: list[Exception | list[dict[str, Any]]],
        delete_errors: list[Exception] | None = None,
    ) -> None:
        self.stop = stop
        self.script = list(script)
        self.delete_errors = list(delete_errors or [])
        self.deleted: list[str] = []

    def receive_message(self, **_: Any) -> dict[str, Any]:
        outcome = self.script.pop(0)
        if not self.script:
            self.stop.set()
        if isinstance(outcome, Exception):
            raise outcome
        return {"Messages": outcome}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:  # boto3's names
        if self.delete_errors:
            raise self.delete_errors.pop(0)
        self.deleted.append(ReceiptHandle)


class RecordedStop(threading.Event):
    """A stop event whose ``wait`` records its timeout and returns at once, for fast tests."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def internal_error() -> ClientError:
    """What boto3 raises when moto answers ReceiveMessage with a 500."""
    error = {"Code": "InternalError", "Message": "We encountered an internal error.\nRetry."}
    return ClientError({"Error": error}, "ReceiveMessage")


class SucceedingBatchFunction:
    """A batch handler that scores every record it is given: no batch item fails."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.delivered += [record["messageId"] for record in event["Records"]]
        return {"batchItemFailures": []}


def test_failed_batch_prints_each_record_error() -> None:
    def failing_batch_function(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise BatchProcessingError(
            msg="All records failed processing. 1 individual errors logged separately below.",
            child_exceptions=[(ValueError, ValueError("boom\nsecond line"), None)],
        )

    stop = threading.Event()
    queue = OneMessageQueue(stop)
    printed = io.StringIO()
    with redirect_stdout(printed):
        poll_queue(queue, "queue-url", failing_batch_function, stop)
    lines = printed.getvalue().splitlines()
    assert lines == [
        "batch  failed, will retry: All records failed processing. "
        "1 individual errors logged separately below.",
        "batch  failed, will retry: ValueError: boom",
    ]
    assert queue.deleted == []  # SQS redelivers it


def test_a_run_in_ranges_gets_its_line_when_its_report_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from infra import local_stack
    from predictor.batch_keys import output_keys

    monkeypatch.setattr(local_stack, "REPORT_POLL_SECONDS", 0.02)
    keys = output_keys("incoming/big.csv")
    assert keys is not None
    reports: dict[str, dict[str, Any]] = {}

    class Reports:  # the one S3 call the summary makes
        def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
            if Key not in reports:
                raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "-"}}, "GetObject")
            return {"Body": io.BytesIO(json.dumps(reports[Key]).encode())}

    # the report of an earlier upload of the key is not this upload's
    reports[keys.report] = {"status": "succeeded", "input": {"etag": "e-1"}, "rows": {}}
    body = json.dumps({"Records": [{"s3": {"object": {"key": "incoming/big.csv", "eTag": "e-2"}}}]})
    stop, printed = threading.Event(), io.StringIO()
    with redirect_stdout(printed):
        # the message's handler only started the state machine: no report yet
        lines = local_stack._batch_summary(Reports(), body, stop)
        assert lines == ["incoming/big.csv: no report yet; its line follows when there is one"]
        # the same message again (a redelivery) starts no second wait
        assert local_stack._batch_summary(Reports(), body, stop) == lines
        reports[keys.report] = {"status": "running", "input": {"etag": "e-2"}}
        time.sleep(0.1)
        assert printed.getvalue() == ""  # running: nothing to say yet
        done = {"status": "succeeded", "rows": {"scored": 5, "rejected": 1}, "seconds": 2.5}
        model = {"name": "wine", "version": "v1"}
        reports[keys.report] = {**done, "model": model, "input": {"etag": "e-2"}}
        deadline = time.monotonic() + 5
        while not printed.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    stop.set()
    assert printed.getvalue().splitlines() == [
        "batch  incoming/big.csv: 5 rows scored, 1 refused by wine v1 in 2.5 s  -> "
        + keys.predictions
    ]


def test_poller_retries_after_receive_errors_and_delivers_the_next_message() -> None:
    stop = RecordedStop()
    unreachable = EndpointConnectionError(endpoint_url="http://127.0.0.1:5000/")
    queue = ScriptedQueue(stop, [internal_error(), unreachable, [sqs_message(1)]])
    function = SucceedingBatchFunction()
    printed = io.StringIO()
    with redirect_stdout(printed):
        poll_queue(queue, "queue-url", function, stop)
    assert printed.getvalue().splitlines() == [
        "batch  cannot receive from the queue, retrying: ClientError: An error occurred "
        "(InternalError) when calling the ReceiveMessage operation: "
        "We encountered an internal error.",
        "batch  cannot receive from the queue, retrying: EndpointConnectionError: "
        'Could not connect to the endpoint URL: "http://127.0.0.1:5000/"',
    ]
    assert function.delivered == ["m-1"]
    assert queue.deleted == ["r-1"]
    assert stop.waits == [1.0, 2.0]  # a back-off between attempts, growing


def test_poller_back_off_is_capped_and_resets_after_a_success() -> None:
    stop = RecordedStop()
    script: list[Exception | list[dict[str, Any]]] = [internal_error() for _ in range(6)]
    script += [[], internal_error(), [sqs_message(1)]]
    queue = ScriptedQueue(stop, script)
    function = SucceedingBatchFunction()
    with redirect_stdout(io.StringIO()) as printed:
        poll_queue(queue, "queue-url", function, stop)
    assert len(printed.getvalue().splitlines()) == 7
    assert stop.waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 1.0]
    assert function.delivered == ["m-1"]


def test_poller_stops_promptly_while_backing_off() -> None:
    stop = threading.Event()

    class AlwaysFailing:
        def receive_message(self, **_: Any) -> dict[str, Any]:
            raise internal_error()

    poller = threading.Thread(
        target=poll_queue,
        args=(AlwaysFailing(), "queue-url", SucceedingBatchFunction(), stop),
        daemon=True,
    )
    with redirect_stdout(io.StringIO()):
        poller.start()
        time.sleep(0.2)  # inside its first back-off of 1 s
        stop.set()
        stopping = time.monotonic()
        poller.join(timeout=SOCKET_TIMEOUT)
        stopped_after = time.monotonic() - stopping
    assert not poller.is_alive()
    assert stopped_after < 0.5  # not the rest of the back-off


def test_poller_outlives_a_failed_delete() -> None:
    stop = RecordedStop()
    stale = ClientError(
        {"Error": {"Code": "ReceiptHandleIsInvalid", "Message": "The handle is invalid."}},
        "DeleteMessage",
    )
    queue = ScriptedQueue(stop, [[sqs_message(1)], [sqs_message(2)]], delete_errors=[stale])
    function = SucceedingBatchFunction()
    with redirect_stdout(io.StringIO()) as printed:
        poll_queue(queue, "queue-url", function, stop)
    assert printed.getvalue().splitlines() == [
        "batch  cannot delete the scored message, it may come again: ClientError: An error "
        "occurred (ReceiptHandleIsInvalid) when calling the DeleteMessage operation: "
        "The handle is invalid.",
    ]
    assert function.delivered == ["m-1", "m-2"]
    assert queue.deleted == ["r-2"]


# --- 7. bucket versioning as template.yaml defines it ----------------------------------


def test_template_enables_versioning_on_both_buckets() -> None:
    assert local_env.template_bucket_versioning() == {
        MODEL_BUCKET: "Enabled",
        DATA_BUCKET: "Enabled",
    }


def test_local_buckets_are_versioned(s3: Any) -> None:
    local_env.create_buckets(s3)
    for bucket in (MODEL_BUCKET, DATA_BUCKET):
        assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
