"""Peak memory of the batch scoring code, measured in a process of its own.

The file is scored from local disk (:class:`infra.local_disk_s3.LocalDiskS3`: moto would
hold every object in memory) by :func:`predictor.batch.run.score_object`, in a fresh
interpreter that reports its own high-water mark, ``VmHWM`` from ``/proc/self/status``.
``ru_maxrss`` would not do: a child's starts from its parent's peak at fork, so a
benchmark that peaked at 1 GB would read at least 1 GB for every child, whatever the
child does. ``VmHWM`` belongs to the address space, which ``exec`` replaces.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.local_env import ROOT

_CHILD = """
import json, sys, time
from infra.local_disk_s3 import LocalDiskS3
from predictor.batch.run import score_object
from predictor.models.registry import RegistryReader
from predictor.io.s3_store import ObjectRef

store, version, key, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s3 = LocalDiskS3(store)
model = RegistryReader(s3, "models").load_onnx("wine", version, inference_threads=0)
obj = ObjectRef("data", key, s3.etag("data", key))
started = time.perf_counter()
report = score_object(s3, obj, lambda: model, chunk_rows=chunk, seconds_left=lambda: 1e9)
seconds = time.perf_counter() - started
status = open("/proc/self/status").read()
peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
result = {"seconds": seconds, "rows": report.rows.to_dict(), "peak_rss_mb": peak_kb / 1024}
print(json.dumps(result))
"""


def peak_memory(store: Path, version: str, key: str, chunk_rows: int) -> dict[str, Any]:
    """Score ``data/<key>`` under ``store`` in a fresh process: its seconds, rows, peak MB."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(store), version, key, str(chunk_rows)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    result["file_mb"] = (store / "data" / key).stat().st_size / 1e6
    return result


def publish_to_disk(store: Path, version: str, files: Mapping[str, bytes]) -> None:
    """Put a model version's files (manifest.json, model.onnx, its monitoring baseline)
    where the child's registry reads them.
    """
    from infra.local_disk_s3 import LocalDiskS3

    local = LocalDiskS3(store)
    for name, body in files.items():
        local.put_object(Bucket="models", Key=f"models/wine/{version}/{name}", Body=body)
