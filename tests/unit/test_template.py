"""The SAM template, expanded by samtranslator, grants what the design says and no more."""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from infra.cfn_yaml import load_template
from predictor import batch_keys as batch_layout
from predictor.monitoring.feedback import NOT_FEATURES
from predictor.monitoring.layout import (
    CAPTURE,
    JOINED,
    KEPT,
    LABEL_REPORTS,
    LABELS,
    PROFILES,
    REPORTS,
    THRESHOLDS,
)
from predictor.settings import MODEL_PREFIX
from tests.helpers import ROOT

SERVING_FORBIDDEN = (
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
    "s3:PutObjectAcl",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucket",
    "s3:*",
)


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def expanded(source: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation that SAM produces, as `sam package` would feed it."""
    template = copy.deepcopy(source)
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if "CodeUri" in properties:
            properties["CodeUri"] = f"s3://artifacts/{name}.zip"
        if "DefinitionUri" in properties:
            properties["DefinitionUri"] = f"s3://artifacts/{name}.asl.json"
        if properties.get("PackageType") == "Image":
            properties["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/training:1"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # SAM fills AWS::Region from it
        return dict(transform(template, {}, _NoManagedPolicies()))


def role_statements(expanded: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """The role's statements; a conditional one (``Fn::If``) as granted when it holds."""
    role = expanded["Resources"][f"{function}Role"]["Properties"]
    statements = []
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                _, statement, otherwise = statement["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
            statements.append(statement)
    return statements


def actions(statement: dict[str, Any]) -> list[str]:
    value = statement["Action"]
    return [value] if isinstance(value, str) else list(value)


def resources(statement: dict[str, Any]) -> str:
    return json.dumps(statement["Resource"])


def s3_grants(expanded: dict[str, Any], function: str) -> dict[str, set[str]]:
    """S3 action -> the resources (as JSON text) it is granted on."""
    grants: dict[str, set[str]] = {}
    for statement in role_statements(expanded, function):
        assert statement["Effect"] == "Allow"
        for action in actions(statement):
            if action.startswith("s3:"):
                grants.setdefault(action, set()).add(resources(statement))
    return grants


@pytest.mark.parametrize(
    "function",
    ["RealtimeFunction", "BatchFunction", "FanOutControlFunction", "FanOutRangeFunction"],
)
def test_serving_roles_cannot_delete_versions_or_change_acls(
    expanded: dict[str, Any], function: str
) -> None:
    for statement in role_statements(expanded, function):
        for action in actions(statement):
            assert not action.startswith(SERVING_FORBIDDEN), (function, action)
    managed = json.dumps(expanded["Resources"][f"{function}Role"]["Properties"])
    assert "AmazonS3" not in managed  # no bucket-wide managed S3 policy


def test_realtime_reads_only_models_and_writes_only_monitoring_captures(
    expanded: dict[str, Any],
) -> None:
    grants = s3_grants(expanded, "RealtimeFunction")
    assert set(grants) == {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}  # no delete
    written = [json.loads(r) for r in grants["s3:PutObject"]]
    assert sorted(json.dumps(r) for r in written) == sorted(
        [
            json.dumps([{"Fn::Sub": f"${{DataBucket.Arn}}/{PROFILES}*"},
                        {"Fn::Sub": f"${{DataBucket.Arn}}/{CAPTURE}*"}]),
            json.dumps({"Fn::Sub": f"${{DataBucket.Arn}}/{KEPT}*"}),
        ]
    )  # fmt: skip
    # The models, and (for the try-it page's link) the latest drift reports.
    assert sorted(grants["s3:GetObject"]) == sorted(
        [
            json.dumps({"Fn::Sub": f"${{ModelBucket.Arn}}/{MODEL_PREFIX}/*"}),
            json.dumps({"Fn::Sub": f"${{DataBucket.Arn}}/{REPORTS}*"}),
        ]
    )
    listings = [
        s for s in role_statements(expanded, "RealtimeFunction") if actions(s) == ["s3:ListBucket"]
    ]
    assert sorted(json.dumps(s["Condition"]) for s in listings) == sorted(
        json.dumps({"StringLike": {"s3:prefix": prefix}})
        for prefix in (f"{MODEL_PREFIX}/*", f"{REPORTS}*")
    )


def test_batch_reads_models_and_inputs_and_writes_only_its_prefixes(
    expanded: dict[str, Any],
) -> None:
    grants = s3_grants(expanded, "BatchFunction")
    assert set(grants) == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
    }
    (versions,) = grants["s3:GetObjectVersion"]
    assert f"/{batch_layout.INCOMING}*" in versions
    assert "ModelBucket" not in versions
    (deletes,) = grants["s3:DeleteObject"]
    assert [r["Fn::Sub"].split("}/", 1)[1] for r in json.loads(deletes)] == [
        f"{batch_layout.PREDICTIONS}*",
        f"{batch_layout.ERRORS}*",
        f"{batch_layout.REPORTS}*.lease",
    ]
    reads = " ".join(grants["s3:GetObject"])
    assert f"/{MODEL_PREFIX}/*" in reads
    assert f"/{batch_layout.INCOMING}*" in reads
    assert f"/{batch_layout.REPORTS}*" in reads
    outputs = [batch_layout.PREDICTIONS, batch_layout.ERRORS, batch_layout.REPORTS]
    assert _prefixes(grants["s3:PutObject"]) == sorted(
        [*(o + "*" for o in outputs), f"{PROFILES}*"]
    )
    assert _prefixes(grants["s3:AbortMultipartUpload"]) == sorted(o + "*" for o in outputs)
    for action in ("s3:PutObject", "s3:AbortMultipartUpload"):
        assert "ModelBucket" not in " ".join(grants[action])
        assert batch_layout.INCOMING not in " ".join(grants[action])


def test_only_the_training_job_writes_models(expanded: dict[str, Any]) -> None:
    writers = []
    for name, resource in expanded["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if "Fn::If" in statement:
                    statement = statement["Fn::If"][1]
                if "s3:PutObject" in actions(statement) and "ModelBucket" in resources(statement):
                    writers.append(name)
    assert writers == ["TrainingFunctionRole"]


def test_realtime_concurrency_is_reserved_unless_turned_off(source: dict[str, Any]) -> None:
    parameter = source["Parameters"]["RealtimeReservedConcurrency"]
    assert parameter["Default"] > 0
    function = source["Resources"]["RealtimeFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "ReservesRealtimeConcurrency",
            {"Ref": "RealtimeReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }


@pytest.mark.parametrize("bucket", ["ModelBucket", "DataBucket"])
def test_buckets_are_private_encrypted_versioned_and_tls_only(
    expanded: dict[str, Any], bucket: str
) -> None:
    resources_ = expanded["Resources"]
    properties = resources_[bucket]["Properties"]
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    policy = resources_[f"{bucket}Policy"]["Properties"]["PolicyDocument"]["Statement"]
    deny = next(s for s in policy if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Action"] == "s3:*"


@pytest.mark.parametrize("bucket", ["ModelBucket", "DataBucket"])
def test_buckets_outlive_the_stack_and_a_replacement(expanded: dict[str, Any], bucket: str) -> None:
    """Deleting the stack, or an update that would replace a bucket, keeps every model,
    alias, report and scored file (make destroy lists what it kept)."""
    resource = expanded["Resources"][bucket]
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


def test_sam_build_from_the_repository_root_builds_in_source() -> None:
    """The README's plain `sam build`: functions/Makefile finds ../infra and the locks only
    when built in place, so samconfig.toml asks for it (as `make build` does)."""
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["default"]["build"]["parameters"]["build_in_source"] is True


def app_routes() -> set[str]:
    """The routes the realtime handler answers, as API Gateway route keys: the one route
    table (realtime.routes), which must be what powertools registered. The template must
    declare each one, or API Gateway would refuse it before the function.
    """
    from realtime.routed import app
    from realtime.routes import TABLE

    declared = {route.key for route in TABLE}
    registered = {re.sub(r"<(\w+)>", r"{\1}", key.replace("/", " /", 1)) for key in app._route_keys}
    assert declared == registered
    return declared


def test_every_reference_in_the_openapi_document_resolves() -> None:
    """A route's operation may name a shared schema only if the document declares it."""
    from realtime.openapi import document
    from realtime.routed import app  # noqa: F401 (it imports every route group)

    found = document()
    text = json.dumps(found)
    names = set(re.findall(r'"#/components/schemas/([^"]+)"', text))
    assert names
    assert names <= set(found["components"]["schemas"]), names - set(found["components"]["schemas"])


def test_api_requires_iam_unless_the_demo_parameter_opens_it(
    expanded: dict[str, Any], source: dict[str, Any]
) -> None:
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]["AuthorizationType"]
        for r in expanded["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }
    assert set(routes) == app_routes()
    for auth in routes.values():
        assert auth == {"Fn::If": ["OpenApi", "NONE", "AWS_IAM"]}
    assert source["Conditions"]["OpenApi"] == {"Fn::Equals": [{"Ref": "ApiAuth"}, "NONE"]}
    assert source["Parameters"]["ApiAuth"]["Default"] == "IAM"


def test_incoming_notifications_feed_the_batch_function(expanded: dict[str, Any]) -> None:
    resources_ = expanded["Resources"]
    queue = resources_["DataBucket"]["Properties"]["NotificationConfiguration"][
        "QueueConfigurations"
    ][0]
    assert queue["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": batch_layout.INCOMING}]
    mapping = next(r for r in resources_.values() if r["Type"] == "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    redrive = resources_["IncomingQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    for name in ("RealtimeFunction", "BatchFunction"):
        assert resources_[name]["Properties"]["Runtime"] == "python3.13"


def test_every_setting_the_functions_read_is_wired_by_the_template(source: dict[str, Any]) -> None:
    """Each variable Settings reads is set by the template (globally or per function)."""
    from predictor.settings import Settings

    resources = source["Resources"]
    global_variables = set(source["Globals"]["Function"]["Environment"]["Variables"])
    for function, expected_threads in (("RealtimeFunction", "1"), ("BatchFunction", "0")):
        own = resources[function]["Properties"]["Environment"]["Variables"]
        wired = global_variables | set(own)
        needed = {"MODEL_BUCKET", "MODEL_NAME", "MODEL_ALIAS", "ALIAS_RECHECK_SECONDS"}
        needed |= {"INFERENCE_THREADS", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
        assert needed <= wired, (function, needed - wired)
        assert own["INFERENCE_THREADS"] == expected_threads
        assert own["POWERTOOLS_SERVICE_NAME"] == function.removesuffix("Function").lower()
    known = {variable.name for variable in Settings.variables()}
    assert {"MODEL_BUCKET", "MODEL_NAME", "INFERENCE_THREADS", "BATCH_CHUNK_ROWS"} <= known


def test_serving_functions_run_one_openblas_thread_and_training_every_core(
    source: dict[str, Any],
) -> None:
    """numpy's OpenBLAS threads spin for CPU a cold start needs (bench.cold_share): every
    zip function runs one; the training image, whose scikit-learn solvers use BLAS, all."""
    from infra.local_env import template_fixed_variables

    functions = [
        name for name, resource in source["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    ]  # fmt: skip
    assert "RealtimeFunction" in functions
    assert "TrainingFunction" in functions
    for name in functions:
        threads = template_fixed_variables(name)["OPENBLAS_NUM_THREADS"]
        image = source["Resources"][name]["Properties"].get("PackageType") == "Image"
        assert threads == ("0" if image else "1"), name


def test_the_data_bucket_expires_earlier_versions_and_lone_delete_markers(
    source: dict[str, Any],
) -> None:
    rules = source["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (expiry,) = [r for r in rules if "NoncurrentVersionExpiration" in r]
    assert expiry["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "DataVersionRetentionDays"}
    }
    assert expiry["ExpiredObjectDeleteMarker"] is True
    assert source["Parameters"]["DataVersionRetentionDays"]["Default"] == 30


def test_snapstart_runs_published_versions_behind_the_alias(expanded: dict[str, Any]) -> None:
    resources = expanded["Resources"]
    for function in ("RealtimeFunction", "BatchFunction"):
        properties = resources[function]["Properties"]
        assert properties["SnapStart"] == {
            "ApplyOn": {"Fn::If": ["UsesSnapStart", "PublishedVersions", "None"]}
        }
        assert resources[f"{function}Aliaslive"]["Type"] == "AWS::Lambda::Alias"
    alias = {"Ref": "RealtimeFunctionAliaslive"}
    assert resources["RealtimeIntegration"]["Properties"]["IntegrationUri"] == alias
    assert resources["RealtimeInvokePermission"]["Properties"]["FunctionName"] == alias
    (mapping,) = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mapping["Properties"]["FunctionName"] == {"Ref": "BatchFunctionAliaslive"}
    assert expanded["Parameters"]["SnapStart"]["AllowedValues"] == ["Enabled", "Disabled"]


def test_one_front_door_or_the_other(expanded: dict[str, Any]) -> None:
    """FrontDoor=HttpApi keeps the HTTP API; FunctionUrl a signed Function URL on the alias."""
    resources, conditions = expanded["Resources"], expanded["Conditions"]
    assert conditions["UsesHttpApi"] == {"Fn::Equals": [{"Ref": "FrontDoor"}, "HttpApi"]}
    assert conditions["UsesFunctionUrl"] == {"Fn::Equals": [{"Ref": "FrontDoor"}, "FunctionUrl"]}
    http_api = [
        name
        for name, resource in resources.items()
        if resource["Type"].startswith("AWS::ApiGatewayV2::") or name == "RealtimeInvokePermission"
    ]
    # the API, its stage, integration, one route per operation and the permission
    assert len(http_api) == 4 + len(app_routes())
    assert all(resources[name]["Condition"] == "UsesHttpApi" for name in http_api)
    url = resources["RealtimeFunctionUrl"]
    assert url["Condition"] == "UsesFunctionUrl"
    assert url["Properties"] == {
        "TargetFunctionArn": {"Ref": "RealtimeFunctionAliaslive"},
        "AuthType": "AWS_IAM",
    }
    assert expanded["Outputs"]["FunctionUrl"]["Condition"] == "UsesFunctionUrl"
    assert expanded["Outputs"]["ApiUrl"]["Condition"] == "UsesHttpApi"


def test_the_serving_functions_take_the_architecture_parameter(source: dict[str, Any]) -> None:
    resources = source["Resources"]
    assert source["Parameters"]["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]
    for function in ("RealtimeFunction", "BatchFunction"):
        architectures = resources[function]["Properties"]["Architectures"]
        assert architectures == [{"Ref": "Architecture"}]
    assert resources["TrainingFunction"]["Properties"]["Architectures"] == ["x86_64"]


@pytest.mark.parametrize(("arch", "wheels"), [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_the_build_fetches_wheels_for_the_architecture(arch: str, wheels: str) -> None:
    import shutil
    import subprocess

    make = shutil.which("make")
    assert make is not None
    planned = subprocess.run(
        [make, "-n", "-C", str(ROOT / "functions"), "build-RealtimeFunction"],
        env={**os.environ, "ARCH": arch, "ARTIFACTS_DIR": "/nonexistent", "PYTHON": "python3"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"--platform manylinux2014_{wheels} --platform manylinux_2_28_{wheels}" in planned
    assert "--require-hashes" in planned


# ----- the batch state machine ---------------------------------------------------------
def _prefixes(statement_resources: set[str]) -> list[str]:
    """The data bucket prefixes (``runs/``) of S3 object grants, sorted."""
    found = []
    for text in statement_resources:
        value = json.loads(text)
        for resource in value if isinstance(value, list) else [value]:
            arn = (
                resource["Fn::Sub"] if isinstance(resource, dict) and "Fn::Sub" in resource else ""
            )
            if "-data-" in arn:
                found.append(arn.split("}/", 1)[1])
    return sorted(found)


def test_the_state_machine_may_only_invoke_its_two_functions_and_run_its_map(
    expanded: dict[str, Any],
) -> None:
    machine = expanded["Resources"]["BatchFanOutStateMachine"]
    role = expanded["Resources"][machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]]
    statements = [
        s
        for policy in role["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
    ]
    granted = {(action, resources(s)) for s in statements for action in actions(s)}
    invoked = {r for a, r in granted if a == "lambda:InvokeFunction"}
    assert all("FanOutControlFunction" in r or "FanOutRangeFunction" in r for r in invoked)
    assert any("FanOutControlFunction" in r for r in invoked)
    assert any("FanOutRangeFunction" in r for r in invoked)
    assert {a for a, _ in granted} == {
        "lambda:InvokeFunction",
        "states:StartExecution",
        "states:DescribeExecution",
        "states:StopExecution",
    }
    (own,) = {r for a, r in granted if a == "states:StartExecution"}
    assert own.endswith('stateMachine:${AWS::StackName}-batch-fan-out"}')
    for action in ("states:DescribeExecution", "states:StopExecution"):
        (executions,) = {r for a, r in granted if a == action}
        assert executions.endswith('execution:${AWS::StackName}-batch-fan-out/*"}')


def test_the_batch_function_may_start_only_the_state_machine(expanded: dict[str, Any]) -> None:
    starts = [s for s in role_statements(expanded, "BatchFunction") if "states" in actions(s)[0]]
    assert [actions(s) for s in starts] == [["states:StartExecution"]]
    assert resources(starts[0]).endswith('stateMachine:${AWS::StackName}-batch-fan-out"}')
    machine = expanded["Resources"]["BatchFanOutStateMachine"]["Properties"]
    assert machine["StateMachineName"] == {"Fn::Sub": "${AWS::StackName}-batch-fan-out"}


def test_a_range_worker_writes_only_run_parts_and_progress(expanded: dict[str, Any]) -> None:
    grants = s3_grants(expanded, "FanOutRangeFunction")
    assert set(grants) == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
    }
    assert _prefixes(grants["s3:PutObject"]) == [
        f"{batch_layout.REPORTS}*",
        f"{batch_layout.RUNS}*",
    ]
    assert _prefixes(grants["s3:AbortMultipartUpload"]) == [f"{batch_layout.RUNS}*"]
    assert _prefixes(grants["s3:GetObjectVersion"]) == [f"{batch_layout.INCOMING}*"]


def test_the_control_function_assembles_outputs_but_never_writes_inputs_or_models(
    expanded: dict[str, Any],
) -> None:
    grants = s3_grants(expanded, "FanOutControlFunction")
    assert "s3:GetObjectVersion" in grants
    assert "s3:ListBucketMultipartUploads" in grants
    outputs = [
        f"{batch_layout.ERRORS}*",
        f"{batch_layout.PREDICTIONS}*",
        f"{batch_layout.REPORTS}*",
        f"{batch_layout.RUNS}*",
    ]
    assert _prefixes(grants["s3:PutObject"]) == sorted([*outputs, f"{PROFILES}*"])
    assert _prefixes(grants["s3:DeleteObject"]) == sorted(outputs)
    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert "ModelBucket" not in " ".join(grants[action])
        assert batch_layout.INCOMING not in " ".join(grants[action])


def test_the_definition_retries_ranges_and_aborts_on_any_failure(source: dict[str, Any]) -> None:
    machine = source["Resources"]["BatchFanOutStateMachine"]["Properties"]
    states = json.loads((ROOT / machine["DefinitionUri"]).read_text())["States"]
    score = states["ScoreRanges"]
    assert score["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert score["MaxConcurrencyPath"] == "$.max_concurrency"
    (retry,) = score["ItemProcessor"]["States"]["ScoreRange"]["Retry"]
    assert retry["MaxAttempts"] >= 2
    assert retry["BackoffRate"] > 1
    for name in ("Plan", "ScoreRanges", "Check", "Finalize"):
        assert [c["Next"] for c in states[name]["Catch"]] == ["Abort"], name
    assert states["Abort"]["Next"] == "Failed"
    batch = source["Resources"]["BatchFunction"]["Properties"]["Environment"]["Variables"]
    assert batch["FAN_OUT_MAX_CONCURRENCY"] == {"Ref": "FanOutMaxConcurrency"}
    assert batch["FAN_OUT_STATE_MACHINE_ARN"] == {"Ref": "BatchFanOutStateMachine"}


# ----- monitoring ------------------------------------------------------------------------
def test_the_monitor_reads_profiles_and_baselines_and_writes_only_reports(
    expanded: dict[str, Any],
) -> None:
    """Least privilege: list and read profiles, earlier reports, kept predictions, joined
    rows, labels and the batch outputs labels name (with their run reports); read each
    version's manifest and baseline (no model artifact); write
    reports, joined rows and label reports, never the labels or kept predictions; no
    delete, no other prefix, no CloudWatch API (its metrics are log lines in EMF).
    """
    statements = role_statements(expanded, "MonitorFunction")
    assert {a for s in statements for a in actions(s)} == {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
    }
    grants = s3_grants(expanded, "MonitorFunction")
    (written,) = grants["s3:PutObject"]
    assert sorted(r["Fn::Sub"] for r in json.loads(written)) == sorted(
        f"${{DataBucket.Arn}}/{prefix}*" for prefix in (REPORTS, JOINED, LABEL_REPORTS)
    )
    reads = sorted(
        r["Fn::Sub"] for text in grants["s3:GetObject"] for r in _as_list(json.loads(text))
    )
    assert reads == sorted(
        [
            *(f"${{DataBucket.Arn}}/{p}*" for p in (REPORTS, KEPT, JOINED, LABELS)),
            *(f"${{DataBucket.Arn}}/{p}" for p in BATCH_OUTPUTS),
            f"${{DataBucket.Arn}}/{PROFILES}*",
            f"${{DataBucket.Arn}}/{THRESHOLDS}*",
            f"${{ModelBucket.Arn}}/{MODEL_PREFIX}/*/constraints.json",
            f"${{ModelBucket.Arn}}/{MODEL_PREFIX}/*/manifest.json",
            f"${{ModelBucket.Arn}}/{MODEL_PREFIX}/*/statistics.json",
        ]
    )
    conditions = sorted(
        prefix
        for s in statements
        if actions(s) == ["s3:ListBucket"]
        for prefix in _as_list(s["Condition"]["StringLike"]["s3:prefix"])
    )
    assert conditions == sorted(
        [f"{MODEL_PREFIX}/*", *(f"{p}*" for p in (PROFILES, THRESHOLDS, REPORTS, KEPT, JOINED,
                                                   LABEL_REPORTS, LABELS)), *BATCH_OUTPUTS]
    )  # fmt: skip


#: What the monitor reads of the batch runs: the outputs whose rows labels name.
BATCH_OUTPUTS = (batch_layout.PREDICTIONS + "*", batch_layout.REPORTS + "*")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_monitor_runs_on_a_schedule_and_its_metric_has_an_alarm(
    expanded: dict[str, Any],
) -> None:
    resources = expanded["Resources"]
    (schedule,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Scheduler::Schedule" and "Condition" not in r  # not retraining
    ]
    properties = schedule["Properties"]
    assert properties["ScheduleExpression"] == {"Fn::Sub": "rate(${MonitorPeriodMinutes} minutes)"}
    assert properties["Target"]["Arn"] == {"Fn::GetAtt": ["MonitorFunction", "Arn"]}
    alarm = resources["DriftAlarm"]["Properties"]
    assert alarm["MetricName"] == "DriftedFeatures"
    assert alarm["Namespace"] == "ServerlessPredictor"
    assert alarm["Dimensions"] == [
        {"Name": "Model", "Value": {"Ref": "ModelName"}},
        {"Name": "service", "Value": "monitor"},
    ]
    assert alarm["Threshold"] == {"Ref": "DriftAlarmFeatures"}
    monitor = resources["MonitorFunction"]["Properties"]["Environment"]["Variables"]
    assert monitor["POWERTOOLS_SERVICE_NAME"] == "monitor"  # the alarm's service dimension
    # The scheduler's role may invoke the monitor and nothing else.
    role = next(
        r for name, r in resources.items() if r["Type"] == "AWS::IAM::Role" and "Every" in name
    )
    (statement,) = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert actions(statement) == ["lambda:InvokeFunction"]
    assert "MonitorFunction" in json.dumps(statement["Resource"])


def test_capture_is_wired_to_the_data_bucket_and_can_be_turned_off(
    source: dict[str, Any],
) -> None:
    resources = source["Resources"]
    for function in (
        "RealtimeFunction",
        "BatchFunction",
        "FanOutControlFunction",
        "FanOutRangeFunction",
    ):
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        bucket = variables["CAPTURE_BUCKET"]
        assert bucket["Fn::If"][0] == "Captures"
        assert bucket["Fn::If"][2] == ""
    realtime = resources["RealtimeFunction"]["Properties"]["Environment"]["Variables"]
    assert realtime["CAPTURE_SAMPLE_PERCENT"] == {"Ref": "CaptureSamplePercent"}
    assert source["Parameters"]["CaptureSamplePercent"]["Default"] == 0


def test_retraining_is_off_by_default_and_gated(source: dict[str, Any]) -> None:
    assert source["Parameters"]["RetrainSchedule"]["Default"] == ""
    schedule = source["Resources"]["RetrainingSchedule"]
    assert schedule["Condition"] == "Retrains"
    target = schedule["Properties"]["Target"]
    for job in target["Input"]["Fn::If"][1:]:
        assert '"require_improvement": true' in job["Fn::Sub"]
    role = source["Resources"]["RetrainingScheduleRole"]
    (statement,) = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"] == {"Fn::GetAtt": ["TrainingFunction", "Arn"]}


def test_retraining_learns_from_feedback_and_can_start_when_quality_drops(
    source: dict[str, Any], expanded: dict[str, Any]
) -> None:
    assert source["Parameters"]["RetrainOnQualityDrop"]["Default"] == "Disabled"
    rule = source["Resources"]["RetrainingOnQualityDrop"]
    assert rule["Condition"] == "RetrainsOnQualityDrop"
    assert source["Conditions"]["RetrainsOnQualityDrop"]["Fn::And"][0] == {
        "Condition": "KeepsPredictions"
    }
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["resources"] == [{"Fn::GetAtt": ["QualityAlarm", "Arn"]}]
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}
    (target,) = rule["Properties"]["Targets"]
    schedule = source["Resources"]["RetrainingSchedule"]["Properties"]["Target"]
    # Both starts send the same job: the joined rows (RetrainData: Feedback) or the prefix.
    assert target["Input"] == schedule["Input"]
    condition, feedback, prefix = target["Input"]["Fn::If"]
    assert condition == "RetrainsOnFeedback"
    job = json.loads(re.sub(r"\$\{(\w+)\}", r"<\1>", feedback["Fn::Sub"]))
    assert job["data"] == "s3://<DataBucket>/monitoring/joined/<ModelName>/"
    assert job["drop"] == list(NOT_FEATURES)
    assert job["require_improvement"] is True
    assert "monitoring/joined" not in prefix["Fn::Sub"]
    permission = source["Resources"]["RetrainingOnQualityDropPermission"]["Properties"]
    assert permission["SourceArn"] == {"Fn::GetAtt": ["RetrainingOnQualityDrop", "Arn"]}
    reads = s3_grants(expanded, "TrainingFunction")["s3:GetObject"]
    assert any(JOINED + "*" in grant for grant in reads)


def test_monitoring_objects_expire_but_thresholds_and_retraining_records_stay(
    source: dict[str, Any],
) -> None:
    rules = source["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {r["Prefix"]: r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r}
    capture = {"Ref": "CaptureRetentionDays"}
    assert expiring == {
        PROFILES: capture, CAPTURE: capture, REPORTS: capture, JOINED: capture,
        # Labels and the reports that mark them read go together (labels first).
        LABELS: capture, LABEL_REPORTS: capture,
        # Kept predictions wait for their labels as long as the stack says, no longer.
        KEPT: {"Ref": "FeedbackRetentionDays"},
    }  # fmt: skip
