"""What monitoring's capture costs: the 1-row realtime p50 and batch scoring throughput,
with capture off and on, and with predictions kept for the labels (feedback).

Off, on and kept alternate, REPEATS times each, in this process, so that a change in the
machine's load hits all; the figures are the medians of the runs and their spread.
Realtime: the handler with ``CAPTURE_BUCKET`` unset, then set (the container's thread
counting the noted requests every ``COUNT_SECONDS`` and storing every 60 s, as deployed),
then set with ``KEEP_PREDICTIONS`` (each answer's id, output and input kept as well),
30,000 calls a run; the stored profiles must hold every request made, and the kept
predictions every request of the kept runs. Batch:
a wine file scored chunk by chunk (what the batch function does between reading and
writing), with the version's baseline (every row counted into its bins) and without
one. Writes results/capture.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.batch import generate_csv
from bench.models import train_and_promote
from bench.realtime import RESULTS, ROOT, percentile, timed
from infra.lambda_context import LambdaContext
from infra.local_env import DATA_BUCKET, MODEL_BUCKET, LocalAws, function_environment

REPEATS = 5
#: Calls per realtime run: about 3 s, so that the capture thread counts the queue many times
#: during the measurement, as it does between a busy container's requests.
REALTIME_CALLS = 30_000
BATCH_ROWS = 200_000
CHUNK_ROWS = 50_000


def _spread(values: list[float]) -> str:
    return f"{min(values):.4g}-{max(values):.4g}"


def realtime(event: dict[str, Any]) -> dict[str, Any]:
    from realtime import app

    context = LambdaContext("bench")
    modes = ("off", "on", "kept")
    medians: dict[str, list[float]] = {mode: [] for mode in modes}
    p99s: dict[str, list[float]] = {mode: [] for mode in modes}
    counted = kept = 0
    for _ in range(REPEATS):
        for mode in modes:
            if mode == "off":
                os.environ.pop("CAPTURE_BUCKET", None)
            else:
                os.environ["CAPTURE_BUCKET"] = DATA_BUCKET
            os.environ["KEEP_PREDICTIONS"] = "true" if mode == "kept" else "false"
            app.container.reset()
            with contextlib.redirect_stdout(io.StringIO()):  # the metrics lines
                for _ in range(200):  # load the model, warm up
                    assert app.lambda_handler(event, context)["statusCode"] == 200
                samples = timed(lambda: app.lambda_handler(event, context), REALTIME_CALLS)
            medians[mode].append(statistics.median(samples))
            p99s[mode].append(percentile(samples, 0.99))
            capture = app.container.get().capture
            if capture is not None:
                capture.flush()
                counted += 200 + len(samples)
                kept += (200 + len(samples)) if mode == "kept" else 0
    os.environ.pop("CAPTURE_BUCKET", None)
    os.environ.pop("KEEP_PREDICTIONS", None)

    def paired(top: str, bottom: str) -> list[float]:
        return [a / b for a, b in zip(medians[top], medians[bottom], strict=True)]

    def ratio(top: str, bottom: str) -> float:
        return statistics.median(medians[top]) / statistics.median(medians[bottom])

    return {
        **{f"{mode}_median_ms": statistics.median(medians[mode]) for mode in modes},
        **{f"{mode}_run_medians_ms": medians[mode] for mode in modes},
        **{f"{mode}_p99_ms": statistics.median(p99s[mode]) for mode in modes},
        "ratio_on_off": ratio("on", "off"),
        "paired_ratios": paired("on", "off"),
        "ratio_kept_on": ratio("kept", "on"),
        "paired_ratios_kept_on": paired("kept", "on"),
        "ratio_kept_off": ratio("kept", "off"),
        "requests_counted": counted,
        "requests_kept": kept,
    }


def batch(s3: Any, version: str) -> dict[str, Any]:
    from predictor.batch.chunks import ChunkScorer
    from predictor.io.csv.lines import open_text
    from predictor.io.csv.stream import CsvStream
    from predictor.models.registry import LoadedModel, RegistryReader

    model = RegistryReader(s3, MODEL_BUCKET).load_onnx("wine", version, inference_threads=0)
    assert model.baseline is not None
    without = LoadedModel(model.manifest, model.predictor, None)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wine.csv"
        generate_csv(path, BATCH_ROWS)
        data = path.read_bytes()

    def score(loaded: LoadedModel) -> tuple[float, int]:
        started = time.perf_counter()
        stream = CsvStream(open_text(io.BytesIO(data), gzipped=False))
        scorer = ChunkScorer(loaded, stream.columns, stream.delimiter)
        for chunk in stream.chunks(CHUNK_ROWS, scorer.check_record):
            scorer.score(chunk)
        seconds = time.perf_counter() - started
        assert scorer.rows.scored == BATCH_ROWS
        profile = scorer.profile
        counted = sum(int(c.counts.sum()) for c in profile.columns.values())
        if profile.prediction is not None:
            counted += int(profile.prediction.counts.sum())
        return BATCH_ROWS / seconds, counted

    rates: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(REPEATS):
        rate, counted = score(without)
        assert counted == 0
        rates["off"].append(rate)
        rate, counted = score(model)
        assert counted == BATCH_ROWS * 12  # 11 features and the prediction
        rates["on"].append(rate)
    paired = [on / off for on, off in zip(rates["on"], rates["off"], strict=True)]
    return {
        "rows": BATCH_ROWS,
        "off_rows_per_s": statistics.median(rates["off"]),
        "on_rows_per_s": statistics.median(rates["on"]),
        "off_runs": rates["off"],
        "on_runs": rates["on"],
        "ratio_on_off": statistics.median(rates["on"]) / statistics.median(rates["off"]),
        "paired_ratios": paired,
    }


def _stored_rows(s3: Any) -> int:
    """The rows the realtime runs' stored profiles counted (one profile per container)."""
    from predictor.io import s3_store
    from predictor.monitoring.layout import PROFILES

    return sum(
        json.loads(s3_store.get_bytes(s3, DATA_BUCKET, key) or b"{}").get("rows", 0)
        for key in s3_store.list_keys(s3, DATA_BUCKET, PROFILES)
    )


