"""A smoke check of a serving stack: ``make smoke STACK=...`` (or any API and data bucket).

Reads the stack's outputs, then sends SigV4-signed requests as a client would: the health
check, the served model's description, a prediction in each protocol (this API's own,
MLflow's ``/invocations``, the Open Inference Protocol), a CSV body, a refusal that must
name its row and column; then drops a small CSV under ``incoming/`` and waits for its
report. One line per check; exit status 0 when every check passed, 1 otherwise, 2 when
the stack cannot be read. The rows sent are the served model's training medians, read
from its own schema, so the check works for any model::

    python -m infra.smoke --stack my-predictor [--region eu-west-1]
    # `make run`'s stack (AWS_ENDPOINT_URL points S3 at moto):
    python -m infra.smoke --api http://127.0.0.1:3000 \\
        --data-bucket serverless-predictor-data-local
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from infra.signing_proxy import Upstream, session_credentials, sign
from infra.stack import NoAwsError, describe

#: How long the batch check waits for the file's report.
BATCH_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome, as its line says it."""

    name: str
    passed: bool
    detail: str
    seconds: float

    def line(self) -> str:
        verdict = "ok  " if self.passed else "FAIL"
        return f"{verdict}  {self.name:<30} {self.detail} ({self.seconds:.2f} s)"


