"""``make deploy``: from a clone to a stack serving a model, one step at a time.

1. **build**: every function, the training image included (``sam build`` with the
   settings of ``samconfig.toml``; the image needs Docker, and the Lambda base image,
   official or the project's stand-in: ``make lambda-image``);
2. **AWS**: the credentials, and the region, checked before anything is sent;
3. **deploy**: ``sam deploy``, guided the first time (on a terminal: the answers are saved
   in ``samconfig.toml``), with the saved answers afterwards;
4. **a model**: the demo model trained into the stack's registry and promoted, or
   ``--model`` (a joblib, skops or MLflow file of yours) published there, unless the alias
   is already set (a redeploy keeps every model, alias and report);
5. **old versions**: the published versions of each function that no alias points at,
   but the one before the served version (a rollback target), are deleted: each keeps a
   SnapStart snapshot that is billed for as long as it exists;
6. what to do next: ``make smoke STACK=...``.

Each step prints one line when it ends, with its time. A step that cannot run says which
step, why, and which steps already ran; exit status 1 (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.stack import NoAwsError, Stack, caller_identity, describe, region_of

ROOT = Path(__file__).resolve().parent.parent
SAM = ROOT / ".venv-tools" / "bin" / "sam"
DEMO_DATA = ROOT / "data" / "winequality-red.csv"


class StepFailed(Exception):
    """A step that cannot complete; the message says why and what to do."""


def _sam(*arguments: str, interactive: bool = False) -> None:
    """Run the SAM CLI from the repository root (its output shown as it comes)."""
    command = [str(SAM), *arguments]
    done = subprocess.run(
        command, cwd=ROOT, check=False, stdin=None if interactive else subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise StepFailed(f"`sam {' '.join(arguments)}` failed (exit status {done.returncode})")


def build(skip: bool) -> str:
    """Every function of template.yaml, the training image included."""
    if skip:
        if not (ROOT / ".aws-sam" / "build" / "template.yaml").exists():
            raise StepFailed("--skip-build, but there is no build in .aws-sam/build")
        return "kept the build in .aws-sam/build"
    from shutil import which

    docker_path = which("docker")
    docker = (
        subprocess.run(
            [docker_path, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if docker_path
        else None
    )
    if docker is None or docker.returncode != 0:
        raise StepFailed(
            "the training function is a container image, and no Docker engine answers here: "
            "start one (Debian: apt-get install docker.io, then dockerd as root) and run "
            "make deploy again"
        )
    image = subprocess.run([sys.executable, "-m", "infra.lambda_image"], cwd=ROOT, check=False)
    if image.returncode != 0:
        raise StepFailed("the Lambda base image could not be pulled or built (see above)")
    _sam("build")
    return "every function built in .aws-sam/build (the training image with Docker)"


def check_aws(region: str | None) -> tuple[str, str]:
    """(account, region), or NoAwsError saying what is missing."""
    resolved = region_of(region)
    identity = caller_identity(resolved)
    return str(identity["Account"]), resolved


def deploy(stack: str, region: str, guided: bool | None) -> tuple[Stack, str]:
    """``sam deploy``, guided on the first deployment from a terminal."""
    exists = describe(stack, region) is not None
    ask = guided if guided is not None else (not exists and sys.stdin.isatty())
    arguments = ["deploy", "--stack-name", stack, "--region", region]
    if ask:
        arguments.append("--guided")
    _sam(*arguments, interactive=ask)
    deployed = describe(stack, region)
    if deployed is None:
        raise StepFailed(f"sam deploy ended, but there is no stack {stack!r} in {region}")
    how = "updated" if exists else "created" + (" (guided)" if ask else "")
    return deployed, f"stack {stack} {how} in {region}"


def put_model(
    stack: Stack, model: str | None, sample: str | None, target: str | None, trust: list[str]
) -> str:
    """The first model in the stack's registry, unless its alias already holds one."""
    import boto3

    from training.registry_admin import ModelRegistry

    name = stack.parameters.get("ModelName", "wine-quality")
    alias = stack.parameters.get("ModelAlias", "production")
    registry = f"s3://{stack.model_bucket}"
    s3 = boto3.client("s3", region_name=stack.region)
    holder = ModelRegistry(s3, stack.model_bucket).alias(name, alias)
    if holder is not None and model is None:
        return f"{name}@{alias} is {holder['version']} already: kept"
    if model is not None:
        from training import registry_cli

        arguments = ["--registry", registry, "publish", name, model, "--promote", alias]
        arguments += [
            *(["--sample", sample] if sample else []),
            *(["--target", target] if target else []),
        ]
        arguments += [a for t in trust for a in ("--trust", t)]
        if registry_cli.main(arguments, s3=s3) != 0:
            raise StepFailed(f"{model} could not be published (see above)")
        return f"{model} published as {name} and promoted to {alias}"
    from training.cli import main as train

    arguments = ["--data", str(DEMO_DATA), "--target", "quality", "--name", name]
    arguments += ["--registry", registry, "--promote", alias]
    if train(arguments) != 0:
        raise StepFailed("the demo model could not be trained (see above)")
    return f"the demo model trained on {DEMO_DATA.name} as {name}, promoted to {alias}"


