"""The HTTP side of ``make run`` in-process: ``serve_api`` in a thread with a fake function.

No moto and no model: the fake Lambda handler echoes the request body, so each test sees
exactly what the local API Gateway hands to the function and what it answers itself
(refused bodies, malformed requests). Plus the queue poller's failure lines and the
buckets the local stack creates.
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
from contextlib import redirect_stdout
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from infra import local_env
from infra.local_env import DATA_BUCKET, MODEL_BUCKET
from infra.local_stack import poll_queue, serve_api

pytestmark = pytest.mark.integration

#: The realtime function's default MAX_REQUEST_BYTES: more than loopback socket buffers
#: hold, so a server that does not read a refused body resets the client mid-send.
MAX_BODY = 6 * 1024 * 1024
#: Every socket operation of these tests gives up after this long.
SOCKET_TIMEOUT = 10.0


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


@pytest.fixture
def local_api() -> Iterator[LocalApi]:
    function = EchoFunction()
    server = serve_api(function, MAX_BODY, 0)
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


# --- 4. many concurrent clients --------------------------------------------------------


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


# --- 5. the queue poller names every failed record -------------------------------------


class OneMessageQueue:
    """An SQS client with one message; receiving it asks the poller to stop afterwards."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.deleted: list[str] = []

    def receive_message(self, **_: Any) -> dict[str, Any]:
        self.stop.set()
        return {
            "Messages": [
                {
                    "MessageId": "m-1",
                    "ReceiptHandle": "r-1",
                    "Body": "{}",
                    "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
                    "Attributes": {},
                }
            ]
        }

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:  # boto3's names
        self.deleted.append(ReceiptHandle)


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


# --- 6. bucket versioning as template.yaml defines it ----------------------------------


def test_template_enables_versioning_on_both_buckets() -> None:
    assert local_env.template_bucket_versioning() == {
        MODEL_BUCKET: "Enabled",
        DATA_BUCKET: "Enabled",
    }


def test_local_buckets_are_versioned(s3: Any) -> None:
    local_env.create_buckets(s3)
    for bucket in (MODEL_BUCKET, DATA_BUCKET):
        assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