def _kept_rows(s3: Any) -> int:
    """The rows the kept runs stored for joining with labels."""
    from predictor.io import s3_store
    from predictor.monitoring.kept import read_kept
    from predictor.monitoring.layout import KEPT

    return sum(
        sum(1 for _ in read_kept(s3_store.get_bytes(s3, DATA_BUCKET, key) or b""))
        for key in s3_store.list_keys(s3, DATA_BUCKET, KEPT)
    )


def main() -> int:
    local = LocalAws().start()
    os.environ.update(function_environment(local.endpoint, "wine", POWERTOOLS_LOG_LEVEL="WARNING"))
    try:
        manifest = train_and_promote(local.s3, MODEL_BUCKET, "linear")
        event = json.loads((ROOT / "events/realtime_predict_json.json").read_text())
        row = json.loads(event["body"])["instances"][0]
        event["body"] = json.dumps({"instances": [row]})
        results = {"realtime_1row": realtime(event)}
        stored = _stored_rows(local.s3)
        counted = results["realtime_1row"]["requests_counted"]
        assert stored == counted, f"profiles hold {stored} rows, {counted} requests were made"
        kept, made = _kept_rows(local.s3), results["realtime_1row"]["requests_kept"]
        assert kept == made, f"{kept} predictions kept, {made} requests were made"
        results["batch"] = batch(local.s3, manifest["version"])
    finally:
        local.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "capture.json").write_text(json.dumps(results, indent=2))
    rt, bt = results["realtime_1row"], results["batch"]
    print(f"Capture (linear model, off and on alternating, {REPEATS} runs each)")
    print(
        f"  realtime 1-row p50  off {rt['off_median_ms']:.4f} ms  on {rt['on_median_ms']:.4f} ms"
        f"  on/off {rt['ratio_on_off']:.3f} (paired runs {_spread(rt['paired_ratios'])});"
        f" {rt['requests_counted']} requests, all counted in the stored profiles"
    )
    print(
        f"  kept for labels     p50 {rt['kept_median_ms']:.4f} ms  kept/on"
        f" {rt['ratio_kept_on']:.3f} (paired runs {_spread(rt['paired_ratios_kept_on'])})"
        f"  kept/off {rt['ratio_kept_off']:.3f}; {rt['requests_kept']} predictions, all kept"
    )
    print(
        f"  realtime 1-row p99  off {rt['off_p99_ms']:.4f} ms  on {rt['on_p99_ms']:.4f} ms"
        f"  kept {rt['kept_p99_ms']:.4f} ms"
    )
    print(
        f"  batch rows/s        off {bt['off_rows_per_s']:,.0f}  on {bt['on_rows_per_s']:,.0f}"
        f"  on/off {bt['ratio_on_off']:.3f} (paired runs {_spread(bt['paired_ratios'])})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
