"""The local signing proxy (`make proxy`): every request forwarded with a SigV4 signature
that a verifier holding the same secret recomputes from what it received."""

from __future__ import annotations

import hashlib
import http.client
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from botocore.credentials import ReadOnlyCredentials

from infra.signing_proxy import Upstream, main, serve, stack_url
from tests.helpers import SIGNING_SECRET, serving, signature_is_valid

SECRET = SIGNING_SECRET


class VerifyingApi(BaseHTTPRequestHandler):
    """An API that recomputes each request's signature and answers what it found."""

    received: ClassVar[list[dict[str, Any]]] = []
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        authorization = self.headers.get("Authorization", "")
        signed_names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        valid = signature_is_valid(self.command, self.path, self.headers, body)
        self.received.append(
            {
                "method": self.command,
                "path": self.path,
                "body": body,
                "signed": signed_names,
                "valid": valid,
                "token": self.headers.get("X-Amz-Security-Token"),
                "sha256": self.headers.get("X-Amz-Content-Sha256"),
                "cookie": self.headers.get("Cookie"),
            }
        )
        answer = b"<!doctype html>page" if self.path == "/" else body
        self.send_response(200 if valid else 403)
        self.send_header("Content-Type", "text/html" if self.path == "/" else "text/csv")
        self.send_header("Content-Security-Policy", "default-src 'none'")
        self.send_header("Set-Cookie", "tracking=1")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    VerifyingApi.received = []
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), VerifyingApi)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def proxy(api: str) -> Iterator[tuple[int, list[str]]]:
    lines: list[str] = []
    upstream = Upstream.from_url(api, "eu-west-1", "execute-api")
    with serving(serve(upstream, 0, lambda: SECRET, lines.append)) as port:
        yield port, lines


def send(port: int, method: str, path: str, body: bytes = b"", **headers: str) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body or None, headers=headers)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_every_request_is_signed_and_its_answer_passed_back(proxy: tuple[int, list[str]]) -> None:
    port, lines = proxy
    status, headers, body = send(port, "GET", "/", Cookie="session=1")
    assert (status, body) == (200, b"<!doctype html>page")
    assert headers["Content-Security-Policy"] == "default-src 'none'"
    assert "Set-Cookie" not in headers
    rows = b"alcohol,pH\n9.4,3.5\n"
    status, _, body = send(
        port, "POST", "/models/wine/predict?x=1", rows, **{"Content-Type": "text/csv"}
    )
    assert (status, body) == (200, rows)
    page, predict = VerifyingApi.received
    assert page["valid"]
    assert predict["valid"]
    assert predict["path"] == "/models/wine/predict?x=1"
    assert predict["sha256"] == hashlib.sha256(rows).hexdigest()
    assert {"host", "x-amz-date", "content-type"} <= set(predict["signed"])
    assert predict["token"] == "a-session-token"
    assert page["cookie"] is None  # the browser's own headers stay here
    assert len(lines) == 2


def test_an_api_under_a_base_path_gets_the_path_it_was_signed_for(api: str) -> None:
    """A custom domain maps the API under a path: the signed path is the one sent."""
    upstream = Upstream.from_url(f"{api}/prod", "eu-west-1", "execute-api")
    with serving(serve(upstream, 0, lambda: SECRET, print)) as port:
        status, _, _ = send(port, "POST", "/models/wine/predict", b"a\n1\n")
    (received,) = VerifyingApi.received
    assert received["path"] == "/prod/models/wine/predict"
    assert received["valid"]
    assert status == 200


def test_only_this_machines_pages_may_use_the_proxy(proxy: tuple[int, list[str]]) -> None:
    """A site the browser visits (or a name rebound to 127.0.0.1) cannot make signed calls."""
    port, _ = proxy
    refused = [
        send(port, "GET", "/models", Host="evil.example:8080"),
        send(port, "POST", "/predict", b"x", Origin="https://evil.example"),
    ]
    assert [status for status, _, _ in refused] == [403, 403]
    assert "only requests addressed to this proxy" in refused[0][2].decode()
    status, _, _ = send(port, "POST", "/predict", b"x", Origin=f"http://localhost:{port}")
    assert status == 200
    status, _, _ = send(port, "POST", "/predict", b"", **{"Content-Length": "-1"})
    assert status == 400
    assert len(VerifyingApi.received) == 1  # only the one from this machine's own page


def test_a_signature_made_with_another_secret_is_refused_upstream(api: str) -> None:
    wrong = ReadOnlyCredentials("AKIDEXAMPLE", "another-secret", None)
    upstream = Upstream.from_url(api, "eu-west-1", "execute-api")
    with serving(serve(upstream, 0, lambda: wrong, print)) as port:
        status, _, _ = send(port, "GET", "/")
    assert status == 403
    assert VerifyingApi.received[0]["valid"] is False


def test_no_credentials_or_no_api_get_a_clear_error(api: str) -> None:
    upstream = Upstream.from_url(api, "eu-west-1", "execute-api")
    for credentials, gone, message in (
        (lambda: None, False, "no AWS credentials found"),
        (lambda: SECRET, True, "cannot be reached"),
    ):
        target = Upstream("http://127.0.0.1:9", "eu-west-1", "execute-api") if gone else upstream
        with serving(serve(target, 0, credentials, print)) as port:
            status, _, body = send(port, "GET", "/")
        assert status == 502
        assert message in json.loads(body)["error"]["message"]


@pytest.mark.parametrize(
    ("url", "region", "service"),
    [
        ("https://a1b2c3.execute-api.eu-west-1.amazonaws.com", "eu-west-1", "execute-api"),
        ("https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn/", "cn-north-1", "execute-api"),
        ("https://abcdef123.lambda-url.us-east-2.on.aws/", "us-east-2", "lambda"),
    ],
)
def test_region_and_service_are_read_off_the_url(url: str, region: str, service: str) -> None:
    upstream = Upstream.from_url(url)
    assert (upstream.region, upstream.service) == (region, service)
    assert not upstream.url.endswith("/")


def test_an_unknown_host_needs_region_and_service() -> None:
    with pytest.raises(ValueError, match="give --region and --service"):
        Upstream.from_url("https://api.example.com")
    assert Upstream.from_url("https://api.example.com", "eu-west-1", "execute-api").region


class Stacks:
    def __init__(self, outputs: list[dict[str, str]]) -> None:
        self.outputs = outputs

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackName": StackName, "Outputs": self.outputs}]}


def test_the_stack_output_names_the_api() -> None:
    api = [{"OutputKey": "ApiUrl", "OutputValue": "https://x.execute-api.eu-west-1.amazonaws.com"}]
    assert stack_url("s", None, Stacks(api)).startswith("https://x.execute-api")
    url = [{"OutputKey": "FunctionUrl", "OutputValue": "https://y.lambda-url.eu-west-1.on.aws/"}]
    assert stack_url("s", None, Stacks(url)) == url[0]["OutputValue"]
    with pytest.raises(ValueError, match="has none of the outputs ApiUrl, FunctionUrl"):
        stack_url("s", None, Stacks([{"OutputKey": "ModelBucketName", "OutputValue": "b"}]))


def test_the_command_refuses_an_unusable_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "ftp://somewhere"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err