def prune_versions(lambda_client: Any, function: str, keep_previous: int = 1) -> list[str]:
    """Delete the published versions of ``function`` that no alias points at, but the
    ``keep_previous`` ones before the newest aliased version (a rollback target).

    Each published version of a SnapStart function keeps a cached snapshot, billed for as
    long as the version exists; every deployment publishes a new one.
    """
    aliases = lambda_client.get_paginator("list_aliases").paginate(FunctionName=function)
    aliased = {a["FunctionVersion"] for page in aliases for a in page["Aliases"]}
    numbered = sorted(int(v) for v in aliased if v.isdigit())
    if not numbered:
        return []
    pages = lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=function)
    published = sorted(
        int(v["Version"]) for page in pages for v in page["Versions"] if v["Version"].isdigit()
    )
    older = [v for v in published if v < numbered[-1] and str(v) not in aliased]
    doomed = older[: max(0, len(older) - keep_previous)]
    for version in doomed:
        lambda_client.delete_function(FunctionName=function, Qualifier=str(version))
    return [str(v) for v in doomed]


def prune_stack_versions(stack: Stack) -> str:
    """:func:`prune_versions` for every function of the stack."""
    import boto3

    cloudformation = boto3.client("cloudformation", region_name=stack.region)
    lambda_client = boto3.client("lambda", region_name=stack.region)
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack.name)
    functions = [
        r["PhysicalResourceId"]
        for page in pages
        for r in page["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::Lambda::Function"
    ]
    deleted = sum(len(prune_versions(lambda_client, f)) for f in functions)
    return f"{deleted} old function version(s) deleted (each aliased one and the one before kept)"


def main(argv: list[str] | None = None) -> int:
    """Build, check AWS, deploy, put a model in: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="serverless-predictor", help="the stack's name")
    parser.add_argument("--region", help="default: the configured one (AWS_REGION, profile)")
    parser.add_argument("--model", help="publish this model file (joblib, skops, MLflow dir)")
    parser.add_argument("--sample", help="with --model: a CSV of its input rows")
    parser.add_argument("--target", help="with --model: the sample's label column")
    parser.add_argument("--trust", action="append", default=[], help="with a .skops --model")
    parser.add_argument("--skip-build", action="store_true", help="deploy the last build")
    guided = parser.add_mutually_exclusive_group()
    guided.add_argument("--guided", dest="guided", action="store_true", default=None)
    guided.add_argument("--no-guided", dest="guided", action="store_false")
    args = parser.parse_args(argv)
    if args.model and not (Path(args.model).is_dir() or args.sample):
        parser.error("--model needs --sample (an MLflow directory may bring its own example)")
    done: list[str] = []
    account_region: tuple[str, str] = ("", "")
    deployed: list[Stack] = []

    def aws() -> str:
        nonlocal account_region
        account_region = check_aws(args.region)
        return f"account {account_region[0]}, region {account_region[1]}"

    def stack() -> str:
        created, said = deploy(args.stack, account_region[1], args.guided)
        deployed.append(created)
        return said

    steps: list[tuple[str, Callable[[], str]]] = [
        ("build", lambda: build(args.skip_build)),
        ("AWS credentials", aws),
        ("deploy", stack),
        (
            "a model",
            lambda: put_model(deployed[0], args.model, args.sample, args.target, args.trust),
        ),
    ]
    for number, (name, step) in enumerate(steps, start=1):
        started = time.monotonic()
        print(f"deploy: step {number} of {len(steps)}: {name} ...", flush=True)
        try:
            said = step()
        except Exception as exc:  # every failure is a line saying which step, never a traceback
            ran = ", ".join(done) or "none"
            why = (
                str(exc)
                if isinstance(exc, StepFailed | NoAwsError)
                else f"{type(exc).__name__}: {exc}"
            )
            print(f"deploy: step {number} ({name}) failed: {why}", file=sys.stderr)
            print(f"deploy: steps done before it: {ran}", file=sys.stderr)
            return 1
        done.append(name)
        print(f"deploy: {name}: {said} ({time.monotonic() - started:.0f} s)", flush=True)
    final = deployed[0]
    print(f"\nThe stack serves at {final.api_url}")
    print(
        f"Check it: make smoke STACK={final.name}"
        + (f" REGION={final.region}" if args.region else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
