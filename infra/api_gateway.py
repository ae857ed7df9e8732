"""API Gateway (HTTP API, payload format 2.0) in front of a Lambda handler, as a WSGI app.

``make run`` serves the realtime function through it over HTTP, and the schemathesis
tests call it in-process: both see exactly what the deployed function sees, an API
Gateway event in and a Lambda proxy response out. Bodies over the size limit are refused
before the function runs, as API Gateway refuses them, but with the project's documented
error object so that clients meet one error shape. A body that stops arriving (the
server's read timeout, a 408) or ends early, and conflicting Content-Length fields, are
refused the same way.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, BinaryIO

from infra.lambda_context import ACCOUNT, LambdaContext

#: Content types API Gateway passes to the function as text; others arrive base64.
_TEXT_TYPES = ("application/json", "text/")

#: Bytes read from the request stream at a time while draining or de-chunking a body.
_READ_BYTES = 64 * 1024
#: At most this many bytes past the limit are read and discarded from a refused body, so
#: that the client, still sending, receives the 413 instead of a connection reset; a client
#: sending more than that is answered and cut off rather than read for ever.
MAX_DRAIN_BYTES = 64 * 1024 * 1024
#: Longest chunk-size line (size and extensions) or trailer line of a chunked body.
_MAX_CHUNK_LINE_BYTES = 4096
#: Most trailer fields after the last chunk.
_MAX_TRAILER_LINES = 64
#: A chunk size: hexadecimal digits only (``int(_, 16)`` would also take "0x", "_", "+").
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")

#: WSGI environ keys a server in front of the app may set (``make run``'s does; the
#: in-process tests call the app without them). Every Content-Length field of the request,
#: as a list of strings: wsgiref keeps only the first in ``CONTENT_LENGTH``.
CONTENT_LENGTHS_KEY = "api_gateway.content_lengths"
#: A callable that sends ``100 Continue``, set only when the client waits for one before
#: sending its body (``Expect: 100-continue`` in an HTTP/1.1 request).
SEND_CONTINUE_KEY = "api_gateway.send_continue"

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def api_gateway_event(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event for one HTTP request.

    ``headers`` must have lower-case names, as API Gateway delivers them.
    """
    now = datetime.now(UTC)
    content_type = headers.get("content-type", "")
    encoded: str | None = None
    if not body or content_type.startswith(_TEXT_TYPES):
        try:
            encoded = body.decode("utf-8")
        except UnicodeDecodeError:
            encoded = None
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": encoded if encoded is not None else base64.b64encode(body).decode(),
        "isBase64Encoded": encoded is None,
    }


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


class RefusedRequest(Exception):
    """A request the gateway answers itself, with the project's error object."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message

    def body(self) -> bytes:
        """``{"error": {"type", "message", "details"}}``, as the function's errors are."""
        error = {"type": self.error_type, "message": self.message, "details": []}
        return json.dumps({"error": error}).encode()


def _malformed(message: str) -> RefusedRequest:
    return RefusedRequest(400, "malformed_request", message)


def _content_length(environ: dict[str, Any]) -> int:
    # RFC 9112 6.3: differing Content-Length fields leave the body's end unknown, a 400;
    # the same value repeated is harmless.
    fields = environ.get(CONTENT_LENGTHS_KEY, [])
    field_values = list(dict.fromkeys(str(value).strip() for value in fields))
    if len(field_values) > 1:
        listed = ", ".join(repr(value[:40]) for value in field_values[:4])
        raise _malformed(f"conflicting Content-Length headers: {listed}")
    declared = str(environ.get("CONTENT_LENGTH") or "0").strip()
    if not declared.isdigit():  # also refuses a negative length
        raise _malformed(f"Content-Length {declared[:40]!r} is not a number of bytes")
    return int(declared)


def _discard(stream: BinaryIO, length: int) -> None:
    """Read ``length`` bytes (fewer if the client stops early or stalls) and drop them."""
    try:
        while length > 0:
            data = stream.read(min(length, _READ_BYTES))
            if not data:
                return
            length -= len(data)
    except TimeoutError:
        return  # the body is refused anyway: the 413 is still the answer, not a 408


def _chunk_line(stream: BinaryIO) -> bytes:
    """One CRLF-terminated line of chunked framing, without its CRLF."""
    line = stream.readline(_MAX_CHUNK_LINE_BYTES + 1)
    if len(line) > _MAX_CHUNK_LINE_BYTES:
        raise _malformed(f"chunked body: a line longer than {_MAX_CHUNK_LINE_BYTES} bytes")
    if not line.endswith(b"\r\n"):
        raise _malformed("chunked body: ends before its last chunk")
    return line[:-2]