class Client:
    """Signed HTTP requests to one API."""

    def __init__(self, upstream: Upstream, credentials: Callable[[], Any] | None) -> None:
        self.upstream = upstream
        self._credentials = credentials
        self._target = urlsplit(upstream.url)

    def request(
        self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        data = body.encode()
        headers = {"accept": "application/json", **(headers or {})}
        if body and "content-type" not in headers:
            headers["content-type"] = "application/json"
        url = f"{self.upstream.url}{path}"
        if self._credentials is not None:
            frozen = self._credentials()
            if frozen is not None:
                headers = sign(self.upstream, frozen, method, url, headers, data)
        connection_class = (
            http.client.HTTPSConnection
            if self._target.scheme == "https"
            else http.client.HTTPConnection
        )
        connection = connection_class(self._target.netloc, timeout=35)
        try:
            connection.request(
                method, self._target.path.rstrip("/") + path, body=data or None, headers=headers
            )
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def _timed(name: str, check: Callable[[], str]) -> Check:
    started = time.monotonic()
    try:
        detail = check()
        passed = True
    except Exception as exc:
        detail, passed = f"{type(exc).__name__}: {exc}"[:300], False
    return Check(name, passed, detail, time.monotonic() - started)


def _expect(status: int, body: bytes, wanted: int) -> Any:
    if status != wanted:
        raise AssertionError(f"status {status}, expected {wanted}: {body[:200]!r}")
    return json.loads(body)


def median_row(schema: list[dict[str, Any]]) -> dict[str, Any]:
    """A valid row of the model: each numeric column's training median (or the middle of
    its range), each categorical column's first category."""
    row: dict[str, Any] = {}
    for column in schema:
        if column["kind"] == "numeric":
            median = column.get("median")
            if median is None:
                low, high = column.get("min") or 0.0, column.get("max") or 0.0
                median = (low + high) / 2
            row[column["name"]] = median
        else:
            categories = column.get("categories") or ["a"]
            row[column["name"]] = categories[0]
    return row


def run_checks(
    client: Client, s3: Any, data_bucket: str, batch_timeout: float = BATCH_TIMEOUT_SECONDS
) -> list[Check]:
    """Every check, in order; later checks use what the first ones learned."""
    found: dict[str, Any] = {}
    checks: list[Check] = []

    def health() -> str:
        answer = _expect(*client.request("GET", "/health"), 200)
        found["model"] = answer["model"]
        return f"{answer['model']['name']} {answer['model']['version']}"

    def model() -> str:
        answer = _expect(*client.request("GET", "/model"), 200)
        found["schema"], found["row"] = answer["schema"], median_row(answer["schema"])
        return f"{len(answer['schema'])} columns, task {answer['task']}"

    def predict() -> str:
        body = json.dumps({"instances": [found["row"]]})
        answer = _expect(*client.request("POST", "/predict", body), 200)
        return f"prediction {answer['predictions'][0]!r}"

    def csv_body() -> str:
        row = found["row"]
        text = ",".join(json.dumps(n) for n in row) + "\n" + ",".join(str(v) for v in row.values())
        status, raw = client.request(
            "POST", "/predict", text + "\n", {"content-type": "text/csv; header=present"}
        )
        return f"prediction {_expect(status, raw, 200)['predictions'][0]!r}"

    def invocations() -> str:
        row = found["row"]
        split = {"columns": list(row), "data": [list(row.values())]}
        answer = _expect(
            *client.request("POST", "/invocations", json.dumps({"dataframe_split": split})), 200
        )
        return f"predictions {answer['predictions']!r}"

    def infer() -> str:
        row, name = found["row"], found["model"]["name"]
        inputs = [
            {"name": column, "shape": [1], "datatype": "FP64" if isinstance(value, float | int)
             else "BYTES", "data": [value]}
            for column, value in row.items()
        ]  # fmt: skip
        answer = _expect(
            *client.request("POST", f"/v2/models/{name}/infer", json.dumps({"inputs": inputs})), 200
        )
        return f"outputs {', '.join(o['name'] for o in answer['outputs'])}"

    def refusal() -> str:
        schema = found["schema"]
        numeric = next((c["name"] for c in schema if c["kind"] == "numeric"), None)
        if numeric is None:
            return "skipped: the model has no numeric column to send a word to"
        bad = {**found["row"], numeric: "not a number"}
        status, raw = client.request("POST", "/predict", json.dumps({"instances": [bad]}))
        detail = _expect(status, raw, 422)["error"]["details"][0]
        if (detail["row"], detail["column"]) != (0, numeric):
            raise AssertionError(f"the refusal names {detail}, not row 0, column {numeric!r}")
        return f"422 naming row 0, column {numeric!r}"

    def batch() -> str:
        row = found["row"]
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        key = f"incoming/smoke-{stamp}.csv"
        lines = [",".join(row), *([",".join(str(v) for v in row.values())] * 3)]
        s3.put_object(Bucket=data_bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
        report_key = f"reports/smoke-{stamp}.csv.json"
        deadline = time.monotonic() + batch_timeout
        while time.monotonic() < deadline:
            try:
                report = json.loads(
                    s3.get_object(Bucket=data_bucket, Key=report_key)["Body"].read()
                )
            except s3.exceptions.NoSuchKey:
                time.sleep(1)
                continue
            if report["status"] != "succeeded":
                raise AssertionError(f"report {report['status']}: {report.get('error')}")
            scored, output = report["rows"]["scored"], report["outputs"]["predictions"]
            return f"{key}: {scored} rows scored -> {output}"
        raise AssertionError(f"no report {report_key} within {batch_timeout:g} s")

    for name, check in (
        ("GET /health", health),
        ("GET /model", model),
        ("POST /predict (JSON)", predict),
        ("POST /predict (CSV)", csv_body),
        ("POST /invocations (MLflow)", invocations),
        ("POST /v2/models/{name}/infer", infer),
        ("a refusal (422)", refusal),
        ("a CSV under incoming/", batch),
    ):
        checks.append(_timed(name, check))
        if not checks[-1].passed and name in ("GET /health", "GET /model"):
            break  # nothing else can be asked without the model
    return checks


def main(argv: list[str] | None = None) -> int:
    """Run the checks; print one line each and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed stack (its outputs name the API and bucket)")
    where.add_argument("--api", help="the API's URL (with --data-bucket)")
    parser.add_argument("--data-bucket", help="the data bucket (with --api)")
    parser.add_argument("--region", help="the stack's or API's region")
    parser.add_argument(
        "--service",
        choices=["execute-api", "lambda"],
        help="what requests are signed for (read off the URL by default; execute-api for a "
        "local API)",
    )
    parser.add_argument(
        "--batch-timeout", type=float, default=BATCH_TIMEOUT_SECONDS, help="seconds to wait"
    )
    args = parser.parse_args(argv)
    try:
        if args.stack:
            stack = describe(args.stack, args.region)
            if stack is None:
                raise NoAwsError(f"no stack {args.stack!r} in this account and region")
            url, bucket, region = stack.api_url, stack.data_bucket, stack.region
        else:
            if not args.data_bucket:
                parser.error("--api needs --data-bucket")
            url, bucket, region = args.api, args.data_bucket, args.region
        local = urlsplit(url).hostname in ("127.0.0.1", "localhost")
        upstream = Upstream.from_url(
            url, region or ("us-east-1" if local else None), args.service or (
                "execute-api" if local else None
            )
        )  # fmt: skip
    except (NoAwsError, ValueError) as exc:
        print(f"smoke: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # CloudFormation unreachable, no credentials, ...
        print(f"smoke: the stack cannot be read: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    import boto3

    print(f"Smoke check of {upstream.url} (signed for {upstream.service}, {upstream.region})")
    s3 = boto3.client("s3", region_name=upstream.region)
    checks = run_checks(Client(upstream, session_credentials()), s3, bucket, args.batch_timeout)
    for check in checks:
        print(check.line(), flush=True)
    failed = [c for c in checks if not c.passed]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
