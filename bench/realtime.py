"""Realtime latency: warm in-handler time and cold start, beside bare scikit-learn.

Run with ``make bench-realtime``. Trains the wine models with the project's own job into
a local moto server, then measures in this process (warm) and in fresh processes (cold).
Prints a table and writes it to results/realtime.json.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from infra.lambda_context import LambdaContext
from infra.local_env import (
    DATA_BUCKET,
    MODEL_BUCKET,
    LocalAws,
    function_environment,
    template_fixed_variables,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
CALLS = 2000
#: Each realtime figure is measured this many times (the machine is shared and noisy).
REPEATS = 3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Any, calls: int, budget_seconds: float = 60.0) -> list[float]:
    """Milliseconds per call, for ``calls`` calls or until the time budget is spent."""
    samples = []
    deadline = time.perf_counter() + budget_seconds
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
        if start > deadline:
            break
    return samples


def cold_start_seconds(
    code: str, env: dict[str, str], runs: int = 3, prefix: Sequence[str] = ()
) -> dict[str, Any]:
    """A fresh interpreter running ``code``, from process start to its first answer.

    The child prints ``READY <epoch>`` (and its steps) once it has answered; process
    exit, which can take 0.2-0.3 s and which Lambda does not make a request wait for,
    is not counted. Median of ``runs``, with the spread and every sample. ``prefix``
    starts the interpreter through another command (one that puts it in a CPU-limited
    group, say, and then execs it).
    """
    samples: list[float] = []
    steps: list[dict[str, float]] = []
    for _ in range(runs):
        started = time.time()
        done = subprocess.run(
            [*prefix, sys.executable, "-S", "-c", code],
            env=env,
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        ready = next(line for line in done.stdout.splitlines() if line.startswith("READY "))
        parts = json.loads(ready[len("READY ") :])
        samples.append(parts.pop("ready") - started)
        steps.append(parts)
    middle = sorted(range(runs), key=lambda i: samples[i])[runs // 2]
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "samples_s": samples,
        "steps_of_median_s": steps[middle],
        "steps_s": steps,
    }


def lambda_environment(package: Path, **extra: str) -> dict[str, str]:
    """A cold start's environment: the realtime function's fixed variables from the
    template, Lambda's task root and function name, and capture with kept predictions on,
    as the template deploys the function by default."""
    return {**os.environ, **template_fixed_variables("RealtimeFunction"),
            "LAMBDA_TASK_ROOT": str(package), "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "CAPTURE_BUCKET": DATA_BUCKET, "KEEP_PREDICTIONS": "true", **extra}  # fmt: skip


#: The built function, as Lambda runs it: only the package on the path (``-S``), the
#: task root set, and the first request timed in steps (import, first answer), with the
#: CPU seconds all of the process's threads used until then.
COLD_HANDLER = """
import sys, time
sys.path[:0] = [{package!r}, {infra!r}]
began = time.time()
import json
from realtime import app
imported = time.time()
from lambda_context import LambdaContext
event = json.load(open("events/realtime_predict_json.json"))
response = app.lambda_handler(event, LambdaContext("cold"))
answered = time.time()
assert response["statusCode"] == 200, response
print("READY " + json.dumps({{"ready": answered, "import_s": imported - began,
                             "first_request_s": answered - imported,
                             "cpu_s": time.process_time()}}), flush=True)
"""


#: The same first answer from scikit-learn: import it and pandas, load model.joblib from
#: the same S3, predict the same row.
COLD_SKLEARN = """
import sys, time
sys.path.insert(0, {site!r})
import io, json, boto3, joblib, pandas, sklearn
s3 = boto3.client("s3")
pipeline = joblib.load(io.BytesIO(s3.get_object(Bucket="{bucket}", Key="{key}")["Body"].read()))
body = json.loads(json.load(open("events/realtime_predict_json.json"))["body"])
pipeline.predict(pandas.DataFrame(body["instances"]))
print("READY " + json.dumps({{"ready": time.time()}}), flush=True)
"""


def site_packages() -> str:
    """This interpreter's site-packages (the children run with -S)."""
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def _routed_to(event: dict[str, Any], path: str, body: dict[str, Any]) -> dict[str, Any]:
    """``event`` sent to another route with another JSON body."""
    routed = copy.deepcopy(event)
    routed["rawPath"] = routed["requestContext"]["http"]["path"] = path
    routed["body"] = json.dumps(body)
    return routed


