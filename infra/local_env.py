"""One local AWS for ``make run``, ``make invoke``, ``make bench`` and the tests.

Fake credentials and a fixed region (nothing local can reach real AWS), moto's threaded
server on 127.0.0.1 (or moto in-process, for the tests), and what template.yaml defines
for the data path, read from the template itself so the two cannot drift apart: both
buckets (versioned as the template versions them), the incoming queue with its
dead-letter queue, the data bucket's notification of ``incoming/`` objects, and the
batch state machine, its definition taken from the template and run by moto's Step
Functions interpreter, its Lambda tasks answered by the real handlers
(:mod:`infra.local_lambda`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from infra.lambda_context import ACCOUNT, REGION
from infra.local_lambda import InvokeEndpoint, LocalFunction

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
MODEL_BUCKET = "serverless-predictor-models-local"
DATA_BUCKET = "serverless-predictor-data-local"
QUEUE = "serverless-predictor-incoming-local"
DEAD_LETTER_QUEUE = "serverless-predictor-dead-letter-local"
STATE_MACHINE = "serverless-predictor-batch-fan-out-local"
#: The template's state machine, and each function its definition names: its handler.
TEMPLATE_STATE_MACHINE = "BatchFanOutStateMachine"
FAN_OUT_FUNCTIONS = {
    "FanOutControlFunction": "batch.fan_out_app:control_handler",
    "FanOutRangeFunction": "batch.fan_out_app:range_handler",
}
#: The template's logical id of each bucket created locally.
TEMPLATE_BUCKETS = {"ModelBucket": MODEL_BUCKET, "DataBucket": DATA_BUCKET}
#: Locally a failed message comes back after this many seconds (the template's 5,400
#: suits a 15-minute function, not someone watching a terminal).
LOCAL_VISIBILITY_SECONDS = 10

#: Fake credentials and the fixed region.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def function_environment(endpoint: str | None, model_name: str, **extra: str) -> dict[str, str]:
    """What a serving function's environment holds locally (the template's variables)."""
    environment = {
        **CREDENTIALS,
        "MODEL_BUCKET": MODEL_BUCKET,
        "MODEL_NAME": model_name,
        "POWERTOOLS_SERVICE_NAME": "local",
        "POWERTOOLS_METRICS_NAMESPACE": "ServerlessPredictorLocal",
        **extra,
    }
    if endpoint is not None:
        environment["AWS_ENDPOINT_URL"] = endpoint
    return environment


def template_fixed_variables(function: str) -> dict[str, str]:
    """The variables template.yaml sets to plain text for ``function`` (its own over the
    Globals'); those it sets from parameters or resources, or to "", are left out."""
    from infra.cfn_yaml import load_template

    template = load_template(TEMPLATE)
    own = template["Resources"][function]["Properties"].get("Environment", {})
    declared = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **own.get("Variables", {}),
    }
    return {name: value for name, value in declared.items() if isinstance(value, str) and value}


def use_fake_credentials() -> None:
    """Point this process's AWS clients at nothing real: fake keys, no profile."""
    os.environ.update(CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)


@functools.cache
def _template_resources() -> dict[str, Any]:
    """template.yaml's resources, read once per process (parsing takes about 0.5 s, and the
    tests create the buckets for each of hundreds of tests). Callers only read it."""
    from infra.cfn_yaml import load_template

    return dict(load_template(TEMPLATE)["Resources"])


def template_bucket_versioning() -> dict[str, str]:
    """Each local bucket's versioning status as template.yaml sets it; unversioned: absent."""
    resources = _template_resources()
    statuses: dict[str, str] = {}
    for logical_id, bucket in TEMPLATE_BUCKETS.items():
        versioning = resources[logical_id]["Properties"].get("VersioningConfiguration")
        if versioning is None:
            continue
        status = versioning.get("Status")
        if status not in ("Enabled", "Suspended"):
            raise ValueError(f"{logical_id}: cannot apply versioning status {status!r} locally")
        statuses[bucket] = str(status)
    return statuses


def template_data_path() -> tuple[str, int]:
    """The notification prefix and the redrive count the template defines."""
    resources = _template_resources()
    notification = resources["DataBucket"]["Properties"]["NotificationConfiguration"]
    rules = notification["QueueConfigurations"][0]["Filter"]["S3Key"]["Rules"]
    prefix = next(r["Value"] for r in rules if r["Name"] == "prefix")
    redrive = resources["IncomingQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    return str(prefix), int(redrive)


def create_buckets(s3: Any) -> None:
    """The model and data buckets, versioned as the template versions them."""
    versioning = template_bucket_versioning()
    for bucket in TEMPLATE_BUCKETS.values():
        s3.create_bucket(Bucket=bucket)
        if bucket in versioning:
            s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": versioning[bucket]}
            )


def create_data_path(s3: Any, sqs: Any) -> str:
    """Queue, dead-letter queue and the data bucket's notification; returns the queue URL."""
    prefix, max_receive = template_data_path()
    dead = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
    redrive = {
        "deadLetterTargetArn": dead_arn["Attributes"]["QueueArn"],
        "maxReceiveCount": max_receive,
    }
    queue = sqs.create_queue(
        QueueName=QUEUE,
        Attributes={
            "VisibilityTimeout": str(LOCAL_VISIBILITY_SECONDS),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=DATA_BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
            ]
        },
    )
    return str(queue)


