"""A local signing proxy: the try-it page of an IAM-protected API, in a browser.

A browser cannot sign requests with AWS Signature Version 4, so an API deployed with
``ApiAuth=IAM`` (the default) or behind a Function URL answers its page with 403. This
proxy listens on 127.0.0.1 only, signs each request with the caller's own AWS
credentials (the usual chain: environment, profile, SSO, instance role) and forwards it
to the deployed API, so ``http://127.0.0.1:8080/`` shows the page and every call it makes
is signed::

    make proxy STACK=my-predictor            # the stack's ApiUrl or FunctionUrl output
    python -m infra.signing_proxy --url https://abc123.execute-api.eu-west-1.amazonaws.com

Credentials are looked up again for each request, so refreshed ones (SSO, roles) are used
as they change. Nothing is stored.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from infra.stack import describe

#: The most a proxied request body may be: API Gateway's own limit (10 MB) with room.
MAX_BODY_BYTES = 12 * 1024 * 1024
#: Seconds to wait for the API (API Gateway gives up on the function after 29 s).
UPSTREAM_TIMEOUT = 35.0
#: Request headers passed on to the API (and signed); any others stay here, as cookies
#: and the browser's own headers mean nothing to it.
FORWARDED_REQUEST_HEADERS = (
    "accept",
    "content-type",
    "x-model-name",
    "x-amzn-sagemaker-target-model",
    "inference-header-content-length",
)
#: Response headers not passed back: they describe the upstream connection (or this
#: server writes its own), not the answer.
NOT_PASSED_BACK = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "proxy-connection",
        "date",
        "server",
        # The page sets no cookie; none from upstream is kept by the browser for this origin.
        "set-cookie",
    }
)

_EXECUTE_API = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_LAMBDA_URL = re.compile(r"^[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$")


@dataclass(frozen=True, slots=True)
class Upstream:
    """The API requests are forwarded to, and how they are signed."""

    url: str
    region: str
    #: ``execute-api`` for API Gateway, ``lambda`` for a Function URL.
    service: str

    @classmethod
    def from_url(cls, url: str, region: str | None = None, service: str | None = None) -> Upstream:
        """Service and region read off an API Gateway or Function URL host, unless given."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        host = parts.hostname
        for pattern, name in ((_EXECUTE_API, "execute-api"), (_LAMBDA_URL, "lambda")):
            if (match := pattern.match(host)) is not None:
                region = region or match[1]
                service = service or name
        if region is None or service is None:
            raise ValueError(
                f"cannot tell the region and service of {host}: give --region and --service"
            )
        return cls(url.rstrip("/"), region, service)


def stack_url(stack: str, region: str | None, cloudformation: Any = None) -> str:
    """The realtime API's URL from a deployed stack's outputs."""
    found = describe(stack, region, cloudformation)
    if found is None:
        raise ValueError(f"no stack {stack!r} in this account and region")
    return found.api_url


