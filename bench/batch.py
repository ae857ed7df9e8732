"""Batch throughput and memory, beside bare pandas + scikit-learn.

1. Throughput: a generated 1,000,000-row x 13-column CSV scored by the batch Lambda
   handler against moto's threaded server, beside bare local pandas (chunked
   ``read_csv`` + the same model's scikit-learn pipeline + ``to_csv``), same run.
2. Memory: peak RSS of the same streaming code scoring 100 MB and 1 GB files from local
   disk (a file-backed stand-in for the S3 client, so only this code's memory counts),
   read from the scoring process's own high-water mark (see infra.batch_memory).

Run with ``make bench``; writes results/batch.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from infra.batch_memory import peak_memory, publish_to_disk
from infra.lambda_context import LambdaContext
from infra.local_env import DATA_BUCKET, MODEL_BUCKET, LocalAws, function_environment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
ROWS = 1_000_000
CHUNK = 50_000


def generate_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Wine-like rows (11 features, quality, and an id column: 13 columns), semicolons."""
    import pandas as pd

    wine = pd.read_csv(ROOT / "data" / "winequality-red.csv", sep=";")
    rng = np.random.default_rng(seed)
    with path.open("w") as out:
        header = True
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            sample = wine.sample(n=n, replace=True, random_state=rng.integers(1 << 31))
            noise = rng.normal(1.0, 0.02, size=(n, 11))
            features = sample.iloc[:, :11] * noise
            frame = features.round(4)
            frame["quality"] = sample["quality"].to_numpy()
            frame.insert(0, "id", np.arange(start, start + n))
            frame.to_csv(out, sep=";", index=False, header=header)
            header = False


def bare_pandas(path: Path, pipeline: Any, out: Path) -> float:
    """Seconds for chunked read_csv + pipeline.predict + to_csv of every column."""
    import pandas as pd

    started = time.perf_counter()
    with out.open("w") as sink:
        for i, chunk in enumerate(pd.read_csv(path, sep=";", chunksize=CHUNK)):
            chunk["prediction"] = pipeline.predict(chunk)
            chunk.to_csv(sink, sep=";", index=False, header=i == 0)
    return time.perf_counter() - started


def through_handler(s3: Any, path: Path, name: str) -> tuple[float, dict[str, Any], int]:
    """Seconds for the batch handler to score ``path`` uploaded as ``incoming/<name>.csv``,
    its report, and the size of the predictions it wrote."""
    from batch import app

    key = f"incoming/{name}.csv"
    s3.upload_file(str(path), DATA_BUCKET, key)
    etag = s3.head_object(Bucket=DATA_BUCKET, Key=key)["ETag"].strip('"')
    notification = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": DATA_BUCKET},
                    "object": {"key": key, "eTag": etag},
                },
            }
        ]
    }
    started = time.perf_counter()
    result = app.lambda_handler(notification, LambdaContext("bench", memory_limit_in_mb=3008))
    seconds = time.perf_counter() - started
    written = s3.head_object(Bucket=DATA_BUCKET, Key=f"predictions/{name}.csv")["ContentLength"]
    return seconds, result["reports"][0], written


def peak_memory_of_copies(store: Path, version: str, sample: Path, copies: int) -> dict[str, Any]:
    """Peak memory scoring ``sample``'s rows repeated ``copies`` times, from local disk."""
    data = store / "data" / "incoming"
    data.mkdir(parents=True, exist_ok=True)
    big = data / "big.csv"
    header, _, body = sample.read_bytes().partition(b"\n")
    with big.open("wb") as out:
        out.write(header + b"\n")
        for _ in range(copies):
            out.write(body)
    try:
        return peak_memory(store, version, "incoming/big.csv", CHUNK)
    finally:
        big.unlink()


def main() -> int:
    local = LocalAws().start()
    os.environ.update(
        function_environment(
            local.endpoint,
            "wine",
            BATCH_CHUNK_ROWS=str(CHUNK),
            INFERENCE_THREADS="0",  # as the template configures the batch function
            POWERTOOLS_LOG_LEVEL="WARNING",
            CAPTURE_BUCKET=DATA_BUCKET,  # as deployed: capture is on by default
        )
    )
    s3 = local.s3

    from batch import app
    from bench.models import CANDIDATES, train_and_promote
    from training.registry_admin import ModelRegistry

    models = sys.argv[1:] or list(CANDIDATES)
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    source = work / "input.csv"
    generate_csv(source, ROWS)
    table = []
    registry = ModelRegistry(s3, MODEL_BUCKET)
    for kind in models:
        version = train_and_promote(s3, MODEL_BUCKET, kind)["version"]
        pipeline = registry.load_joblib("wine", version).predictor
        bare = bare_pandas(source, pipeline.pipeline, work / "bare.csv")  # type: ignore[attr-defined]
        app.container.reset()  # a new container for each model
        handler, report, output_bytes = through_handler(s3, source, kind)
        assert report["rows"]["scored"] == ROWS, report
        table.append(
            {
                "model": kind,
                "rows": ROWS,
                "file_bytes": source.stat().st_size,
                "output_bytes": output_bytes,
                "bare_rows_per_s": ROWS / bare,
                "handler_rows_per_s": ROWS / handler,
                "ratio": bare / handler,
            }
        )
        print(
            f"{kind}: handler {ROWS / handler:,.0f} rows/s, bare pandas {ROWS / bare:,.0f} "
            f"rows/s, ratio {bare / handler:.2f}x",
            flush=True,
        )

    # Memory from local disk, in a process of its own (see infra.batch_memory).
    version = registry.resolve("wine", "production")
    manifest = registry.manifest("wine", version)
    store = work / "store"
    files = {name: registry.read_artifact(manifest, name) for name in manifest["artifacts"]}
    publish_to_disk(store, version, {**files, "manifest.json": json.dumps(manifest).encode()})
    local.stop()
    sample = work / "sample.csv"
    generate_csv(sample, 1_150_000, seed=1)  # about 100 MB
    memory = [peak_memory_of_copies(store, version, sample, copies) for copies in (1, 10)]
    for m in memory:
        print(
            f"{m['file_mb']:,.0f} MB: peak RSS {m['peak_rss_mb']:.0f} MB (the scoring "
            f"process's own VmHWM), {m['rows']['scored'] / m['seconds']:,.0f} rows/s",
            flush=True,
        )
    growth = memory[1]["peak_rss_mb"] / memory[0]["peak_rss_mb"] - 1
    print(
        f"peak RSS growth from {memory[0]['file_mb']:.0f} MB to {memory[1]['file_mb']:.0f} MB "
        f"input: {growth:+.1%}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "batch.json").write_text(
        json.dumps({"throughput": table, "memory": memory, "rss_growth": growth}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
