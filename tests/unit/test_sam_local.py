"""What `make sam-local` relies on, checked without Docker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from infra import lambda_image, sam_local
from infra.api_checks import requests_from_events
from infra.cfn_yaml import load_template
from tests.helpers import EVENTS, ROOT


def test_the_template_declares_an_endpoint_variable_that_aws_ignores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variables = load_template(ROOT / "template.yaml")["Globals"]["Function"]["Environment"]
    assert variables["Variables"]["AWS_ENDPOINT_URL"] == ""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")  # as deployed: boto3 uses AWS's endpoint
    client = boto3.client("s3", region_name="us-east-1")
    assert client.meta.endpoint_url == "https://s3.amazonaws.com"


def test_the_local_template_names_the_function_as_sam_local_resolves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: dict[str, Any] = {
        "Resources": {
            "RealtimeIntegration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {"IntegrationUri": {"Ref": "RealtimeFunction.Alias"}},
            },
            "RealtimeFunction": {"Type": "AWS::Serverless::Function", "Properties": {}},
        }
    }
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(built))
    monkeypatch.setattr(sam_local, "BUILT", tmp_path)
    monkeypatch.setattr(sam_local, "LOCAL_TEMPLATE", tmp_path / "local.yaml")
    local = yaml.safe_load(sam_local.write_local_template().read_text())
    uri = local["Resources"]["RealtimeIntegration"]["Properties"]["IntegrationUri"]
    assert uri == {"Fn::GetAtt": ["RealtimeFunction", "Arn"]}
    assert local["Resources"]["RealtimeFunction"] == built["Resources"]["RealtimeFunction"]


def test_the_api_checks_send_every_realtime_http_api_event() -> None:
    sent = {request.name for request in requests_from_events()}
    realtime = {p.name for p in EVENTS.glob("realtime_*.json")}
    assert sent == realtime - {"realtime_function_url_predict.json"}


@pytest.mark.parametrize(
    ("files", "mirror"),
    [
        (
            {"sources.list.d/debian.sources": "Types: deb\nURIs: http://m.example/debian\n"},
            "http://m.example/debian",
        ),
        (
            {"sources.list": "deb http://n.example/debian bookworm main\n"},
            "http://n.example/debian",
        ),
    ],
)
def test_the_stand_in_uses_the_mirror_apt_is_configured_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], mirror: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(lambda_image, "APT_SOURCES", tmp_path)
    assert lambda_image.debian_mirror() == mirror


def test_docker_missing_is_reported_not_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(lambda_image.DockerUnavailable, match="docker"):
        lambda_image.docker_ready()
