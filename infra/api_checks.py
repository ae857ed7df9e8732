"""The realtime API's checks over HTTP, for any running copy of it.

One list of requests and expectations, run against `make run`'s local API (by the test
suite) and against `sam local start-api` (by `make sam-local`): every realtime HTTP API
event in ``events/`` sent as the request it describes (predict as JSON records,
``dataframe_split`` and CSV, a malformed body, ``/model``, ``/health``), plus a schema
violation that must name its row and column and a route that does not exist.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from infra.invoke_built import EVENTS, expected_ok

#: Headers the HTTP client sets itself (or that describe the original deployment).
_DROPPED_HEADERS = {"host", "content-length", "user-agent"}


@dataclass(frozen=True)
class ApiRequest:
    """One request and how to judge its answer."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None


@dataclass(frozen=True)
class ApiResult:
    """What one request got: status, seconds and the problem found (None when right)."""

    name: str
    status: int
    seconds: float
    problem: str | None


def requests_from_events() -> list[ApiRequest]:
    """The realtime HTTP API events (payload 2.0 with a path) as HTTP requests."""
    requests = []
    for path in sorted(EVENTS.glob("realtime_*.json")):
        event = json.loads(path.read_text())
        http = event.get("requestContext", {}).get("http", {})
        domain = event.get("requestContext", {}).get("domainName", "")
        if "rawPath" not in event or ".lambda-url." in domain:
            continue  # a Function URL event: the same routes, another front door
        body = event.get("body")
        data = None
        if body is not None:
            data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        headers = {
            k: v for k, v in event.get("headers", {}).items() if k.lower() not in _DROPPED_HEADERS
        }
        query = f"?{event['rawQueryString']}" if event.get("rawQueryString") else ""
        requests.append(
            ApiRequest(path.name, http["method"], event["rawPath"] + query, headers, data)
        )
    return requests


def _send(base_url: str, request: ApiRequest) -> tuple[int, str, float]:
    http_request = urllib.request.Request(  # noqa: S310 (see below)
        base_url + request.path, data=request.body, method=request.method
    )
    for key, value in request.headers.items():
        http_request.add_header(key, value)
    started = time.perf_counter()
    try:
        # base_url is the http://127.0.0.1:<port> of an API this project started
        with urllib.request.urlopen(http_request, timeout=60) as response:  # noqa: S310
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    return status, text, time.perf_counter() - started


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def check_api(base_url: str, *, sam_local: bool = False) -> list[ApiResult]:
    """Every check against the API at ``base_url`` (``http://host:port``).

    ``sam_local``: the API is `sam local start-api`, which answers a route it does not
    know with 403 (as REST APIs do) where an HTTP API answers 404.
    """
    results = []
    for request in requests_from_events():
        status, text, seconds = _send(base_url, request)
        problem = expected_ok(request.name, {"statusCode": status, "body": text})
        results.append(ApiResult(request.name, status, seconds, problem))

    violation = ApiRequest(
        "schema violation (CSV missing columns)",
        "POST",
        "/predict",
        {"content-type": "text/csv"},
        b"alcohol\n9.5\n",
    )
    status, text, seconds = _send(base_url, violation)
    body = _json(text)
    error = body.get("error") if isinstance(body, dict) else None
    problem = None
    if status != 422 or not isinstance(error, dict) or error.get("type") != "schema_violation":
        problem = f"expected 422 schema_violation, got {status}: {text[:300]}"
    results.append(ApiResult(violation.name, status, seconds, problem))

    bad_value = json.loads(json.loads((EVENTS / "realtime_predict_json.json").read_text())["body"])
    bad_value["instances"][1]["alcohol"] = "strong"
    wrong = ApiRequest(
        "a text value in a numeric column",
        "POST",
        "/predict",
        {"content-type": "application/json"},
        json.dumps(bad_value).encode(),
    )
    status, text, seconds = _send(base_url, wrong)
    body = _json(text)
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    named = [
        d
        for d in (details if isinstance(details, list) else [])
        if isinstance(d, dict) and d.get("row") == 1 and d.get("column") == "alcohol"
    ]
    problem = None
    if status != 422 or not named:
        problem = f"expected 422 naming row 1 and alcohol, got {status}: {text[:300]}"
    results.append(ApiResult(wrong.name, status, seconds, problem))

    # Answered by the front door, not the function: an HTTP API (and `make run`) says 404;
    # `sam local start-api` says 403 "Missing Authentication Token", as REST APIs do.
    missing = ApiRequest("a route that does not exist", "GET", "/no-such-route", {}, None)
    status, text, seconds = _send(base_url, missing)
    allowed = (403, 404) if sam_local else (404,)
    problem = None if status in allowed else f"expected {allowed}, got {status}: {text[:300]}"
    results.append(ApiResult(missing.name, status, seconds, problem))
    return results
