"""`make deploy`, `make destroy`: the steps that run without AWS, and their refusals."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra import deploy, destroy


def _code(i: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    return {i}\n")
    return buffer.getvalue()


def test_without_credentials_deploy_stops_at_its_aws_step_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".aws-sam" / "build").mkdir(parents=True)
    (tmp_path / ".aws-sam" / "build" / "template.yaml").write_text("Resources: {}\n")
    monkeypatch.setattr(deploy, "ROOT", tmp_path)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert deploy.main(["--stack", "rehearsal", "--skip-build", "--region", "eu-west-1"]) == 1
    out, err = capsys.readouterr()
    assert "deploy: build: kept the build in .aws-sam/build" in out
    assert "deploy: step 2 (AWS credentials) failed: no AWS credentials: configure them" in err
    assert "deploy: steps done before it: build" in err
    assert "Traceback" not in out + err


def test_a_model_without_a_sample_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as usage:
        deploy.main(["--model", "model.joblib"])
    assert usage.value.code == 2
    assert "--model needs --sample" in capsys.readouterr().err


def test_old_function_versions_go_but_the_aliased_one_and_the_one_before_stay() -> None:
    with mock_aws():
        client = boto3.client("lambda", region_name="us-east-1")
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="r", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        client.create_function(
            FunctionName="realtime", Runtime="python3.13", Role=role, Handler="app.handler",
            Code={"ZipFile": _code(0)},
        )  # fmt: skip
        for i in range(1, 6):  # five deployments: versions 1..5
            client.update_function_code(FunctionName="realtime", ZipFile=_code(i))
            client.publish_version(FunctionName="realtime")
        client.create_alias(FunctionName="realtime", Name="live", FunctionVersion="5")
        client.create_alias(FunctionName="realtime", Name="canary", FunctionVersion="2")
        assert deploy.prune_versions(client, "realtime") == ["1", "3"]
        left = client.list_versions_by_function(FunctionName="realtime")["Versions"]
        assert [v["Version"] for v in left] == ["$LATEST", "2", "4", "5"]
        assert deploy.prune_versions(client, "realtime") == []  # nothing more to delete


def test_destroy_purges_every_version_of_a_kept_bucket(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        s3: Any = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="kept-data")
        s3.put_bucket_versioning(Bucket="kept-data", VersioningConfiguration={"Status": "Enabled"})
        for body in (b"1", b"2"):
            s3.put_object(Bucket="kept-data", Key="reports/a.json", Body=body)
        s3.delete_object(Bucket="kept-data", Key="reports/a.json")  # a delete marker
        assert destroy.main(["--purge-bucket", "kept-data", "--region", "us-east-1"]) == 0
        assert "purged s3://kept-data (3 object versions)" in capsys.readouterr().out
        assert "kept-data" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
