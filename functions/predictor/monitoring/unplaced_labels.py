"""Labels files dropped directly under ``labels/``, where they name no model, so no
model's run reads them: each upload gets a report saying where it belongs, once.
"""

from __future__ import annotations

from typing import Any

from predictor.io import s3_store
from predictor.monitoring.feedback import LabelsReport
from predictor.monitoring.layout import LABEL_REPORTS, LABELS


def report_unplaced(s3: Any, bucket: str) -> list[str]:
    """A report for each new file directly under ``labels/`` (which names no model, so
    none can read it), saying where it belongs; what each says, to log once."""
    done = {key for key, _ in s3_store.list_uploads(s3, bucket, LABEL_REPORTS, top_level=True)}
    said = []
    for key, arrived in s3_store.list_uploads(s3, bucket, LABELS, top_level=True):
        name = key.removeprefix(LABELS)
        report_key = f"{LABEL_REPORTS}{name}@{int(arrived)}.json"
        if name and report_key not in done:  # not the console's empty "labels/" folder object
            error = (
                f"not read: labels go under {LABELS}<model>/ (move it to {LABELS}<model>/{name})"
            )
            s3_store.write_json(
                s3, bucket, report_key, LabelsReport(key, arrived, error=error).to_dict()
            )
            said.append(f"{key}: {error}")
    return said
