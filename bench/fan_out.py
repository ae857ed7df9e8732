"""A 2 GB file scored in byte ranges by the state machine, beside one invocation.

1. Generates a ~2 GB wine-like CSV and puts it twice into moto (one key per path).
2. One invocation: the batch handler in a process of its own (a "container"), as the
   template configures it, with the fan-out threshold out of reach.
3. In ranges: the batch handler starts the template's state machine, executed by moto's
   Step Functions interpreter; its range tasks run in BENCH_RANGE_WORKERS worker
   processes (default 2: this machine's cores). Wall time from the event to the end of
   the execution.
4. Checks that both paths wrote the same bytes, and reports planning and finalizing
   against the work (the range workers' seconds), per GB.
5. Models the wall time on AWS for 10 GB and 50 GB at MaxConcurrency 100 and 1,000 from
   the measured per-range throughput and overheads (the model is printed with its
   assumptions).

Run with ``make bench``; writes results/fan_out.json.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.batch import generate_csv
from infra.local_env import DATA_BUCKET, MODEL_BUCKET, LocalAws, function_environment
from infra.local_lambda import LocalFunction

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
TARGET_BYTES = 2 * 10**9
RANGE_MIB = 64
MiB = 1024 * 1024

# ----- the model of a run on AWS (assumptions, stated) ----------------------------------
# Locally, moto answers every ranged GET and part copy by reading the whole source object
# (the 2 GB input for each of the planner's windows and each range), so the local plan
# and finalize times measure moto, not the design: the model takes S3's request costs
# from these assumptions and the compute from what is measured here.
#: Step Functions: the Plan, Check and Finalize tasks' transitions and the Distributed
#: Map's start, together.
AWS_ORCHESTRATION_S = 2.0
#: A function's first invocation: Lambda's cold start and, for a range worker, the
#: model's first load (the realtime function measures about 0.4 s for both).
AWS_COLD_START_S = 1.0
#: A small ranged GET (the planner's 64 KiB windows, the checker's result documents),
#: S3_THREADS at a time.
AWS_SMALL_GET_S = 0.05
AWS_S3_THREADS = 16
#: UploadPartCopy: S3 copies a part on its side, assumed at 100 MB/s per request,
#: COPY_THREADS requests at a time.
AWS_COPY_MB_S = 100.0
AWS_COPY_THREADS = 16
#: A Lambda range worker (2,048 MB: about 1.2 vCPU) is assumed to score as fast as the
#: one-invocation run here (a process with a core of its own).


def big_file(work: Path) -> Path:
    """About TARGET_BYTES of wine-like rows: a generated million rows, repeated."""
    sample = work / "sample.csv"
    generate_csv(sample, 1_000_000)
    header, _, body = sample.read_bytes().partition(b"\n")
    copies = math.ceil(TARGET_BYTES / len(body))
    path = work / "big.csv"
    with path.open("wb") as out:
        out.write(header + b"\n")
        for _ in range(copies):
            out.write(body)
    sample.unlink()
    return path


def s3_event(s3: Any, key: str) -> dict[str, Any]:
    head = s3.head_object(Bucket=DATA_BUCKET, Key=key)
    entry = {"key": key, "eTag": head["ETag"].strip('"'), "size": head["ContentLength"]}
    if head.get("VersionId"):
        entry["versionId"] = head["VersionId"]
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": DATA_BUCKET}, "object": entry},
            }
        ]
    }


def digest(s3: Any, key: str) -> tuple[str, int]:
    body = s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"]
    hasher, size = hashlib.sha256(), 0
    for piece in iter(lambda: body.read(8 * MiB), b""):
        hasher.update(piece)
        size += len(piece)
    return hasher.hexdigest(), size


def model_aws(gigabytes: float, concurrency: int, worker_mb_s: float) -> dict[str, Any]:
    """Modelled wall time of one file on AWS (see the AWS_* assumptions):

    orchestration + plan + cold start + waves x range + check + finalize, where
    plan = cold start + header GET + one window GET per cut (S3_THREADS at a time),
    range = range bytes / worker rate, waves = ranges / MaxConcurrency (rounded up),
    check = one result GET per range, finalize = part copies (COPY_THREADS at a time).
    """
    size = gigabytes * 10**9
    range_bytes = max(RANGE_MIB * MiB, math.ceil(size / 4000))  # as predictor.batch.fan_out cuts
    ranges = math.ceil(size / range_bytes)
    waves = math.ceil(ranges / concurrency)
    range_s = range_bytes / 1e6 / worker_mb_s
    small_gets = math.ceil(ranges / AWS_S3_THREADS) * AWS_SMALL_GET_S
    plan_s = AWS_COLD_START_S + AWS_SMALL_GET_S + small_gets
    check_s = small_gets
    copy_s = math.ceil(ranges / AWS_COPY_THREADS) * range_bytes / 1e6 / AWS_COPY_MB_S
    finalize_s = AWS_SMALL_GET_S + copy_s
    wall = AWS_ORCHESTRATION_S + plan_s + AWS_COLD_START_S + waves * range_s + check_s + finalize_s
    return {
        "gb": gigabytes,
        "max_concurrency": concurrency,
        "ranges": ranges,
        "waves": waves,
        "range_s": round(range_s, 2),
        "plan_s": round(plan_s, 2),
        "check_s": round(check_s, 2),
        "finalize_s": round(finalize_s, 2),
        "wall_s": round(wall, 1),
        "overhead_share_of_work": round((plan_s + check_s + finalize_s) / (ranges * range_s), 4),
    }


def cost_per_gb(
    mb_s: float, ranges_per_gb: float, local: LocalAws, execution: str
) -> dict[str, float]:
    """List-price cost of scoring one GB in ranges (bench/prices.json), x86_64.

    Lambda: the range workers' GB-seconds at ``mb_s`` (2,048 MB each) and the control
    steps' (1,024 MB, a second each); Step Functions: the run's own state transitions
    (counted in its history) and two per range (a child execution and its task);
    S3: per range its GETs (input, result, part copy source) and PUTs (parts, result,
    progress, part copies).
    """
    prices = json.loads((ROOT / "bench" / "prices.json").read_text())
    gb_second = prices["lambda_gb_second"]["x86_64"]
    work_s = 1000 / mb_s
    history = local.states.get_execution_history(executionArn=execution)["events"]
    own = sum(1 for e in history if e["type"].endswith("StateEntered"))
    transitions = own / 2 + 2 * ranges_per_gb  # a 2 GB run's own transitions, per GB
    lambda_cost = (work_s * 2.0 + 4 * 1.0) * gb_second
    sfn = transitions * prices["step_functions_standard_transitions_per_thousand"] / 1000
    s3 = (
        ranges_per_gb
        * (3 * prices["s3_get_requests_per_thousand"] + 5 * prices["s3_put_requests_per_thousand"])
        / 1000
    )
    return {
        "lambda": lambda_cost,
        "step_functions": sfn,
        "s3_requests": s3,
        "total": lambda_cost + sfn + s3,
        "lambda_single": work_s * 2.0 * gb_second,
    }


def main() -> int:
    workers = int(os.environ.get("BENCH_RANGE_WORKERS", "2"))
    work = Path(tempfile.mkdtemp(prefix="bench-fan-out-"))
    path = big_file(work)
    size = path.stat().st_size
    local = LocalAws(states=True, range_processes=workers).start()
    os.environ.update(
        function_environment(
            local.endpoint,
            "wine",
            BATCH_CHUNK_ROWS="50000",
            INFERENCE_THREADS="0",  # as the template configures the batch functions
            POWERTOOLS_LOG_LEVEL="WARNING",
            CAPTURE_BUCKET=DATA_BUCKET,  # as deployed: capture is on by default
            POWERTOOLS_METRICS_DISABLED="true",
            FAN_OUT_STATE_MACHINE_ARN=str(local.state_machine_arn),
            FAN_OUT_MIN_MIB="256",
            FAN_OUT_RANGE_MIB=str(RANGE_MIB),
            FAN_OUT_MAX_CONCURRENCY=str(workers),
        )
    )
    s3 = local.s3
    from bench.models import train_and_promote

    train_and_promote(s3, MODEL_BUCKET, "linear")
    began = time.perf_counter()
    s3.upload_file(str(path), DATA_BUCKET, "incoming/big-single.csv")
    s3.copy_object(
        Bucket=DATA_BUCKET,
        Key="incoming/big-ranges.csv",
        CopySource={"Bucket": DATA_BUCKET, "Key": "incoming/big-single.csv"},
    )
    path.unlink()
    print(f"{size / 1e9:.2f} GB file in moto in {time.perf_counter() - began:.0f} s", flush=True)

    # One invocation, in a process of its own, the threshold out of its reach.
    single = LocalFunction(
        "BatchFunction", "batch.app:lambda_handler", processes=1,
        environment={"FAN_OUT_MIN_MIB": str(10**9)},
    )  # fmt: skip
    began = time.perf_counter()
    answer, failed = single.invoke(json.dumps(s3_event(s3, "incoming/big-single.csv")).encode())
    single_s = time.perf_counter() - began
    single.close()
    assert not failed, answer
    (single_report,) = json.loads(answer)["reports"]
    assert single_report["status"] == "succeeded", single_report
    print(f"one invocation: {single_s:.1f} s ({size / 1e6 / single_s:.1f} MB/s)", flush=True)

    # In ranges: the batch handler starts the state machine.
    from batch import app
    from infra.lambda_context import LambdaContext

    began = time.perf_counter()
    (started,) = app.lambda_handler(
        s3_event(s3, "incoming/big-ranges.csv"), LambdaContext("batch")
    )["reports"]
    execution = started["fan_out"]["execution"]
    while local.states.describe_execution(executionArn=execution)["status"] == "RUNNING":
        time.sleep(0.2)
    ranges_s = time.perf_counter() - began
    status = local.states.describe_execution(executionArn=execution)["status"]
    assert status == "SUCCEEDED", status
    report = json.loads(
        s3.get_object(Bucket=DATA_BUCKET, Key="reports/big-ranges.csv.json")["Body"].read()
    )
    fan = report["fan_out"]
    seconds = fan["seconds"]
    print(
        f"in {fan['ranges']['total']} ranges, {workers} workers: {ranges_s:.1f} s "
        f"({size / 1e6 / ranges_s:.1f} MB/s), {single_s / ranges_s:.2f}x one invocation; "
        f"plan {seconds['plan']:.2f} s, finalize {seconds['finalize']:.2f} s, "
        f"range median {seconds['range']['median']:.2f} s",
        flush=True,
    )
    same = digest(s3, "predictions/big-single.csv") == digest(s3, "predictions/big-ranges.csv")
    assert same, "the two paths wrote different predictions"
    assert report["rows"] == single_report["rows"]
    gb = size / 1e9
    overhead = (seconds["plan"] + seconds["finalize"]) / seconds["ranges_total"]
    worker_mb_s = size / 1e6 / seconds["ranges_total"]
    began = time.perf_counter()
    s3.get_object(Bucket=DATA_BUCKET, Key="incoming/big-ranges.csv", Range="bytes=0-65535")[
        "Body"
    ].read()
    moto_window_s = time.perf_counter() - began
    print(
        f"(moto: one 64 KiB ranged GET of the {gb:.1f} GB input takes {moto_window_s:.2f} s: "
        "it reads the whole object; S3 does not)",
        flush=True,
    )
    print(
        f"identical predictions ({report['rows']['scored']:,} rows); plan + finalize "
        f"{(seconds['plan'] + seconds['finalize']) / gb:.2f} s per GB = {overhead:.1%} of "
        f"the work ({seconds['ranges_total']:.0f} worker-seconds); "
        f"{worker_mb_s:.1f} MB/s per worker ({workers} workers and moto on this machine's "
        f"{os.cpu_count()} cores)",
        flush=True,
    )
    lambda_mb_s = size / 1e6 / single_s  # a process with a core of its own
    cost = cost_per_gb(lambda_mb_s, fan["ranges"]["total"] / gb, local, execution)
    print(
        f"cost per GB on AWS at that rate: Lambda ${cost['lambda']:.4f}, Step Functions "
        f"${cost['step_functions']:.4f}, S3 requests ${cost['s3_requests']:.4f}: "
        f"${cost['total']:.4f} (one invocation: ${cost['lambda_single']:.4f})",
        flush=True,
    )
    modelled = [model_aws(g, c, lambda_mb_s) for g in (10, 50) for c in (100, 1000)]
    for m in modelled:
        print(
            f"AWS model: {m['gb']} GB at MaxConcurrency {m['max_concurrency']}: "
            f"{m['ranges']} ranges in {m['waves']} wave(s) of {m['range_s']} s, plan "
            f"{m['plan_s']} s, check {m['check_s']} s, finalize {m['finalize_s']} s -> "
            f"{m['wall_s']} s (plan + check + finalize {m['overhead_share_of_work']:.1%} of "
            "the work)",
            flush=True,
        )
    local.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fan_out.json").write_text(
        json.dumps(
            {
                "file_bytes": size,
                "workers": workers,
                "single_s": single_s,
                "ranges_s": ranges_s,
                "speedup": single_s / ranges_s,
                "report": report,
                "overhead_share_of_work": overhead,
                "plan_finalize_s_per_gb": (seconds["plan"] + seconds["finalize"]) / gb,
                "worker_mb_s": worker_mb_s,
                "moto_64kib_get_s": moto_window_s,
                "cost_per_gb": cost,
                "aws_model": {
                    "assumptions": {
                        "orchestration_s": AWS_ORCHESTRATION_S,
                        "cold_start_s": AWS_COLD_START_S,
                        "copy_mb_s": AWS_COPY_MB_S,
                        "copy_threads": AWS_COPY_THREADS,
                        "small_get_s": AWS_SMALL_GET_S,
                        "s3_threads": AWS_S3_THREADS,
                        "worker_mb_s": lambda_mb_s,
                        "range_mib": RANGE_MIB,
                    },
                    "runs": modelled,
                },
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
