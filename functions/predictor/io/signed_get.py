"""S3 reads for a realtime cold start: a signed GET on the standard library, boto3 for the rest.

Importing botocore and creating its first S3 client take about 0.18 s, the largest part
of a cold start after numpy and onnxruntime, and the first request needs only three reads
(the alias, the manifest, the model). :class:`ColdStartS3` does those reads itself: one
HTTPS GET signed with Signature Version 4 over ``http.client``, for the credentials,
region and endpoint Lambda puts in the environment. Everything else goes to boto3's
client, created when first needed: any other call, any GET that does not answer 200 at
once (a missing key, a throttle, an expired token, a redirect, a network fault), and
every call once boto3's client exists. So errors, retries and the credential chain stay
boto3's own; this class only makes the common case cheap.

The fast path is taken only inside Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set), with the
keys and region in the environment, no profile or shared config file (either could
change what boto3 would do), no proxy, no FIPS or dual-stack endpoint asked for, and a
region of the partitions whose S3 host names it knows (aws, aws-cn, aws-us-gov);
``AWS_CA_BUNDLE`` is honoured as boto3 honours it. Each fall-back is logged with its
reason.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

#: SHA-256 of an empty body: what a GET signs as its payload.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#: Seconds a connection or one read may wait before boto3 is asked instead.
TIMEOUT_SECONDS = 10.0
_TRUE = ("1", "true", "yes", "on")
#: What a kept-alive connection meets when the server closed it while it was idle.
_CLOSED_BY_SERVER = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
#: Variables that send boto3 through a proxy: boto3 alone.
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
#: Regions outside the partitions whose S3 host names are built here.
_OTHER_PARTITIONS = ("us-iso", "eusc-")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SigningContext:
    """What a signed GET needs from the environment."""

    access_key: str
    secret_key: str
    session_token: str | None
    region: str
    #: ``scheme://host[:port]`` of a custom endpoint (path-style keys), or None for AWS.
    endpoint: str | None
    #: The certificates HTTPS trusts (``AWS_CA_BUNDLE``, as boto3 reads it), or the system's.
    ca_bundle: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SigningContext | None:
        """The context, or None where boto3 alone knows what to do."""
        access_key = environ.get("AWS_ACCESS_KEY_ID")
        secret_key = environ.get("AWS_SECRET_ACCESS_KEY")
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        if not (environ.get("AWS_LAMBDA_FUNCTION_NAME") and access_key and secret_key and region):
            return None
        if environ.get("AWS_PROFILE") or environ.get("AWS_CONFIG_FILE"):
            return None
        if any(environ.get(name) for name in _PROXY_VARIABLES):
            return None
        if region.startswith(_OTHER_PARTITIONS):
            return None
        if os.path.exists(os.path.expanduser("~/.aws/config")):
            return None
        for name in ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"):
            if environ.get(name, "").lower() in _TRUE:
                return None
        endpoint = None
        if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() not in _TRUE:
            endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
        if endpoint is None and not region.replace("-", "").isalnum():
            return None
        token = environ.get("AWS_SESSION_TOKEN") or None
        endpoint = endpoint.rstrip("/") if endpoint else None
        ca_bundle = environ.get("AWS_CA_BUNDLE") or None
        return cls(access_key, secret_key, token, region, endpoint, ca_bundle)

    def url(self, bucket: str, key: str) -> tuple[str, str, str]:
        """(scheme, host, path) of an object: path-style on a custom endpoint, else
        virtual-hosted where the bucket name allows it."""
        quoted = quote(key, safe="/~")
        if self.endpoint is not None:
            parts = urlsplit(self.endpoint)
            base = parts.path.rstrip("/")
            return parts.scheme, parts.netloc, f"{base}/{quote(bucket, safe='')}/{quoted}"
        domain = "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        if "." in bucket:  # a dotted name does not match S3's wildcard certificate
            return "https", f"s3.{self.region}.{domain}", f"/{bucket}/{quoted}"
        return "https", f"{bucket}.s3.{self.region}.{domain}", f"/{quoted}"

    def headers(self, host: str, path: str, now: float) -> dict[str, str]:
        """The signed headers of a GET of ``path`` on ``host`` at epoch ``now``."""
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        headers = {"host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
        if self.session_token:
            headers["x-amz-security-token"] = self.session_token
        names = sorted(headers)
        canonical = "\n".join(
            ["GET", path, "", *(f"{name}:{headers[name]}" for name in names), "",
             ";".join(names), EMPTY_SHA256]
        )  # fmt: skip
        scope = f"{amz_date[:8]}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = ("AWS4" + self.secret_key).encode()
        for part in (amz_date[:8], self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return headers


class ColdStartS3:
    """An S3 client whose ``get_object`` is a signed GET until boto3's client exists.

    ``full_client`` creates boto3's client; it is called once, when first needed (by any
    thread). Every attribute other than ``get_object`` is the full client's.
    """

    def __init__(
        self, full_client: Callable[[], Any], environ: Mapping[str, str] | None = None
    ) -> None:
        self._create_full = full_client
        self._full: Any = None
        self._lock = threading.Lock()
        self._signing = SigningContext.from_env(os.environ if environ is None else environ)
        self._connections = threading.local()
        #: How many GETs the fast path answered (the tests and the benchmark read it).
        self.signed_gets = 0

    def full_client(self) -> Any:
        """boto3's client, created on first use."""
        with self._lock:
            if self._full is None:
                self._full = self._create_full()
            return self._full

    def __getattr__(self, name: str) -> Any:
        return getattr(self.full_client(), name)

    def get_object(self, **request: Any) -> dict[str, Any]:
        """``GetObject`` of ``Bucket`` and ``Key``, as boto3 answers it (Body, ETag, ...)."""
        if self._full is None and self._signing is not None and set(request) == {"Bucket", "Key"}:
            answer = self._signed_get(str(request["Bucket"]), str(request["Key"]))
            if answer is not None:
                self.signed_gets += 1
                return answer
        return dict(self.full_client().get_object(**request))

    def _signed_get(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The object, or None for anything but a complete 200 (boto3 then asks again).

        A kept-alive connection the server has closed meanwhile is opened again once.
        """
        assert self._signing is not None
        scheme, host, path = self._signing.url(bucket, key)
        for attempt in (1, 2):
            connection, reused = self._connection(scheme, host)
            try:
                headers = self._signing.headers(host, path, time.time())
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                if reused and attempt == 1 and isinstance(exc, _CLOSED_BY_SERVER):
                    continue
                logger.info("signed GET of %s failed (%s): boto3 from now on", key, exc)
                return None
            if response.status != 200:
                self._drop_connection()
                logger.info("signed GET of %s: HTTP %s, boto3 from now on", key, response.status)
                return None
            break
        else:
            return None
        answer: dict[str, Any] = {
            "Body": io.BytesIO(body),
            "ContentLength": len(body),
            "ETag": response.getheader("ETag", ""),
            "ContentType": response.getheader("Content-Type", "binary/octet-stream"),
        }
        version = response.getheader("x-amz-version-id")
        if version:
            answer["VersionId"] = version
        return answer

    def _connection(self, scheme: str, host: str) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's kept-alive connection to ``host``, and whether it was used before."""
        kept = getattr(self._connections, "kept", None)
        if kept is not None and kept[0] == (scheme, host):
            return kept[1], True
        self._drop_connection()
        connection: http.client.HTTPConnection
        if scheme == "https":
            assert self._signing is not None
            trusted = ssl.create_default_context(cafile=self._signing.ca_bundle)
            connection = http.client.HTTPSConnection(host, timeout=TIMEOUT_SECONDS, context=trusted)
        else:
            connection = http.client.HTTPConnection(host, timeout=TIMEOUT_SECONDS)
        self._connections.kept = ((scheme, host), connection)
        return connection, False

    def _drop_connection(self) -> None:
        kept = getattr(self._connections, "kept", None)
        if kept is not None:
            kept[1].close()
            self._connections.kept = None