def _dechunk(stream: BinaryIO) -> Iterator[bytes]:
    """The data of a ``Transfer-Encoding: chunked`` body, in pieces of at most 64 KiB.

    Reads chunk-size lines (hexadecimal, optional ``;extensions``), each chunk's data and
    its CRLF, up to the zero-size chunk, then the trailer fields up to the empty line,
    so that nothing of the request is left unread. Bad framing raises a 400.
    """
    while True:
        size_field = _chunk_line(stream).split(b";", 1)[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_field):
            raise _malformed(f"chunked body: chunk size {size_field[:20]!r} is not hexadecimal")
        remaining = int(size_field, 16)
        if remaining == 0:
            break
        while remaining > 0:
            data = stream.read(min(remaining, _READ_BYTES))
            if not data:
                raise _malformed("chunked body: ends inside a chunk")
            remaining -= len(data)
            yield data
        if stream.read(2) != b"\r\n":
            raise _malformed("chunked body: chunk data is not followed by CRLF")
    for _ in range(_MAX_TRAILER_LINES):
        if not _chunk_line(stream):
            return
    raise _malformed(f"chunked body: more than {_MAX_TRAILER_LINES} trailer fields")


class ApiGatewayApp:
    """A WSGI application that turns each request into an event for ``lambda_handler``."""

    def __init__(self, lambda_handler: LambdaHandler, max_body_bytes: int) -> None:
        self.lambda_handler = lambda_handler
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request as API Gateway and the function together would."""
        try:
            body = self._read_body(environ)
        except RefusedRequest as refusal:
            return self._send(
                start_response,
                refusal.status,
                {"content-type": "application/json"},
                refusal.body(),
            )
        # WSGI hands the path over as latin-1 decoded bytes; API Gateway passes UTF-8.
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
        event = api_gateway_event(
            environ["REQUEST_METHOD"],
            path or "/",
            environ.get("QUERY_STRING", ""),
            _request_headers(environ),
            body,
        )
        response = self.lambda_handler(event, LambdaContext("realtime-local"))
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        return self._send(
            start_response, response["statusCode"], response.get("headers") or {}, data
        )

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        """The request body, refused (413) over ``max_body_bytes`` before the function runs.

        A body that stops arriving for the server's read timeout gets a 408.
        """
        try:
            return self._read_framed_body(environ)
        except TimeoutError as exc:
            # The server's socket timeout: the client declared more than it sends. The
            # connection may still take an answer; if not, wsgiref just closes it.
            raise RefusedRequest(
                408,
                "request_timeout",
                "the request body stopped arriving before it was complete: "
                "the server stopped waiting for the rest",
            ) from exc

    def _read_framed_body(self, environ: dict[str, Any]) -> bytes:
        stream: BinaryIO = environ["wsgi.input"]
        # Present only when the client holds its body back until it hears 100 Continue.
        send_continue: Callable[[], None] | None = environ.get(SEND_CONTINUE_KEY)
        transfer_encoding = str(environ.get("HTTP_TRANSFER_ENCODING", "")).strip().lower()
        if transfer_encoding == "chunked":
            if send_continue is not None:
                send_continue()  # the size is unknown until read: the limit applies as it comes
            # wsgiref hands over the raw socket stream and does not de-chunk it.
            return self._read_chunked(stream)
        if transfer_encoding:
            # A client's mistake, so a 400 rather than RFC 9112's 501: never a 5xx for these.
            raise _malformed(f"Transfer-Encoding {transfer_encoding[:40]!r} is not supported")
        length = _content_length(environ)
        if length > self.max_body_bytes:
            # Read the body first: answering and closing while the client still sends
            # resets the connection, and the client never sees the 413. A client waiting
            # for 100 Continue sends nothing yet, so it is answered at once (RFC 9110 10.1.1).
            if send_continue is None and length <= self.max_body_bytes + MAX_DRAIN_BYTES:
                _discard(stream, length)
            raise RefusedRequest(
                413,
                "payload_too_large",
                f"request body of {length} bytes exceeds the limit of {self.max_body_bytes} bytes",
            )
        if not length:
            return b""
        if send_continue is not None:
            send_continue()
        body = stream.read(length)
        if len(body) < length:
            # The client closed its side early: a truncated body must not reach the function
            # as if it were whole.
            raise _malformed(f"the body ended after {len(body)} of {length} bytes")
        return body

    def _read_chunked(self, stream: BinaryIO) -> bytes:
        """A chunked body, de-chunked; over the limit it is drained as far as allowed."""
        body = bytearray()
        received = 0
        cut_off = False
        for data in _dechunk(stream):
            received += len(data)
            if received <= self.max_body_bytes:
                body += data
            elif received > self.max_body_bytes + MAX_DRAIN_BYTES:
                cut_off = True  # answered without reading the rest; the connection closes
                break
        if received > self.max_body_bytes:
            size = f"more than {received}" if cut_off else str(received)
            raise RefusedRequest(
                413,
                "payload_too_large",
                f"chunked request body of {size} bytes exceeds the limit of "
                f"{self.max_body_bytes} bytes",
            )
        return bytes(body)

    @staticmethod
    def _send(
        start_response: StartResponse, status: int, headers: dict[str, str], data: bytes
    ) -> list[bytes]:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        header_list = [(name, str(value)) for name, value in headers.items()]
        header_list.append(("Content-Length", str(len(data))))
        start_response(f"{status} {reason}", header_list)
        return [data]
