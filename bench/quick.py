"""The headline ratios in under three minutes, for a change's closing note: batch
throughput against bare pandas, and (bench/peers.py at one model, fewer rounds) the
realtime latency, cold start and loopback throughput against MLflow, BentoML, Flask and
plain ``pipeline.predict``. ``make bench-quick``; the full figures stay ``make bench``'s.
Writes results/quick.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import peers
from bench.batch import CHUNK, bare_pandas, generate_csv, through_handler
from bench.realtime import RESULTS

#: Rows of the batch file (the full bench scores a million).
BATCH_ROWS = 200_000
MODEL = "linear"


def batch_ratio() -> dict[str, float]:
    """The batch handler against chunked pandas on one file, same model, same run."""
    from infra.local_env import DATA_BUCKET, MODEL_BUCKET, LocalAws, function_environment

    local = LocalAws().start()
    os.environ.update(
        function_environment(
            local.endpoint, "wine", BATCH_CHUNK_ROWS=str(CHUNK), INFERENCE_THREADS="0",
            POWERTOOLS_LOG_LEVEL="WARNING", CAPTURE_BUCKET=DATA_BUCKET,
        )
    )  # fmt: skip
    try:
        from bench.models import train_and_promote
        from training.registry_admin import ModelRegistry

        version = train_and_promote(local.s3, MODEL_BUCKET, MODEL)["version"]
        pipeline = ModelRegistry(local.s3, MODEL_BUCKET).load_joblib("wine", version).predictor
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / "input.csv"
            generate_csv(source, BATCH_ROWS)
            bare = bare_pandas(source, pipeline.pipeline, Path(folder) / "bare.csv")  # type: ignore[attr-defined]
            with contextlib.redirect_stdout(io.StringIO()):  # the handler's metrics lines
                handler, report, _ = through_handler(local.s3, source, "quick")
        assert report["rows"]["scored"] == BATCH_ROWS, report
    finally:
        local.stop()
    return {"rows": BATCH_ROWS, "handler_rows_per_s": BATCH_ROWS / handler,
            "bare_rows_per_s": BATCH_ROWS / bare, "ratio": bare / handler}  # fmt: skip


def main() -> int:
    began = time.monotonic()
    batch = batch_ratio()
    print(
        f"Batch ({MODEL}, {BATCH_ROWS:,} rows): handler {batch['handler_rows_per_s']:,.0f} rows/s, "
        f"bare pandas {batch['bare_rows_per_s']:,.0f} rows/s: {batch['ratio']:.2f}x\n",
        flush=True,
    )
    peers.main(["--quick", "--models", MODEL])
    seconds = time.monotonic() - began
    found = json.loads((RESULTS / "peers-quick.json").read_text())
    (RESULTS / "quick.json").write_text(
        json.dumps({"batch": batch, "peers": found, "seconds": seconds}, indent=2)
    )
    print(f"\nmake bench-quick took {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
