"""Batch throughput and memory, beside bare pandas + scikit-learn.

1. Throughput: a generated 1,000,000-row x 13-column CSV scored by the batch Lambda
   handler against moto's threaded server, beside bare local pandas (chunked
   ``read_csv`` + the same model's scikit-learn pipeline + ``to_csv``), same run.
2. Memory: peak RSS of the same streaming code scoring 100 MB and 1 GB files from local
   disk (a file-backed stand-in for the S3 client, so only this code's memory counts).

Run with ``make bench``; writes results/batch.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
BUCKET_MODELS, BUCKET_DATA = "bench-models", "bench-data"
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


def through_handler(path: Path, name: str) -> tuple[float, dict[str, Any]]:
    """Seconds for the batch handler to score ``path`` uploaded as ``incoming/<name>.csv``."""
    import boto3

    from batch import app

    s3 = boto3.client("s3")
    key = f"incoming/{name}.csv"
    s3.upload_file(str(path), BUCKET_DATA, key)
    etag = s3.head_object(Bucket=BUCKET_DATA, Key=key)["ETag"].strip('"')
    notification = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": BUCKET_DATA},
                    "object": {"key": key, "eTag": etag},
                },
            }
        ]
    }

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "bench", 3008, "bench"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

        def get_remaining_time_in_millis(self) -> int:
            return 900_000

    started = time.perf_counter()
    result = app.lambda_handler(notification, Context())
    return time.perf_counter() - started, result["reports"][0]


MEMORY_CHILD = """
import json, resource, time
from bench.local_s3 import LocalDiskS3
from predictor.batch import InputObject, score_object
from predictor.registry import ModelRegistry
s3 = LocalDiskS3({store!r})
model = ModelRegistry(s3, "models").load_onnx("wine", {version!r})
obj = InputObject("data", "incoming/big.csv", s3.etag("data", "incoming/big.csv"))
started = time.perf_counter()
report = score_object(s3, obj, lambda: model, chunk_rows={chunk}, seconds_left=lambda: 1e9)
print(json.dumps({{"seconds": time.perf_counter() - started, "rows": report["rows"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def peak_memory(store: Path, version: str, sample: Path, copies: int) -> dict[str, Any]:
    """Score ``sample``'s rows repeated ``copies`` times, from local disk, in a fresh process."""
    data = store / "data" / "incoming"
    data.mkdir(parents=True, exist_ok=True)
    big = data / "big.csv"
    header, _, body = sample.read_bytes().partition(b"\n")
    with big.open("wb") as out:
        out.write(header + b"\n")
        for _ in range(copies):
            out.write(body)
    code = MEMORY_CHILD.format(
        store=str(store),
        version=version,
        chunk=CHUNK,
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["file_mb"] = big.stat().st_size / 1e6
    big.unlink()
    return dict(result)


def main() -> int:
    import boto3
    from moto.server import ThreadedMotoServer

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        MODEL_BUCKET=BUCKET_MODELS,
        MODEL_NAME="wine",
        BATCH_CHUNK_ROWS=str(CHUNK),
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_NAMESPACE="Bench",
        LOG_LEVEL="WARNING",
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET_MODELS)
    s3.create_bucket(Bucket=BUCKET_DATA)

    from bench.models import CANDIDATES, train_and_promote
    from predictor.registry import ModelRegistry

    models = sys.argv[1:] or list(CANDIDATES)
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    source = work / "input.csv"
    generate_csv(source, ROWS)
    table = []
    for kind in models:
        version = train_and_promote(s3, BUCKET_MODELS, kind)["version"]
        pipeline = ModelRegistry(s3, BUCKET_MODELS).load_joblib("wine", version).predictor
        bare = bare_pandas(source, pipeline.pipeline, work / "bare.csv")  # type: ignore[attr-defined]
        from batch import app

        app._cache = None
        handler, report = through_handler(source, kind)
        assert report["rows"]["scored"] == ROWS, report
        table.append(
            {
                "model": kind,
                "rows": ROWS,
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

    # Memory from local disk: the registry and data live in a folder, not in moto.
    from bench.local_s3 import LocalDiskS3

    store = work / "store"
    local = LocalDiskS3(store)
    registry = ModelRegistry(s3, BUCKET_MODELS)
    manifest = registry.manifest("wine", registry.resolve("wine", "production"))
    for name in ("model.onnx", "manifest.json"):
        body = s3.get_object(Bucket=BUCKET_MODELS, Key=f"models/wine/{manifest['version']}/{name}")
        local.put_object(
            Bucket="models",
            Key=f"models/wine/{manifest['version']}/{name}",
            Body=body["Body"].read(),
        )
    server.stop()
    sample = work / "sample.csv"
    generate_csv(sample, 1_150_000, seed=1)  # about 100 MB
    memory = [peak_memory(store, manifest["version"], sample, copies) for copies in (1, 10)]
    for m in memory:
        print(
            f"{m['file_mb']:,.0f} MB: peak RSS {m['peak_rss_mb']:.0f} MB, "
            f"{m['rows']['scored'] / m['seconds']:,.0f} rows/s",
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
