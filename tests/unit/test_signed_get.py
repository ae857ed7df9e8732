"""The cold start's S3 reads: signed as botocore signs them, taken only where safe."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from predictor.io.signed_get import EMPTY_SHA256, SigningContext

LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "realtime",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjEXAMPLE//token+with/slashes=",
    "AWS_REGION": "eu-west-1",
}


def botocore_signature(
    context: SigningContext, host: str, path: str, headers: dict[str, str]
) -> str:
    """botocore's own S3 signature of the same GET (its scheme does not enter it)."""
    request = AWSRequest(
        method="GET",
        url=f"https://{host}{path}",
        headers={k: v for k, v in headers.items() if k != "authorization"},
    )
    request.context["timestamp"] = headers["x-amz-date"]
    credentials = ReadOnlyCredentials(context.access_key, context.secret_key, context.session_token)
    auth = S3SigV4Auth(credentials, "s3", context.region)
    return str(
        auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    )


@pytest.mark.parametrize("token", [True, False])
@pytest.mark.parametrize(
    "key",
    [
        "models/wine/20261207T053952.238Z-e98bef/model.onnx",
        "models/a b/ü+=&?#%.json",
        "~tilde/(paren)/*star*/semi;colon",
    ],
)
@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:5000"])
def test_the_signature_is_botocores(token: bool, key: str, endpoint: str | None) -> None:
    environ = {**LAMBDA_ENV, **({"AWS_ENDPOINT_URL": endpoint} if endpoint else {})}
    if not token:
        environ.pop("AWS_SESSION_TOKEN")
    context = SigningContext.from_env(environ)
    assert context is not None
    _, host, path = context.url("model-bucket", key)
    headers = context.headers(host, path, 1_796_622_056.0)
    assert headers["x-amz-content-sha256"] == EMPTY_SHA256
    assert headers["x-amz-date"] == "20261207T054056Z"
    assert ("x-amz-security-token" in headers) is token
    expected = botocore_signature(context, host, path, headers)
    assert headers["authorization"].endswith(f"Signature={expected}")
    signed = "host;x-amz-content-sha256;x-amz-date" + (";x-amz-security-token" if token else "")
    assert f"SignedHeaders={signed}," in headers["authorization"]
    assert "Credential=AKIDEXAMPLE/20261207/eu-west-1/s3/aws4_request," in headers["authorization"]


def test_a_tampered_request_does_not_verify() -> None:
    context = SigningContext.from_env(LAMBDA_ENV)
    assert context is not None
    _, host, path = context.url("model-bucket", "models/wine/v1/model.onnx")
    headers = context.headers(host, path, 1_796_622_056.0)
    other = botocore_signature(context, host, path.replace("v1", "v2"), headers)
    assert not headers["authorization"].endswith(f"Signature={other}")


AWS = "amazonaws.com"
LOCAL = "127.0.0.1:5000"


@pytest.mark.parametrize(
    ("bucket", "region", "endpoint", "expected"),
    [
        ("models", "eu-west-1", None, ("https", f"models.s3.eu-west-1.{AWS}", "/k/a%20b")),
        ("my.models", "us-east-1", None, ("https", f"s3.us-east-1.{AWS}", "/my.models/k/a%20b")),
        ("models", "cn-north-1", None, ("https", f"models.s3.cn-north-1.{AWS}.cn", "/k/a%20b")),
        ("models", "eu-west-1", "http://127.0.0.1:5000/", ("http", LOCAL, "/models/k/a%20b")),
        ("models", "eu-west-1", "https://s3.test/b", ("https", "s3.test", "/b/models/k/a%20b")),
    ],
)  # fmt: skip
def test_the_url_of_an_object(
    bucket: str, region: str, endpoint: str | None, expected: tuple[str, str, str]
) -> None:
    environ = {**LAMBDA_ENV, "AWS_REGION": region}
    if endpoint:
        environ["AWS_ENDPOINT_URL_S3"] = endpoint
    context = SigningContext.from_env(environ)
    assert context is not None
    scheme, host, path = expected
    assert context.url(bucket, "k/a b") == (
        scheme,
        host,
        path if "%20" in path else path + "/a%20b",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"AWS_LAMBDA_FUNCTION_NAME": None},  # not in Lambda: boto3's credential chain
        {"AWS_ACCESS_KEY_ID": None},  # SnapStart's container credentials, an instance role
        {"AWS_REGION": None},
        {"AWS_PROFILE": "dev"},
        {"AWS_CONFIG_FILE": "/tmp/config"},
        {"AWS_USE_FIPS_ENDPOINT": "true"},
        {"AWS_USE_DUALSTACK_ENDPOINT": "TRUE"},
        {"AWS_REGION": "eu-west-1/../x"},
        {"HTTPS_PROXY": "http://proxy:3128"},  # boto3 honours proxies, http.client does not
        {"AWS_REGION": "us-isob-east-1"},  # another partition's host names
        {"AWS_REGION": "eusc-de-east-1"},
    ],
)
def test_boto3_alone_where_its_configuration_could_differ(change: dict[str, Any]) -> None:
    environ = {**LAMBDA_ENV}
    for name, value in change.items():
        if value is None:
            environ.pop(name)
        else:
            environ[name] = value
    assert SigningContext.from_env(environ) is None


def test_the_region_and_endpoint_variables_botocore_reads() -> None:
    environ = {**LAMBDA_ENV, "AWS_DEFAULT_REGION": "us-west-2", "AWS_ENDPOINT_URL": "http://a:1"}
    environ.pop("AWS_REGION")
    context = SigningContext.from_env({**environ, "AWS_ENDPOINT_URL_S3": "http://b:2"})
    assert context is not None
    assert (context.region, context.endpoint) == ("us-west-2", "http://b:2")
    ignored = SigningContext.from_env({**environ, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"})
    assert ignored is not None
    assert ignored.endpoint is None
