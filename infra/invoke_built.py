"""Invoke the functions `sam build` produced, as Lambda would, without Docker.

For each built function, a clean interpreter (``python -S``: no site-packages, only the
standard library and the build folder) imports the handler from
``.aws-sam/build/<Function>`` and is invoked with every file in ``events/`` meant for it,
against a local moto server holding a model trained by the project's own job. Every
response is checked; the exit status is non-zero if any is wrong.

The batch events name objects by key and ETag: the objects are uploaded first and the
events' placeholder ETag is replaced by the real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from infra.local_env import DATA_BUCKET, MODEL_BUCKET, ROOT, LocalAws, function_environment

BUILD = ROOT / ".aws-sam" / "build"
CONTEXT_MODULE = ROOT / "infra" / "lambda_context.py"
EVENTS = ROOT / "events"
PLACEHOLDER_ETAG = "0123456789abcdef0123456789abcdef"

# The function each event is for (by file-name prefix) and its handler module.
FUNCTIONS = {
    "realtime_": ("RealtimeFunction", "realtime.app"),
    "batch_": ("BatchFunction", "batch.app"),
    # After the others: the profiles their events leave are what it reports on.
    "monitor_": ("MonitorFunction", "monitor.app"),
}

CHILD = """
import importlib, importlib.util, json, sys
sys.path.insert(0, sys.argv[1])
handler = importlib.import_module(sys.argv[2]).lambda_handler
assert "site-packages" not in handler.__code__.co_filename
# The one local Lambda context (standard library only), loaded from its file so that
# nothing but the built function is on the path.
spec = importlib.util.spec_from_file_location("lambda_context", sys.argv[3])
lambda_context = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lambda_context)

for line in sys.stdin:
    name, event = json.loads(line)
    try:
        response = handler(event, lambda_context.LambdaContext("built"))
    except Exception as exc:
        response = {"exception": type(exc).__name__, "message": str(exc)}
    print("RESULT " + json.dumps([name, response]), flush=True)
"""


def expected_ok(name: str, response: dict[str, Any]) -> str | None:
    """None when ``response`` is right for event ``name``, else what is wrong."""
    if "exception" in response:
        return f"raised {response['exception']}: {response['message']}"
    if name.startswith("realtime_"):
        status = 400 if "malformed" in name else 200
        if response.get("statusCode") != status:
            return f"status {response.get('statusCode')}, expected {status}: {response.get('body')}"
        if "page" in name:  # the try-it page: HTML, not JSON
            text = str(response.get("body"))
            page = text.lstrip().lower().startswith("<!doctype html>") and "try.js" in text
            return None if page else f"expected the try-it page: {text[:200]}"
        body = json.loads(response["body"])
        if status == 200 and "predict" in name and len(body.get("predictions", [])) != 2:
            return f"expected 2 predictions: {body}"
        return None
    if name.startswith("monitor_"):
        reports = response.get("reports")
        if not isinstance(reports, list):
            return f"expected a list of reports: {response}"
        # On demand, the batch and realtime events' rows (counted just now) are reported;
        # the schedule reads only closed windows, which these events have not reached.
        if "now" in name and (not reports or any(not r.get("report") for r in reports)):
            return f"expected a stored report per model: {response}"
        return None
    if "Records" in response or "reports" in response:
        statuses = [r["status"] for r in response["reports"]]
        return None if statuses == ["succeeded"] else f"reports {statuses}"
    if response != {"batchItemFailures": []}:
        return f"partial failures: {response}"
    return None


def prepare(s3: Any) -> str:
    """Model and input objects the events refer to (one content); returns its ETag."""
    from predictor.settings import RegistryLocation
    from training.job import TrainingConfig, run_training

    config = TrainingConfig(
        data=str(ROOT / "data" / "winequality-red.csv"),
        target="quality",
        name="wine-quality",
        registry=RegistryLocation(MODEL_BUCKET),
        candidates=("linear",),
        promote="production",
    )
    run_training(config, s3)
    return upload_batch_inputs(s3)


#: The objects the batch events name, uploaded with one content (so one ETag).
BATCH_INPUTS = ("incoming/wine-sample.csv", "incoming/cellar 2026 my wine été.csv")


def upload_batch_inputs(s3: Any) -> str:
    """The objects the batch events name (20 wine rows each); returns their shared ETag."""
    sample = "\n".join((ROOT / "data" / "winequality-red.csv").read_text().splitlines()[:21])
    etags = {
        s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=sample.encode())["ETag"].strip('"')
        for key in BATCH_INPUTS
    }
    (etag,) = etags
    return str(etag)


def main() -> int:
    local = LocalAws().start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        **function_environment(
            local.endpoint,
            "wine-quality",
            POWERTOOLS_LOG_LEVEL="WARNING",
            CAPTURE_BUCKET=DATA_BUCKET,
        ),
    }
    s3 = local.s3
    etag = prepare(s3)
    failures = 0
    for prefix, (function, module) in FUNCTIONS.items():
        folder = BUILD / function
        if not folder.is_dir():
            print(f"{function}: not built (run make build)", file=sys.stderr)
            return 1
        events = sorted(EVENTS.glob(f"{prefix}*.json"))
        lines = []
        for path in events:
            text = path.read_text().replace(PLACEHOLDER_ETAG, etag)
            lines.append(json.dumps([path.name, json.loads(text)]))
        done = subprocess.run(
            [sys.executable, "-S", "-c", CHILD, str(folder), module, str(CONTEXT_MODULE)],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        results = [
            json.loads(line[len("RESULT ") :])
            for line in done.stdout.splitlines()
            if line.startswith("RESULT ")
        ]
        if done.returncode != 0 or len(results) != len(events):
            print(f"{function}: the built handler failed\n{done.stderr[-3000:]}", file=sys.stderr)
            failures += 1
            continue
        for name, response in results:
            problem = expected_ok(name, response)
            failures += problem is not None
            print(f"{function:17} {name:42} {'ok' if problem is None else 'FAIL: ' + problem}")
    outputs = [
        o["Key"] for o in s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="predictions/")["Contents"]
    ]
    print("outputs:", ", ".join(sorted(outputs)))
    expected = {key.replace("incoming/", "predictions/", 1) for key in BATCH_INPUTS}
    if set(outputs) != expected:
        print(f"expected outputs {sorted(expected)}", file=sys.stderr)
        failures += 1
    local.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
