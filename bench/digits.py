"""The digits models' 1-row latency: the handler answering ``POST /predict`` with one
8x8 image (64 pixel columns) beside scikit-learn's ``Pipeline.predict`` of the same row.

The perceptron and the extremely randomised trees (each with its default setting) are
trained on ``data/digits.csv`` by the job as classifiers, promoted, and called
``REPEATS`` times ``CALLS`` times each; the figures are the medians of the runs' medians
and their spread. Writes results/digits.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
from typing import Any

from bench.realtime import CALLS, REPEATS, RESULTS, ROOT, timed
from infra.lambda_context import LambdaContext
from infra.local_env import MODEL_BUCKET, LocalAws, function_environment

KINDS = ("mlp", "extra_trees")


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f}-{max(values):.3f}"


def main() -> int:
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from predictor.settings import RegistryLocation
    from training.job import TrainingConfig, run_training
    from training.registry_admin import ModelRegistry

    local = LocalAws().start()
    os.environ.update(
        function_environment(local.endpoint, "digits", POWERTOOLS_LOG_LEVEL="WARNING")
    )
    table = pd.read_csv(ROOT / "data" / "digits.csv")
    image = table.drop(columns=["digit"]).iloc[[7]]
    event = json.loads((ROOT / "events/realtime_predict_json.json").read_text())
    event["body"] = json.dumps({"instances": image.to_dict(orient="records")})
    results: dict[str, Any] = {}
    try:
        from realtime import app

        registry = ModelRegistry(local.s3, MODEL_BUCKET)
        context = LambdaContext("bench")
        for kind in KINDS:
            config = TrainingConfig(
                data=str(ROOT / "data" / "digits.csv"),
                target="digit",
                name="digits",
                registry=RegistryLocation(MODEL_BUCKET),
                task="classification",
                candidates=(kind,),
                settings_per_candidate=1,
                promote="production",
                force=True,
            )
            manifest = run_training(config, local.s3).manifest
            pipeline = registry.load_joblib("digits", manifest["version"]).predictor.pipeline  # type: ignore[attr-defined]
            app.container.reset()
            with contextlib.redirect_stdout(io.StringIO()):
                answer = app.lambda_handler(event, context)
                assert answer["statusCode"] == 200, answer["body"]
                handler = [
                    statistics.median(timed(lambda: app.lambda_handler(event, context), CALLS))
                    for _ in range(REPEATS)
                ]
            with threadpool_limits(limits=1):
                bare = [
                    statistics.median(timed(lambda p=pipeline: p.predict(image), 500, 5.0))
                    for _ in range(REPEATS)
                ]
            results[kind] = {
                "holdout_accuracy": manifest["metrics"]["holdout"]["accuracy"],
                "onnx_mib": manifest["onnx"]["bytes"] / 2**20,
                "handler_1row_median_ms": statistics.median(handler),
                "handler_runs_ms": handler,
                "sklearn_1row_median_ms": statistics.median(bare),
                "sklearn_runs_ms": bare,
            }
    finally:
        local.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "digits.json").write_text(json.dumps(results, indent=2))
    print(f"Digits, 1-row POST /predict (64 pixels), {REPEATS} runs of {CALLS} calls")
    for kind, figures in results.items():
        handler, bare = figures["handler_1row_median_ms"], figures["sklearn_1row_median_ms"]
        print(
            f"  {kind:<12} handler {handler:.3f} ms ({_spread(figures['handler_runs_ms'])}),"
            f" scikit-learn {bare:.3f} ms ({_spread(figures['sklearn_runs_ms'])}):"
            f" {bare / handler:.1f}x; holdout accuracy {figures['holdout_accuracy']:.4f},"
            f" graph {figures['onnx_mib']:.2f} MiB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
