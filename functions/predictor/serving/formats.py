"""Response formats chosen by the Accept header (SageMaker's conventions).

``application/json`` (the default) is each route's own document; ``text/csv`` is one
prediction per line; ``application/jsonlines`` is one JSON object per row, with the
row's prediction and, for a classifier, its class probabilities.
"""

from __future__ import annotations

import csv
import enum
import functools
import io
import json
from typing import Any

from predictor.errors import NotAcceptableError


class ResponseFormat(enum.Enum):
    """A response body format and its media type."""

    JSON = "application/json"
    CSV = "text/csv"
    JSONLINES = "application/jsonlines"


#: Media types (and ranges) of an Accept header, to the format each one selects.
_ACCEPTED: dict[str, ResponseFormat] = {
    "application/json": ResponseFormat.JSON,
    "application/*": ResponseFormat.JSON,
    "*/*": ResponseFormat.JSON,
    "text/csv": ResponseFormat.CSV,
    "application/csv": ResponseFormat.CSV,
    "text/*": ResponseFormat.CSV,
    "application/jsonlines": ResponseFormat.JSONLINES,
    "application/jsonl": ResponseFormat.JSONLINES,
    "application/x-jsonlines": ResponseFormat.JSONLINES,
}


@functools.lru_cache(maxsize=64)  # clients send the same few Accept headers over and over
def negotiate(accept: str | None) -> ResponseFormat:
    """The format an Accept header prefers (highest q, then its order); JSON when absent.

    406 when it allows none of them.
    """
    if accept is None or not accept.strip():
        return ResponseFormat.JSON
    best: tuple[float, int, ResponseFormat] | None = None
    for order, item in enumerate(accept.split(",")):
        media, *parameters = item.split(";")
        fmt = _ACCEPTED.get(media.strip().lower())
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if fmt is None or not 0 < quality <= 1:
            continue
        if best is None or (quality, -order) > (best[0], -best[1]):
            best = (quality, order, fmt)
    if best is None:
        shown = accept if len(accept) <= 60 else accept[:57] + "..."
        raise NotAcceptableError(
            f"cannot answer in any type of Accept: {shown!r}; "
            "ask for application/json, text/csv or application/jsonlines"
        )
    return best[2]


def csv_lines(predictions: list[Any]) -> str:
    """One prediction per line (labels quoted by the CSV rules when they need it)."""
    if all(type(p) is float for p in predictions):
        return "".join(f"{p!r}\n" for p in predictions)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([p] for p in predictions)
    return out.getvalue()


def json_lines(
    predictions: list[Any], probabilities: list[dict[str, float]] | None, ids: list[str]
) -> str:
    """One ``{"prediction": ..., "inference_id": ...}`` object per row (with
    ``probabilities`` for classifiers)."""
    if probabilities is None:
        return "".join(
            json.dumps({"prediction": p, "inference_id": i}) + "\n"
            for p, i in zip(predictions, ids, strict=True)
        )
    return "".join(
        json.dumps({"prediction": p, "probabilities": probs, "inference_id": i}) + "\n"
        for p, probs, i in zip(predictions, probabilities, ids, strict=True)
    )
