"""Cost per million 1-row predictions and per GB scored, from this run's measurements.

Inputs: the durations ``bench.realtime`` and ``bench.batch`` measured (results/*.json),
the functions' memory sizes in template.yaml, and the list prices in bench/prices.json
(stated there, not fetched). What is counted:

- Lambda: requests, and compute as billed (the in-handler median rounded up to the
  billing granularity, times the function's memory); arm64 at the same duration, since
  this machine cannot measure Graviton;
- the front door: the HTTP API per request, or a Function URL (no charge of its own);
- logs: the bytes the handler printed per request (measured), Lambda's START/END/REPORT
  lines and CloudWatch's per-event overhead, at the ingestion price;
- traces: ``Tracing: Active`` records what X-Ray's default rule samples (a reservoir of
  one request a second, then a share of the rest), so their cost per request depends on
  the monthly volume;
- SageMaker Serverless Inference at 1 GB: the bare scikit-learn predict time measured
  in this run, rounded up to the millisecond, plus data processed. Its container's own
  HTTP server is not counted, so this is a lower bound;
- one always-on container: its hourly price over the month, shared by the month's
  requests (if one instance keeps up with them).

Batch, per GB of CSV: the batch function's GB-seconds at the measured handler speed plus
the multipart PUTs of its output, beside the same always-on container busy for as long
as bare pandas + scikit-learn took per GB in this run (a lower bound: no idle time).

Run after the benchmarks (``make bench`` does); prints the tables and writes
results/cost.json.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from infra.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
#: Monthly request volumes the realtime table is priced at.
MONTHLY_VOLUMES = (1_000_000, 10_000_000, 100_000_000)
#: Log events per realtime invocation: START, END, REPORT and the handler's metrics line.
EVENTS_PER_INVOCATION = 4
#: The multipart part size of batch outputs (predictor.io.s3_multipart.PART_SIZE).
PART_BYTES = 8 * 1024 * 1024


def memory_gb(template: dict[str, Any], function: str) -> float:
    """A function's configured memory in GB, as Lambda bills it (MB / 1024)."""
    return float(template["Resources"][function]["Properties"]["MemorySize"]) / 1024


def traces_per_request(prices: dict[str, Any], monthly: int) -> float:
    """Share of requests X-Ray's default rule records at an even ``monthly`` volume."""
    per_second = monthly / (prices["hours_per_month"] * 3600)
    rule = prices["xray_default_sampling"]
    reservoir = min(per_second, rule["reservoir_per_second"])
    sampled = reservoir + rule["rate"] * max(per_second - rule["reservoir_per_second"], 0.0)
    return sampled / per_second


def lambda_per_million(
    prices: dict[str, Any], row: dict[str, Any], gb: float, arch: str, front_door: str, monthly: int
) -> dict[str, float]:
    """One million 1-row requests through Lambda, by component."""
    granularity = prices["lambda_billing_granularity_ms"]
    billed_ms = math.ceil(row["handler_1row_median_ms"] / granularity) * granularity
    log_bytes = (
        row["log_bytes_per_request"]
        + prices["lambda_platform_log_bytes_per_invocation"]
        + EVENTS_PER_INVOCATION * prices["cloudwatch_log_event_overhead_bytes"]
    )
    door = "http_api" if front_door == "HttpApi" else "function_url"
    return {
        "requests": prices["lambda_requests_per_million"],
        "compute": billed_ms / 1000 * gb * prices["lambda_gb_second"][arch] * 1e6,
        "front_door": prices[f"{door}_requests_per_million"],
        "logs": log_bytes * 1e6 / 1e9 * prices["cloudwatch_logs_ingested_per_gb"],
        "traces": traces_per_request(prices, monthly) * prices["xray_traces_recorded_per_million"],
    }


def sagemaker_serverless_per_million(prices: dict[str, Any], row: dict[str, Any]) -> float:
    """One million 1-row requests on SageMaker Serverless Inference (a lower bound)."""
    serverless = prices["sagemaker_serverless"]
    billed_seconds = math.ceil(row["sklearn_1row_median_ms"]) / 1000
    data_gb = (row["request_bytes"] + row["response_bytes"]) * 1e6 / 1e9
    return (
        billed_seconds * serverless["per_second"] * 1e6
        + data_gb * serverless["data_processed_per_gb"]
    )


def container_per_million(prices: dict[str, Any], monthly: int) -> float:
    """One always-on container's month, per million of ``monthly`` requests."""
    month = prices["always_on_container"]["per_hour"] * prices["hours_per_month"]
    return month / (monthly / 1e6)


