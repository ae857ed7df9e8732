"""A sampled request and its answer, stored whole in SageMaker Model Monitor's capture format
(``captureData`` with ``endpointInput`` and ``endpointOutput``, ``eventMetadata``).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from predictor.io import s3_store
from predictor.monitoring.layout import capture_key


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and its answer, as a sampled capture record holds them."""

    content_type: str
    body: str | bytes
    answer_type: str
    answer: str | bytes

    def to_record(self, when: float) -> dict[str, Any]:
        """SageMaker's data capture record (one line of a ``.jsonl`` file)."""
        return {
            "captureData": {
                "endpointInput": captured_record(self.content_type, self.body, "INPUT"),
                "endpointOutput": captured_record(self.answer_type, self.answer, "OUTPUT"),
            },
            "eventMetadata": {
                "eventId": str(uuid.uuid4()),
                "inferenceTime": datetime.fromtimestamp(when, UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
            },
            "eventVersion": "0",
        }


def captured_record(content_type: str, data: str | bytes, mode: str) -> dict[str, str]:
    if isinstance(data, bytes):
        text, encoding = base64.b64encode(data).decode(), "BASE64"
    else:
        text = data
        encoding = "CSV" if "csv" in content_type else "JSON"
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


#: Sampled requests kept in memory while they cannot be stored.
MAX_UNSTORED_SAMPLES = 1000


def store_samples(
    s3: Any,
    bucket: str,
    writer: str,
    samples: dict[tuple[str, str], list[dict[str, Any]]],
    sequence: int,
    now: float,
    failed: Callable[[str], None],
) -> int:
    """Store each model version's sampled exchanges as one JSON Lines object; the next
    sequence number. What cannot be stored stays in ``samples`` (the newest
    MAX_UNSTORED_SAMPLES) for the next flush."""
    for (name, version), records in list(samples.items()):
        if not records:
            continue
        sequence += 1
        key = capture_key(name, version, datetime.fromtimestamp(now, UTC), writer, sequence)
        body = "".join(json.dumps(r) + "\n" for r in records).encode()
        try:
            s3_store.put_bytes(s3, bucket, key, body, "application/jsonlines")
        except Exception:
            failed(f"capture could not store sampled requests of {name} {version}")
            del records[: max(0, len(records) - MAX_UNSTORED_SAMPLES)]
            continue
        samples[(name, version)] = []
    return sequence