def state_machine_definition(function_arns: dict[str, str]) -> str:
    """The state machine's definition (the template's ``DefinitionUri`` file), its
    substitutions made with ``function_arns`` (logical id -> ARN). moto's CloudFormation
    would read only a DefinitionString, so the definition is created directly from the file.
    """
    machine = _template_resources()[TEMPLATE_STATE_MACHINE]["Properties"]
    text = (TEMPLATE.parent / machine["DefinitionUri"]).read_text()
    values = {}
    for name, value in machine.get("DefinitionSubstitutions", {}).items():
        logical_id = next(iter(value.values()))[0] if isinstance(value, dict) else None
        if logical_id not in function_arns:
            raise ValueError(f"no local value for the substitution {name}: {value}")
        values[name] = function_arns[logical_id]

    def substitute(found: re.Match[str]) -> str:
        return values[found.group(1)]

    return re.sub(r"\$\{(\w+)\}", substitute, text)


class _MotoWithLambda:
    """moto's threaded server, with the local Lambda Invoke endpoint in front of it."""

    def __init__(self, port: int) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from infra import moto_ranges

        moto_ranges.apply()
        self.endpoint = InvokeEndpoint(DomainDispatcherApplication(create_backend_app))
        endpoint = self.endpoint

        class Server(ThreadedMotoServer):
            def start(self) -> None:
                # Bound here, not in the server's thread: a port in use raises OSError to
                # the caller instead of leaving it waiting for a server that never starts.
                self._server = make_server(
                    self._ip_address, self._port, endpoint, True, request_handler=MotoRequestHandler
                )
                super().start()

            def _server_entry(self) -> None:
                assert self._server is not None
                self._server_ready_event.set()
                self._server.serve_forever()

        self.server = Server(ip_address="127.0.0.1", port=port, verbose=False)


class LocalAws:
    """moto's threaded server on 127.0.0.1 holding the template's buckets (and queue, and
    state machine).

    ``start()`` also points this process's AWS clients at it (fake credentials and
    ``AWS_ENDPOINT_URL``), so handlers imported afterwards use it. With ``states``, the
    batch state machine is created and run for real; ``range_processes`` worker
    processes then score its ranges in parallel (0: in this process, one at a time).
    """

    def __init__(
        self,
        port: int = 0,
        *,
        queue: bool = False,
        states: bool = False,
        range_processes: int = 0,
        range_environment: dict[str, str] | None = None,
    ) -> None:
        self._port = port
        self._with_queue = queue
        self._with_states = states
        self._range_processes = range_processes
        self._range_environment = range_environment or {}
        self._server: Any = None
        self._moto: _MotoWithLambda | None = None
        self.endpoint = ""
        self.s3: Any = None
        self.sqs: Any = None
        self.states: Any = None
        self.queue_url: str | None = None
        self.state_machine_arn: str | None = None

    def start(self) -> LocalAws:
        """Start the server (OSError if the port is taken) and create the resources."""
        # The server's request log would bury the output of whoever started it.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        use_fake_credentials()
        self._moto = _MotoWithLambda(self._port)
        self._server = self._moto.server
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint
        # Where moto's Step Functions interpreter sends its Lambda calls: this server.
        os.environ["MOTO_PORT"] = str(port)
        import boto3

        self.s3 = boto3.client("s3")
        create_buckets(self.s3)
        if self._with_queue:
            self.sqs = boto3.client("sqs")
            self.queue_url = create_data_path(self.s3, self.sqs)
        if self._with_states:
            self.state_machine_arn = self._create_state_machine()
        return self

    def _create_state_machine(self) -> str:
        """The template's batch state machine, executed by moto, its tasks run locally."""
        import boto3
        import requests  # moto's own dependency

        config = {"stepfunctions": {"execute_state_machine": True}}
        requests.post(
            f"{self.endpoint}/moto-api/config", json=config, timeout=10
        ).raise_for_status()
        assert self._moto is not None
        arns = {
            logical_id: self._moto.endpoint.register(
                LocalFunction(
                    logical_id,
                    handler,
                    processes=self._range_processes if logical_id == "FanOutRangeFunction" else 0,
                    environment=self._range_environment,
                )
            )
            for logical_id, handler in FAN_OUT_FUNCTIONS.items()
        }
        self.states = boto3.client("stepfunctions")
        created = self.states.create_state_machine(
            name=STATE_MACHINE,
            definition=state_machine_definition(arns),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{STATE_MACHINE}",
        )
        return str(created["stateMachineArn"])

    def invocations(self, logical_id: str) -> int:
        """How many times the state machine invoked a function so far."""
        assert self._moto is not None
        return self._moto.endpoint.functions[logical_id].invocations

    def stop(self) -> None:
        """Stop the server."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._moto is not None:
            self._moto.endpoint.close()
            self._moto = None

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