def sign(
    upstream: Upstream,
    credentials: Any,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
) -> dict[str, str]:
    """The headers of the request to ``url`` signed with SigV4 (Host, X-Amz-Date, the
    body's SHA-256, Authorization and, for temporary credentials, the session token)."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    SigV4Auth(credentials, upstream.service, upstream.region).add_auth(request)
    return dict(request.headers.items())


def make_handler(
    upstream: Upstream, credentials: Callable[[], Any], log: Callable[[str], None]
) -> type[BaseHTTPRequestHandler]:
    """The request handler of a proxy to ``upstream``; ``credentials()`` gives the
    (frozen) credentials to sign with, or None when there are none."""
    target = urlsplit(upstream.url)
    connection_class = (
        http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    )
    base_path = target.path.rstrip("/")

    class SigningHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ServerlessPredictorSigningProxy"

        def _answer(self, status: int, message: str) -> None:
            error = {"type": "proxy_error", "message": message, "details": []}
            body = json.dumps({"error": error}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _refusal(self) -> tuple[int, str] | None:
            """Why this request is not forwarded (None when it is). Only this machine's own
            pages may use the proxy: a page of another site (or a DNS name rebound to
            127.0.0.1) must not make signed calls with the user's credentials."""
            own = {
                f"127.0.0.1:{self.server.server_address[1]}",
                f"localhost:{self.server.server_address[1]}",
            }
            if self.headers.get("Host") not in own:
                return 403, "only requests addressed to this proxy on 127.0.0.1 are forwarded"
            origin = self.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc not in own:
                return 403, f"requests from pages of {origin} are not forwarded"
            if self.headers.get("Transfer-Encoding"):
                return 411, "send the body with a Content-Length"
            length = self.headers.get("Content-Length") or "0"
            if not length.isdigit():
                return 400, f"bad Content-Length {length!r}"
            if int(length) > MAX_BODY_BYTES:
                return 413, f"request body over {MAX_BODY_BYTES} bytes"
            return None

        def _forward(self) -> None:
            refusal = self._refusal()
            if refusal is not None:
                self.close_connection = True
                self._answer(*refusal)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            frozen = credentials()
            if frozen is None:
                self._answer(502, "no AWS credentials found (environment, profile, SSO or role)")
                return
            headers = {
                name: value
                for name in FORWARDED_REQUEST_HEADERS
                if (value := self.headers.get(name)) is not None
            }
            path = base_path + self.path
            url = f"{target.scheme}://{target.netloc}{path}"
            connection = connection_class(target.netloc, timeout=UPSTREAM_TIMEOUT)
            try:
                signed = sign(upstream, frozen, self.command, url, headers, body)
                connection.request(self.command, path, body=body or None, headers=signed)
                response = connection.getresponse()
                answer = response.read()
            except Exception as exc:  # answered, never a dropped connection
                self._answer(502, f"the API at {upstream.url} cannot be reached: {exc}")
                return
            finally:
                connection.close()
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in NOT_PASSED_BACK:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer)

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = _forward

        def log_message(self, format: str, *args: Any) -> None:
            log(f"{self.address_string()} {format % args}")

    return SigningHandler


def serve(
    upstream: Upstream, port: int, credentials: Callable[[], Any], log: Callable[[str], None]
) -> ThreadingHTTPServer:
    """A proxy server on 127.0.0.1:``port`` (0: any free port), not yet serving."""
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(upstream, credentials, log))
    server.daemon_threads = True
    return server


def session_credentials(profile: str | None = None) -> Callable[[], Any]:
    """Frozen credentials of the default chain (or ``profile``), looked up per request so
    that refreshed ones are used."""
    import boto3

    session = boto3.Session(profile_name=profile)

    def current() -> Any:
        found = session.get_credentials()
        return None if found is None else found.get_frozen_credentials()

    return current


def main(argv: list[str] | None = None) -> int:
    """Serve a deployed API's try-it page on 127.0.0.1, signing every request."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed stack: its ApiUrl or FunctionUrl output")
    where.add_argument("--url", help="the API's URL")
    parser.add_argument("--region", help="the API's region (read off its URL by default)")
    parser.add_argument(
        "--service", choices=["execute-api", "lambda"], help="read off the URL by default"
    )
    parser.add_argument("--profile", help="an AWS profile to sign with")
    parser.add_argument("--port", type=int, default=8080, help="local port (127.0.0.1 only)")
    args = parser.parse_args(argv)
    try:
        url = args.url or stack_url(args.stack, args.region)
        upstream = Upstream.from_url(url, args.region, args.service)
    except Exception as exc:
        print(f"signing proxy: {exc}", file=sys.stderr)
        return 2
    credentials = session_credentials(args.profile)
    if credentials() is None:
        print("signing proxy: no AWS credentials found to sign with", file=sys.stderr)
        return 2
    try:
        server = serve(upstream, args.port, credentials, lambda line: print(line, flush=True))
    except OSError as exc:
        print(f"signing proxy: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(
        f"Signing requests to {upstream.url} ({upstream.service}, {upstream.region}).\n"
        f"Open http://127.0.0.1:{server.server_port}/ (Ctrl-C stops).",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