def realtime_costs(
    prices: dict[str, Any], template: dict[str, Any], rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    gb = memory_gb(template, "RealtimeFunction")
    table = []
    for row in rows:
        for monthly in MONTHLY_VOLUMES:
            options: dict[str, float] = {}
            parts: dict[str, dict[str, float]] = {}
            for arch in ("x86_64", "arm64"):
                for door in ("HttpApi", "FunctionUrl"):
                    name = f"Lambda {arch} + {'HTTP API' if door == 'HttpApi' else 'Function URL'}"
                    parts[name] = lambda_per_million(prices, row, gb, arch, door, monthly)
                    options[name] = sum(parts[name].values())
            options["SageMaker Serverless 1 GB"] = sagemaker_serverless_per_million(prices, row)
            options["always-on container"] = container_per_million(prices, monthly)
            table.append(
                {
                    "model": row["model"],
                    "monthly_requests": monthly,
                    "per_million_usd": options,
                    "lambda_components_usd": parts,
                }
            )
    return table


def cold_start_costs(
    prices: dict[str, Any], template: dict[str, Any], rows: list[dict[str, Any]]
) -> dict[str, float]:
    """INIT is billed: USD per 1,000 cold starts at the measured cold start, x86_64."""
    gb = memory_gb(template, "RealtimeFunction")
    rate = prices["lambda_gb_second"]["x86_64"]
    return {row["model"]: row["cold_handler_s"] * gb * rate * 1000 for row in rows}


def batch_costs(
    prices: dict[str, Any], template: dict[str, Any], rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    gb = memory_gb(template, "BatchFunction")
    table = []
    for row in rows:
        files_per_gb = 1e9 / row["file_bytes"]
        handler_seconds = files_per_gb * row["rows"] / row["handler_rows_per_s"]
        bare_seconds = files_per_gb * row["rows"] / row["bare_rows_per_s"]
        parts = files_per_gb * row["output_bytes"] / PART_BYTES
        puts = (parts + 3 * files_per_gb) * prices["s3_put_requests_per_thousand"] / 1000
        options = {
            f"Lambda {arch}": handler_seconds * gb * prices["lambda_gb_second"][arch] + puts
            for arch in ("x86_64", "arm64")
        }
        container = prices["always_on_container"]["per_hour"] * bare_seconds / 3600
        options["always-on container, busy only"] = container
        table.append(
            {
                "model": row["model"],
                "handler_seconds_per_gb": handler_seconds,
                "bare_seconds_per_gb": bare_seconds,
                "per_gb_usd": options,
            }
        )
    return table


def main() -> int:
    prices = json.loads((ROOT / "bench" / "prices.json").read_text())
    template = load_template(ROOT / "template.yaml")
    realtime = json.loads((RESULTS / "realtime.json").read_text())["models"]
    batch = json.loads((RESULTS / "batch.json").read_text())["throughput"]
    realtime_table = realtime_costs(prices, template, realtime)
    cold = cold_start_costs(prices, template, realtime)
    batch_table = batch_costs(prices, template, batch)

    print(
        f"Cost per million 1-row predictions, USD ({prices['region']} list prices from "
        "bench/prices.json; Lambda billed per ms, logs and X-Ray traces included)"
    )
    names = list(realtime_table[0]["per_million_usd"])
    print(f"{'model':24} {'requests/month':>15} " + " ".join(f"{n:>28}" for n in names))
    for entry in realtime_table:
        costs = " ".join(f"{entry['per_million_usd'][n]:28.2f}" for n in names)
        print(f"{entry['model']:24} {entry['monthly_requests']:15,} {costs}")
    first = realtime_table[0]
    print("Lambda x86_64 + HTTP API by component at 1M and 100M requests a month:")
    for entry in (first, realtime_table[len(MONTHLY_VOLUMES) - 1]):
        components = entry["lambda_components_usd"]["Lambda x86_64 + HTTP API"]
        shown = ", ".join(f"{k} {v:.3f}" for k, v in components.items())
        print(f"  {entry['monthly_requests']:>11,}: {shown}")
    print(
        "Cold starts (INIT is billed): USD per 1,000 at the measured cold start: "
        + ", ".join(f"{m} {c:.4f}" for m, c in cold.items())
    )
    print("Cost per GB of CSV scored, USD")
    for entry in batch_table:
        costs = ", ".join(f"{k} {v:.4f}" for k, v in entry["per_gb_usd"].items())
        print(
            f"{entry['model']:24} {entry['handler_seconds_per_gb']:6.1f} s/GB "
            f"(bare pandas {entry['bare_seconds_per_gb']:6.1f} s/GB): {costs}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cost.json").write_text(
        json.dumps(
            {
                "prices": prices,
                "realtime": realtime_table,
                "cold_start_per_thousand_usd": cold,
                "batch": batch_table,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
