"""`make sam-local`: the built functions and the training image in Lambda containers.

Everything `sam local` offers, run for real against a local moto S3 on 127.0.0.1:

1. the Lambda base image (:mod:`infra.lambda_image`: the official one, or the stand-in);
2. the training function built from ``training/Dockerfile`` (``sam build
   TrainingFunction``) and invoked with ``events/training_job.json``: it trains on the
   wine data uploaded to moto and publishes the model the serving functions then load;
3. ``sam local invoke`` of each serving function with every file in ``events/`` meant
   for it, each answer checked as ``make invoke`` checks it; the batch events' objects
   are uploaded first and the outputs read back from moto;
4. ``sam local start-api`` on a local port, driven over HTTP by the API checks
   (:mod:`infra.api_checks`);
5. the deploy rehearsal: ``sam package`` of the zip functions to the local S3, then
   ``make deploy``'s own command without AWS credentials, which builds every function
   (the training image included) and must stop at its AWS step with a message.

moto's S3 server runs in a container too (``infra/moto.Dockerfile``), on a Docker network
the functions' containers join (``--docker-network``): this SAM CLI does not give them
the host's network, and servers here listen on 127.0.0.1 only, so a moto on the host
would be out of their reach. It is published on the host at 127.0.0.1 for this script.
The functions find it through ``AWS_ENDPOINT_URL``, which the template declares (empty,
so ignored, in AWS) so that ``--env-vars`` may set it.

``sam local start-api`` cannot trace an integration whose URI is ``!Ref
RealtimeFunction.Alias`` back to its function (aliases do not exist locally), so it is
given a copy of the built template whose integration names the function by
``Fn::GetAtt``, the form it resolves; nothing else differs. Prints each step with its
time; exit status 0 when everything passed, 1 when a check failed, 2 when Docker is
unavailable.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from infra.api_checks import check_api
from infra.invoke_built import (
    BATCH_INPUTS,
    EVENTS,
    FUNCTIONS,
    PLACEHOLDER_ETAG,
    expected_ok,
    upload_batch_inputs,
)
from infra.lambda_image import ensure_image_or_say_why, tool
from infra.local_env import DATA_BUCKET, MODEL_BUCKET, ROOT
from infra.moto_container import NAME_PREFIX, NETWORK, MotoContainer, remove_network, s3_client

SAM = ROOT / ".venv-tools" / "bin" / "sam"
BUILT = ROOT / ".aws-sam" / "build"
TRAINING_BUILD = ROOT / ".aws-sam" / "build-training"
MODEL_NAME = "wine-quality"
#: The built template with the API integration in a form `sam local` resolves.
LOCAL_TEMPLATE = BUILT / "template-sam-local.yaml"
TRAINING_EMULATOR_IMAGE = "trainingfunction:rapid-x86_64"
FIRST_ANSWER = "sam local start-api: first answer (warm containers started)"


class Report:
    """Prints each step as it ends and remembers its time and verdict."""

    def __init__(self) -> None:
        self.failures = 0
        self.timings: dict[str, float] = {}
        self.api_summary = "not reached"

    def step(self, name: str, seconds: float, problem: str | None = None) -> None:
        self.timings[name] = seconds
        self.failures += problem is not None
        verdict = "ok" if problem is None else f"FAIL: {problem}"
        print(f"{name:58} {seconds:7.2f} s  {verdict}", flush=True)


def sam_environment() -> dict[str, str]:
    """This process's environment (fake credentials, region), SAM's telemetry off."""
    return {**os.environ, "SAM_CLI_TELEMETRY": "0"}


def sam(
    *arguments: str, timeout: float = 900, environment: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the SAM CLI with this process's environment (and ``environment``); its result
    and seconds."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [str(SAM), *arguments],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**sam_environment(), **(environment or {})},
        )
    except subprocess.TimeoutExpired as exc:
        remove_function_containers()  # the container sam was waiting for
        done = subprocess.CompletedProcess(
            exc.cmd, returncode=124, stdout="", stderr=f"sam took over {timeout:.0f} s"
        )
    return done, time.perf_counter() - started


def remove_function_containers() -> None:
    """Remove the function containers on NETWORK (all but moto's)."""

    def containers(docker_filter: str) -> list[str]:
        listed = subprocess.run(
            [tool("docker"), "ps", "--all", "--quiet", "--filter", docker_filter],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        return listed.stdout.split()

    moto = containers(f"name={NAME_PREFIX}")
    stale = [c for c in containers(f"network={NETWORK}") if c not in moto]
    if stale:
        subprocess.run(
            [tool("docker"), "rm", "--force", *stale], capture_output=True, check=False, timeout=120
        )


def last_json(output: str) -> Any:
    """The function's result: the last line of ``sam local invoke``'s stdout that is JSON."""
    for line in reversed(output.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_env_vars(folder: Path, endpoint: str) -> Path:
    """The ``--env-vars`` file: every function pointed at moto and its local buckets."""
    overrides = {
        "AWS_ENDPOINT_URL": endpoint,
        "MODEL_BUCKET": MODEL_BUCKET,
        "MODEL_NAME": MODEL_NAME,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "CAPTURE_BUCKET": DATA_BUCKET,
    }
    path = folder / "env.json"
    path.write_text(json.dumps({"Parameters": overrides}))
    return path


def write_local_template() -> Path:
    """The built template, its API integration naming the function as `sam local` can."""
    template = yaml.safe_load((BUILT / "template.yaml").read_text())
    integration = template["Resources"]["RealtimeIntegration"]["Properties"]
    assert integration["IntegrationUri"] == {"Ref": "RealtimeFunction.Alias"}, integration
    integration["IntegrationUri"] = {"Fn::GetAtt": ["RealtimeFunction", "Arn"]}
    LOCAL_TEMPLATE.write_text(yaml.safe_dump(template, sort_keys=False))
    return LOCAL_TEMPLATE


def train(report: Report, s3: Any, env_vars: Path) -> None:
    """Build the training image and invoke it; it publishes the model to moto."""
    event = json.loads((EVENTS / "training_job.json").read_text())
    bucket, _, key = event["data"].removeprefix("s3://").partition("/")
    s3.upload_file(str(ROOT / "data" / "winequality-red.csv"), bucket, key)
    done, seconds = sam(
        "build", "TrainingFunction", "--template-file", "template.yaml",
        "--build-dir", str(TRAINING_BUILD),
    )  # fmt: skip
    report.step(
        "sam build TrainingFunction (training/Dockerfile)",
        seconds,
        None if done.returncode == 0 else done.stdout[-2000:] + done.stderr[-2000:],
    )
    if done.returncode != 0:
        return
    # SAM adds its emulator to the image once, as <image>:rapid-x86_64, and with
    # --skip-pull-image would go on using that copy of the previous build.
    subprocess.run(
        [tool("docker"), "rmi", "--force", TRAINING_EMULATOR_IMAGE],
        capture_output=True,
        check=False,
        timeout=120,
    )
    done, seconds = sam(
        "local", "invoke", "TrainingFunction",
        "--template-file", str(TRAINING_BUILD / "template.yaml"),
        "--event", str(EVENTS / "training_job.json"),
        "--env-vars", str(env_vars), "--docker-network", NETWORK, "--skip-pull-image",
    )  # fmt: skip
    result = last_json(done.stdout)
    problem = None
    if done.returncode != 0 or not isinstance(result, dict) or result.get("promoted") is not True:
        problem = f"no model promoted: {done.stdout[-1500:]}{done.stderr[-1500:]}"
    else:
        alias = s3.get_object(
            Bucket=MODEL_BUCKET, Key=f"models/{MODEL_NAME}/aliases/production.json"
        )
        named = json.loads(alias["Body"].read()).get("version")
        if not result.get("version") or named != result["version"]:
            problem = f"the alias names {named!r}, the job returned {result.get('version')!r}"
    report.step("sam local invoke TrainingFunction (events/training_job.json)", seconds, problem)


def invoke_events(report: Report, s3: Any, env_vars: Path, folder: Path) -> list[float]:
    """`sam local invoke` of each serving function with each of its events; their times."""
    etag = upload_batch_inputs(s3)
    seconds_each = []
    for prefix, (function, _) in FUNCTIONS.items():
        events = sorted(EVENTS.glob(f"{prefix}*.json"))
        if not events:
            report.step(f"events for {function}", 0.0, f"no events/{prefix}*.json")
        for path in events:
            event = folder / path.name
            event.write_text(path.read_text().replace(PLACEHOLDER_ETAG, etag))
            done, seconds = sam(
                "local", "invoke", function,
                "--template-file", str(BUILT / "template.yaml"), "--event", str(event),
                "--env-vars", str(env_vars), "--docker-network", NETWORK, "--skip-pull-image",
            )  # fmt: skip
            response = last_json(done.stdout)
            if done.returncode != 0 or not isinstance(response, dict):
                problem = f"no answer: {done.stdout[-1500:]}{done.stderr[-1500:]}"
            else:
                problem = expected_ok(path.name, response)
            report.step(f"sam local invoke {function} {path.name}", seconds, problem)
            seconds_each.append(seconds)
    keys = {
        o["Key"]
        for o in s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="predictions/").get("Contents", [])
    }
    expected = {key.replace("incoming/", "predictions/", 1) for key in BATCH_INPUTS}
    problem = None if keys == expected else f"predictions {sorted(keys)}, expected {expected}"
    for key in expected & keys:
        lines = s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read().decode().splitlines()
        if len(lines) != 21 or not lines[0].endswith(";prediction;inference_id"):
            problem = f"{key}: {len(lines)} lines, header {lines[0]!r}"
    report.step("batch outputs read back from moto", 0.0, problem)
    return seconds_each


def start_api(report: Report, env_vars: Path) -> None:
    """`sam local start-api` with warm containers, driven by the API checks."""
    port = free_port()
    command = [
        str(SAM), "local", "start-api", "--template-file", str(write_local_template()),
        "--host", "127.0.0.1", "--port", str(port), "--env-vars", str(env_vars),
        "--docker-network", NETWORK, "--skip-pull-image", "--warm-containers", "EAGER",
    ]  # fmt: skip
    with tempfile.TemporaryFile(mode="w+") as log:
        _serve_and_check(report, command, log)


def _serve_and_check(report: Report, command: list[str], log: Any) -> None:
    """Start ``command`` (start-api, output to ``log``), wait for it, run the checks."""
    port = command[command.index("--port") + 1]
    started = time.perf_counter()
    server = subprocess.Popen(
        command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
        env=sam_environment(),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        ready = False
        while time.monotonic() < deadline and server.poll() is None:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=60).read()  # noqa: S310
            except urllib.error.HTTPError:
                pass  # an answer all the same: the checks judge it
            except OSError:
                time.sleep(0.5)
                continue
            ready = True
            break
        log.seek(0)
        report.step(
            FIRST_ANSWER,
            time.perf_counter() - started,
            None if ready else f"no answer on {base}: {log.read()[-2000:]}",
        )
        if not ready:
            return
        results = check_api(base, sam_local=True)
        for result in results:
            report.step(f"  {result.name} -> {result.status}", result.seconds, result.problem)
        warm = [r.seconds for r in results]
        repeat = [check_api(base, sam_local=True) for _ in range(2)]
        warm += [r.seconds for run in repeat for r in run]
        problems = [r.problem for run in repeat for r in run if r.problem]
        report.api_summary = (
            f"first answer {report.timings[FIRST_ANSWER]:.2f} s after start, then {len(warm)} "
            f"requests to warm containers, median {statistics.median(warm) * 1000:.0f} ms"
        )
        report.step(
            f"start-api: {len(warm)} requests, median {statistics.median(warm) * 1000:.0f} ms",
            sum(warm),
            problems[0] if problems else None,
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


#: Where ``--keep`` leaves the ``--env-vars`` file for trying events by hand.
KEPT_ENV_VARS = ROOT / ".aws-sam" / "sam-local-env.json"


def package(report: Report, s3: Any, endpoint: str) -> None:
    """``sam package`` of the zip functions to the local S3: what ``sam deploy`` uploads
    first, up to the point where CloudFormation would take over."""
    bucket = "serverless-predictor-packages-local"
    s3.create_bucket(Bucket=bucket)
    packaged = BUILT.parent / "packaged-serving.yaml"
    done, seconds = sam(
        "package", "--template-file", str(BUILT / "template.yaml"), "--s3-bucket", bucket,
        "--output-template-file", str(packaged), "--region", "us-east-1",
        environment={"AWS_ENDPOINT_URL": endpoint},
    )  # fmt: skip
    problem = None if done.returncode == 0 else done.stdout[-1500:] + done.stderr[-1500:]
    if problem is None:
        template = yaml.safe_load(packaged.read_text().replace("!", ""))
        uris = [
            str(resource["Properties"]["CodeUri"])
            for resource in template["Resources"].values()
            if resource.get("Type") == "AWS::Serverless::Function"
        ]
        stored = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
        missing = [u for u in uris if u.removeprefix(f"s3://{bucket}/") not in stored]
        if not uris or missing:
            problem = f"code not in the local S3: {missing or 'no function found'}"
    report.step("sam package of the zip functions to the local S3", seconds, problem)


def deploy_without_aws(report: Report) -> None:
    """``make deploy`` with no AWS credentials: every step before AWS runs (the build of
    every function, the training image included), then it stops saying why."""
    environment = {
        key: value
        for key, value in sam_environment().items()
        if not key.startswith("AWS_") or key in ("AWS_DEFAULT_REGION", "AWS_REGION")
    }
    environment.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "infra.deploy", "--stack", "rehearsal", "--no-guided"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False, env=environment,
    )  # fmt: skip
    output = done.stdout + done.stderr
    expected = (
        "deploy: step 2 (AWS credentials) failed: no AWS credentials",
        "deploy: steps done before it: build",
    )
    problem = None
    if done.returncode != 1 or not all(line in output for line in expected):
        problem = f"exit status {done.returncode}: {output[-2000:]}"
    elif "Traceback" in output:
        problem = "a traceback instead of a message"
    elif "TrainingFunction" not in (BUILT / "template.yaml").read_text():
        problem = "the build has no training function"
    report.step(
        "make deploy without AWS credentials: stops at step 2",
        time.perf_counter() - started,
        problem,
    )


def print_how_to_try(moto: MotoContainer) -> None:
    """After ``--keep``: the moto container stays, with its model; how to use it."""
    print(
        f"\nmoto keeps running as container {moto.name} ({moto.host_endpoint} from this\n"
        f"machine), holding the trained model. Try an event:\n"
        f"  .venv-tools/bin/sam local invoke RealtimeFunction -t {BUILT.relative_to(ROOT)}"
        f"/template.yaml \\\n    -e events/realtime_predict_json.json --env-vars "
        f"{KEPT_ENV_VARS.relative_to(ROOT)} \\\n    --docker-network {NETWORK} "
        f"--skip-pull-image\nStop moto: docker rm -f {moto.name}",
        flush=True,
    )


def main() -> int:
    keep = "--keep" in sys.argv[1:]
    print("make sam-local: the functions in Lambda containers, against moto", flush=True)
    report = Report()
    started = time.perf_counter()
    line, status = ensure_image_or_say_why("sam-local")
    if line is None:
        return status
    report.step("Lambda base image", time.perf_counter() - started)
    print(f"  {line}")
    if not (BUILT / "template.yaml").is_file():
        print("the serving functions are not built: run make build", file=sys.stderr)
        return 1
    moto = MotoContainer()
    invokes: list[float] = []
    try:
        moto_started = time.perf_counter()
        how = moto.start()
        report.step(f"moto S3 in a container ({how} image)", time.perf_counter() - moto_started)
        print(f"  {moto.network_endpoint} for the functions, {moto.host_endpoint} for the host")
        s3 = s3_client(moto.host_endpoint)
        with tempfile.TemporaryDirectory() as work:
            env_vars = write_env_vars(Path(work), moto.network_endpoint)
            train(report, s3, env_vars)
            invokes = invoke_events(report, s3, env_vars, Path(work))
            start_api(report, env_vars)
            package(report, s3, moto.host_endpoint)
            if keep:
                shutil.copy(env_vars, KEPT_ENV_VARS)
    finally:
        remove_function_containers()
        if keep:
            print(f"  moto stays up as container {moto.name}", flush=True)
        else:
            moto.stop()
            remove_network()
        shutil.rmtree(TRAINING_BUILD, ignore_errors=True)
    # Last: it builds every function into .aws-sam/build (the serving ones and the image).
    deploy_without_aws(report)
    total = time.perf_counter() - started
    timings = report.timings
    if invokes:
        print(
            f"  base image {timings['Lambda base image']:.1f} s; sam local invoke: first "
            f"{invokes[0]:.2f} s, median {statistics.median(invokes):.2f} s (a new container "
            f"each); start-api: {report.api_summary}",
            flush=True,
        )
    if keep:
        print_how_to_try(moto)
    verdict = "passed" if report.failures == 0 else f"{report.failures} failed"
    print(f"make sam-local: {verdict} in {total:.0f} s", flush=True)
    return 0 if report.failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