def cold_model_load(s3: Any, registry: Any, context: Any, event: dict[str, Any]) -> list[float]:
    """Seconds of the first request to a second model (S3 fetch, checks, ONNX session).

    The function serves every model (``SERVED_MODELS=*``) and has its default model
    loaded and warm; each run starts a fresh model set, so the second model loads again.
    """
    from bench.models import train_and_promote
    from realtime import app

    train_and_promote(s3, MODEL_BUCKET, "random_forest", name="wine-second")
    os.environ["SERVED_MODELS"] = "*"
    second = _routed_to(event, "/models/wine-second/predict", json.loads(event["body"]))
    seconds = []
    with contextlib.redirect_stdout(io.StringIO()):
        for _ in range(7):
            app.container.reset()
            assert app.lambda_handler(event, context)["statusCode"] == 200  # default: warm
            started = time.perf_counter()
            answer = app.lambda_handler(second, context)
            seconds.append(time.perf_counter() - started)
            assert answer["statusCode"] == 200, answer["body"]
    os.environ.pop("SERVED_MODELS")
    return seconds


def main() -> int:
    local = LocalAws().start()
    os.environ.update(function_environment(local.endpoint, "wine", POWERTOOLS_LOG_LEVEL="WARNING"))
    s3 = local.s3

    from bench.models import CANDIDATES, train_and_promote
    from predictor.schema import FeatureSchema
    from training.registry_admin import ModelRegistry

    registry = ModelRegistry(s3, MODEL_BUCKET)
    event_1 = json.loads((ROOT / "events/realtime_predict_json.json").read_text())
    row = json.loads(event_1["body"])["instances"][0]
    event_1["body"] = json.dumps({"instances": [row]})  # one row (the sample event has two)
    event_100 = copy.deepcopy(event_1)
    event_100["body"] = json.dumps({"instances": [row] * 100})
    event_invocations = _routed_to(event_1, "/invocations", {"dataframe_records": [row]})
    tensor = {"name": "input", "shape": [1, len(row)], "datatype": "FP64"}
    event_v2 = _routed_to(
        event_1, "/v2/models/wine/infer", {"inputs": [{**tensor, "data": list(row.values())}]}
    )

    from realtime import app

    context = LambdaContext("bench")
    table = []
    for kind in CANDIDATES:
        manifest = train_and_promote(s3, MODEL_BUCKET, kind)
        version = manifest["version"]
        pipeline = registry.load_joblib("wine", version).predictor.pipeline  # type: ignore[attr-defined]
        schema = FeatureSchema.from_dict(manifest["schema"])
        import pandas as pd

        frame_1 = pd.DataFrame([row], columns=list(schema.names))
        frame_100 = pd.DataFrame([row] * 100, columns=list(schema.names))
        app.container.reset()  # a new container for each model
        assert app.lambda_handler(event_1, context)["statusCode"] == 200
        # Each figure is measured REPEATS times; the table gives the median of the runs'
        # medians and the spread. scikit-learn runs on one thread, as the handler does.
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):  # what a request logs: its metrics line
            answer = app.lambda_handler(event_1, context)
        log_bytes = len(printed.getvalue().encode())
        with contextlib.redirect_stdout(io.StringIO()):  # the handler's metric lines
            runs_1 = [timed(lambda: app.lambda_handler(event_1, context), CALLS)]
            runs_1 += [
                timed(lambda: app.lambda_handler(event_1, context), CALLS)
                for _ in range(REPEATS - 1)
            ]
            handler_100 = timed(lambda: app.lambda_handler(event_100, context), CALLS)
            protocol_runs = {
                name: [
                    timed(lambda e=event: app.lambda_handler(e, context), CALLS)
                    for _ in range(REPEATS)
                ]
                for name, event in (("invocations", event_invocations), ("v2", event_v2))
            }
            for event in (event_invocations, event_v2):
                assert app.lambda_handler(event, context)["statusCode"] == 200
        with threadpool_limits(limits=1):
            bare_runs = [
                timed(lambda p=pipeline, f=frame_1: p.predict(f), 500, 5.0) for _ in range(REPEATS)
            ]
            bare_100 = timed(lambda p=pipeline, f=frame_100: p.predict(f), 500, 5.0)
            bare_frame_1 = timed(
                lambda p=pipeline, c=list(schema.names): p.predict(pd.DataFrame([row], columns=c)),
                500,
                5.0,
            )
        handler_1 = min(runs_1, key=statistics.median)  # the run whose p99 is reported
        env = dict(os.environ)
        package = ROOT / ".aws-sam" / "build" / "RealtimeFunction"
        ours = lambda_environment(package)
        cold = cold_start_seconds(
            COLD_HANDLER.format(package=str(package), infra=str(ROOT / "infra")), ours
        )
        cold_handler = cold["median_s"]
        key = f"models/wine/{version}/model.joblib"
        cold_sklearn = cold_start_seconds(
            COLD_SKLEARN.format(bucket=MODEL_BUCKET, key=key, site=site_packages()),
            {**env, "OPENBLAS_NUM_THREADS": ours["OPENBLAS_NUM_THREADS"]},  # ours' BLAS threads
        )["median_s"]
        table.append(
            {
                "model": kind,
                "handler_1row_median_ms": statistics.median([statistics.median(r) for r in runs_1]),
                "handler_1row_run_medians_ms": [statistics.median(r) for r in runs_1],
                "sklearn_1row_run_medians_ms": [statistics.median(r) for r in bare_runs],
                "handler_1row_p99_ms": percentile(handler_1, 0.99),
                "invocations_1row_run_medians_ms": [
                    statistics.median(r) for r in protocol_runs["invocations"]
                ],
                "v2_infer_1row_run_medians_ms": [statistics.median(r) for r in protocol_runs["v2"]],
                "handler_100rows_median_ms": statistics.median(handler_100),
                "handler_100rows_p99_ms": percentile(handler_100, 0.99),
                "sklearn_1row_median_ms": statistics.median(
                    [statistics.median(r) for r in bare_runs]
                ),
                "sklearn_1row_with_frame_median_ms": statistics.median(bare_frame_1),
                "sklearn_100rows_median_ms": statistics.median(bare_100),
                "cold_handler_s": cold_handler,
                "cold_handler": cold,
                "cold_sklearn_s": cold_sklearn,
                "onnx_bytes": manifest["artifacts"]["model.onnx"]["size"],
                "log_bytes_per_request": log_bytes,
                "request_bytes": len(event_1["body"].encode()),
                "response_bytes": len(answer["body"].encode()),
            }
        )
    cold_model = cold_model_load(s3, registry, context, event_1)
    local.stop()

    print(
        f"Realtime: {REPEATS} runs of {CALLS} handler calls each, one thread for scikit-learn; "
        "cold start: median of 3 fresh processes (process start to first answer, capture and "
        "kept predictions on as deployed)"
    )
    header = (
        f"{'model':24} {'1 row ms':>9} {'p99':>6} {'sklearn':>8} {'ratio':>6} "
        f"{'100 rows':>9} {'p99':>6} {'sklearn':>8} {'ratio':>6} "
        f"{'cold s':>7} {'sklearn s':>9} {'ratio':>6}"
    )
    print(header)
    for r in table:
        print(
            f"{r['model']:24} {r['handler_1row_median_ms']:9.3f} {r['handler_1row_p99_ms']:6.3f} "
            f"{r['sklearn_1row_median_ms']:8.3f} "
            f"{r['sklearn_1row_median_ms'] / r['handler_1row_median_ms']:5.1f}x "
            f"{r['handler_100rows_median_ms']:9.3f} {r['handler_100rows_p99_ms']:6.3f} "
            f"{r['sklearn_100rows_median_ms']:8.3f} "
            f"{r['sklearn_100rows_median_ms'] / r['handler_100rows_median_ms']:5.1f}x "
            f"{r['cold_handler_s']:7.3f} {r['cold_sklearn_s']:9.3f} "
            f"{r['cold_handler_s'] / r['cold_sklearn_s']:5.2f}x"
        )
    print(f"Spread: 1-row medians of {REPEATS} runs; cold start from the built package")
    for r in table:
        handler = ", ".join(f"{m:.3f}" for m in r["handler_1row_run_medians_ms"])
        bare = ", ".join(f"{m:.3f}" for m in r["sklearn_1row_run_medians_ms"])
        cold = r["cold_handler"]
        steps = ", ".join(f"{k} {v:.3f} s" for k, v in cold["steps_of_median_s"].items())
        print(
            f"{r['model']:24} handler [{handler}] ms, scikit-learn [{bare}] ms; cold start "
            f"{cold['min_s']:.3f}-{cold['max_s']:.3f} s ({steps})"
        )
    print("Other protocols, 1 row through the handler: medians of the runs, ms (ratio to /predict)")
    for r in table:
        predict = r["handler_1row_median_ms"]
        parts = []
        for label, key in (("/invocations", "invocations"), ("/v2 infer", "v2_infer")):
            runs = r[f"{key}_1row_run_medians_ms"]
            median = statistics.median(runs)
            spread = ", ".join(f"{m:.3f}" for m in runs)
            parts.append(f"{label} {median:.3f} [{spread}] ({median / predict:.2f}x)")
        print(f"{r['model']:24} " + "; ".join(parts))
    print(
        f"Cold model load (first request to a second model, {len(cold_model)} fresh model "
        f"sets): median {statistics.median(cold_model) * 1000:.1f} ms, "
        f"{min(cold_model) * 1000:.1f}-{max(cold_model) * 1000:.1f} ms; warm "
        f"/models/<name>/predict afterwards: see the tests' load figures"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "realtime.json").write_text(
        json.dumps({"models": table, "cold_model_load_s": cold_model}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
