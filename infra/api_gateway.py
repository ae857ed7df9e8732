"""API Gateway (HTTP API, payload format 2.0) in front of a Lambda handler, as a WSGI app.

``make run`` serves the realtime function through it over HTTP, and the schemathesis
tests call it in-process: both see exactly what the deployed function sees, an API
Gateway event in and a Lambda proxy response out, with API Gateway's own refusal of
bodies over its size limit before the function runs.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

REGION = "us-east-1"

#: Content types API Gateway passes to the function as text; others arrive base64.
_TEXT_TYPES = ("application/json", "text/")

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class LocalContext:
    """What powertools reads from a Lambda context."""

    memory_limit_in_mb = 1024

    def __init__(self, function_name: str = "realtime-local", seconds: float = 900) -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:000000000000:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before this invocation's deadline."""
        return int((self._deadline - time.monotonic()) * 1000)


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
            "accountId": "000000000000",
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


class ApiGatewayApp:
    """A WSGI application that turns each request into an event for ``lambda_handler``."""

    def __init__(self, lambda_handler: LambdaHandler, max_body_bytes: int) -> None:
        self.lambda_handler = lambda_handler
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request as API Gateway and the function together would."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > self.max_body_bytes:
            # API Gateway refuses bodies over its own limit before the function runs.
            return self._send(
                start_response,
                413,
                {"content-type": "application/json"},
                json.dumps({"message": "Request Entity Too Large"}).encode(),
            )
        body = environ["wsgi.input"].read(length) if length else b""
        # WSGI hands the path over as latin-1 decoded bytes; API Gateway passes UTF-8.
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
        event = api_gateway_event(
            environ["REQUEST_METHOD"],
            path or "/",
            environ.get("QUERY_STRING", ""),
            _request_headers(environ),
            body,
        )
        response = self.lambda_handler(event, LocalContext())
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        return self._send(
            start_response, response["statusCode"], response.get("headers") or {}, data
        )

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
