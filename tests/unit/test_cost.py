"""The cost table's arithmetic, on figures small enough to check by hand."""

from __future__ import annotations

import json

import pytest

from bench import cost
from infra.cfn_yaml import load_template
from tests.helpers import ROOT

PRICES = json.loads((ROOT / "bench" / "prices.json").read_text())
TEMPLATE = load_template(ROOT / "template.yaml")
ROW = {
    "model": "m",
    "handler_1row_median_ms": 0.12,  # billed as 1 ms
    "sklearn_1row_median_ms": 1.6,  # billed as 2 ms
    "log_bytes_per_request": 500,
    "request_bytes": 300,
    "response_bytes": 200,
    "cold_handler_s": 0.5,
}


def test_memory_comes_from_the_template() -> None:
    assert cost.memory_gb(TEMPLATE, "RealtimeFunction") == 1.0
    assert cost.memory_gb(TEMPLATE, "BatchFunction") == 2.0


def test_lambda_components_per_million() -> None:
    parts = cost.lambda_per_million(PRICES, ROW, 1.0, "x86_64", "HttpApi", 100_000_000)
    assert parts["requests"] == pytest.approx(0.20)
    assert parts["compute"] == pytest.approx(0.001 * 1.0 * 0.0000166667 * 1e6)  # $0.0167
    assert parts["front_door"] == pytest.approx(1.00)
    assert parts["logs"] == pytest.approx((500 + 390 + 4 * 26) * 1e6 / 1e9 * 0.50)
    url = cost.lambda_per_million(PRICES, ROW, 1.0, "arm64", "FunctionUrl", 100_000_000)
    assert url["front_door"] == 0.0
    assert url["compute"] == pytest.approx(parts["compute"] * 0.8, rel=1e-4)


def test_xray_samples_everything_below_one_request_a_second() -> None:
    assert cost.traces_per_request(PRICES, 1_000_000) == pytest.approx(1.0)  # 0.38/s
    per_second = 100_000_000 / (730 * 3600)  # 38/s: 1 a second, then 5% of the rest
    expected = (1 + 0.05 * (per_second - 1)) / per_second
    assert cost.traces_per_request(PRICES, 100_000_000) == pytest.approx(expected)


def test_sagemaker_and_container_per_million() -> None:
    serverless = cost.sagemaker_serverless_per_million(PRICES, ROW)
    assert serverless == pytest.approx(0.002 * 0.00002 * 1e6 + 500 * 1e6 / 1e9 * 0.016)
    assert cost.container_per_million(PRICES, 10_000_000) == pytest.approx(0.115 * 730 / 10)


def test_batch_per_gb() -> None:
    row = {
        "model": "m",
        "rows": 1_000_000,
        "file_bytes": 100_000_000,
        "output_bytes": 110_000_000,
        "handler_rows_per_s": 200_000,  # 5 s per file, 10 files per GB
        "bare_rows_per_s": 100_000,
    }
    (entry,) = cost.batch_costs(PRICES, TEMPLATE, [row])
    assert entry["handler_seconds_per_gb"] == pytest.approx(50.0)
    assert entry["bare_seconds_per_gb"] == pytest.approx(100.0)
    puts = (10 * 110_000_000 / (8 * 1024 * 1024) + 30) * 0.005 / 1000
    assert entry["per_gb_usd"]["Lambda x86_64"] == pytest.approx(50 * 2 * 0.0000166667 + puts)
    assert entry["per_gb_usd"]["always-on container, busy only"] == pytest.approx(
        0.115 * 100 / 3600
    )
