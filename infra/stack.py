"""A deployed stack as the deploy, smoke, destroy and proxy commands read it: its outputs
and parameters, from CloudFormation, and whether AWS can be reached at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The stack outputs that name the realtime API (template.yaml).
URL_OUTPUTS = ("ApiUrl", "FunctionUrl")


class NoAwsError(Exception):
    """No AWS credentials, or AWS cannot be reached: the message says which, and what to do."""


@dataclass(frozen=True, slots=True)
class Stack:
    """A deployed stack: its name, region, outputs and parameters."""

    name: str
    region: str
    outputs: dict[str, str]
    parameters: dict[str, str]

    @property
    def api_url(self) -> str:
        """The realtime API's URL (API Gateway's, or the Function URL)."""
        for key in URL_OUTPUTS:
            if self.outputs.get(key):
                return self.outputs[key]
        raise ValueError(f"stack {self.name} has none of the outputs {', '.join(URL_OUTPUTS)}")

    @property
    def model_bucket(self) -> str:
        return self.outputs["ModelBucketName"]

    @property
    def data_bucket(self) -> str:
        return self.outputs["DataBucketName"]


def caller_identity(region: str | None = None) -> dict[str, Any]:
    """Who the AWS credentials are (STS); NoAwsError with what to do when there are none."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        # A session of its own: boto3's default one keeps whatever credentials it found first.
        sts = boto3.session.Session(region_name=region).client("sts")
        return dict(sts.get_caller_identity())
    except NoCredentialsError as exc:
        raise NoAwsError(
            "no AWS credentials: configure them (aws configure, aws sso login, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and run the command again"
        ) from exc
    except (BotoCoreError, ClientError) as exc:
        raise NoAwsError(f"AWS cannot be reached with these credentials: {exc}") from exc


def region_of(region: str | None) -> str:
    """The region to use: the one given, else the configured one; NoAwsError without any."""
    import boto3

    found = region or boto3.session.Session().region_name
    if not found:
        raise NoAwsError("no AWS region: pass REGION=... (or set AWS_REGION / aws configure)")
    return str(found)


def describe(name: str, region: str | None = None, cloudformation: Any = None) -> Stack | None:
    """The stack ``name`` as deployed now, or None when there is no such stack."""
    if cloudformation is None:
        import boto3

        cloudformation = boto3.client("cloudformation", region_name=region)
    try:
        (described,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except Exception as exc:
        # CloudFormation's only word for it: a ValidationError "Stack with id X does not exist".
        if "does not exist" in str(exc):
            return None
        raise
    client_region = getattr(getattr(cloudformation, "meta", None), "region_name", None)
    return Stack(
        name,
        str(region or client_region or ""),
        {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
        {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])},
    )
