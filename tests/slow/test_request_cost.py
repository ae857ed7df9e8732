"""A request's cost is bounded by its size and the schema, never by their product.

Each shape below fills the byte limit (6 MiB, the template's default) in the way that was
most expensive before: rows that each carry keys of their own (work once grew with
rows x distinct keys), one row with hundreds of thousands of keys, a CSV or
``dataframe_split`` hundreds of thousands of columns wide, a flood of tiny rows past the
row limit, and deep nesting. Every one must be answered with a 4xx or a 200 within the
time and memory bounds below (measured: see the README's Reliability section).
"""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from infra.lambda_context import LambdaContext
from realtime import app
from tests.helpers import ROW, invoke, post

LIMIT = 6 * 1024 * 1024
#: Bounds for one request of up to LIMIT bytes, with room for a loaded CI machine.
MAX_SECONDS = 2.0
MAX_PEAK_MB = 200.0


def _fill(make: Callable[[int], str]) -> str:
    """The largest body ``make(n)`` builds within LIMIT bytes (n found by doubling + bisection)."""
    low, high = 1, 2
    while len(make(high)) <= LIMIT:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if len(make(middle)) <= LIMIT else (low, middle)
    return make(low)


def _distinct_keys_per_row(n: int) -> str:
    keys_per_row = max(1, n // 10_000)
    rows = [{f"k{row}_{key}": 1 for key in range(keys_per_row)} for row in range(min(n, 10_000))]
    return json.dumps({"instances": rows})


def _valid_rows_with_unknown_keys(n: int) -> str:
    extra = max(1, n // 10_000)
    rows = [{**ROW, **{f"x{row}_{key}": 1 for key in range(extra)}} for row in range(10_000)]
    return json.dumps({"instances": rows})


SHAPES: dict[str, Callable[[], tuple[str, str]]] = {
    "10k rows, distinct keys each": lambda: (
        _fill(_distinct_keys_per_row),
        "application/json",
    ),
    "10k valid rows, unknown keys each": lambda: (
        _fill(_valid_rows_with_unknown_keys),
        "application/json",
    ),
    "one row, distinct keys": lambda: (
        _fill(lambda n: json.dumps({"instances": [{f"k{i}": 1 for i in range(n)}]})),
        "application/json",
    ),
    "dataframe_split, wide": lambda: (
        _fill(
            lambda n: json.dumps(
                {"dataframe_split": {"columns": [f"c{i}" for i in range(n)], "data": [[1] * n]}}
            )
        ),
        "application/json",
    ),
    "csv, wide": lambda: (
        _fill(lambda n: ",".join(f"c{i}" for i in range(n)) + "\n" + ",".join(["1"] * n)),
        "text/csv",
    ),
    "csv, 10k rows of many columns": lambda: (
        _fill(
            lambda n: "\n".join(
                [",".join([*ROW, *(f"x{i}" for i in range(n // 10_000))])]
                + [",".join(["1"] * (len(ROW) + n // 10_000))] * 10_000
            )
        ),
        "text/csv",
    ),
    "csv, one row then line breaks": lambda: (
        _fill(lambda n: ",".join(ROW) + "\n" + ",".join(map(str, ROW.values())) + "\n" * n),
        "text/csv",
    ),
    "csv, empty rows": lambda: (_fill(lambda n: ",".join(ROW) + "\n" + ",\n" * n), "text/csv"),
    "flood of empty rows": lambda: (
        _fill(lambda n: json.dumps({"instances": [{}] * n})),
        "application/json",
    ),
    "flood of empty lists": lambda: (
        _fill(lambda n: json.dumps({"instances": [[]] * n})),
        "application/json",
    ),
    "deep nesting": lambda: ("[" * (LIMIT // 2) + "]" * (LIMIT // 2), "application/json"),
    "huge integers": lambda: (
        _fill(
            lambda n: json.dumps({"instances": [{**ROW, "pH": 0}] * max(1, n // 5000)}).replace(
                '"pH": 0', '"pH": ' + "9" * 4400
            )
        ),
        "application/json",
    ),
}


def _measure(event: dict[str, Any], context: LambdaContext) -> tuple[int, float, float]:
    """Status, seconds (untraced) and peak traced MB of one handler call.

    The test process holds every earlier test's objects, which a function's container
    does not: they are frozen out of the collector's sight while the call is timed, so
    the time is the handler's, not a full collection of this process's heap.
    """
    gc.collect()
    gc.freeze()
    try:
        started = time.perf_counter()
        status, _, _ = invoke(event, context)
        seconds = time.perf_counter() - started
    finally:
        gc.unfreeze()
    gc.collect()
    tracemalloc.start()
    try:
        invoke(event, context)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return status, seconds, peak / 2**20


@pytest.mark.parametrize("shape", list(SHAPES))
def test_request_cost_is_bounded_by_size(
    wine: str, lambda_context: LambdaContext, shape: str
) -> None:
    assert app.container.get().settings.max_request_bytes == LIMIT
    body, content_type = SHAPES[shape]()
    assert LIMIT * 0.9 < len(body.encode()) <= LIMIT, len(body)
    status, seconds, peak_mb = _measure(post(body, content_type), lambda_context)
    print(f"{shape}: {len(body) / 2**20:.1f} MiB -> {status} in {seconds:.3f} s, {peak_mb:.0f} MB")
    assert status < 500
    assert seconds <= MAX_SECONDS, f"{shape}: {seconds:.2f} s"
    assert peak_mb <= MAX_PEAK_MB, f"{shape}: {peak_mb:.0f} MB"
