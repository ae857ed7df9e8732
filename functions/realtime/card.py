"""The model card: what the try-it page shows of a model (its manifest's public facts, the
form's fields, the request limits, the live quality, links to the reports that exist),
and its JSON Schema, the OpenAPI document's ModelCard."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from predictor.io import s3_store
from predictor.models.registry import LoadedModel
from predictor.monitoring.layout import latest_report_key
from predictor.monitoring.live_quality import point
from predictor.serving.scoring import MAX_ERROR_DETAILS
from predictor.settings import Settings

logger = logging.getLogger(__name__)

#: The columns of an image model: ``p_<row>_<column>`` (the digits data's names).
_PIXEL = re.compile(r"p_(\d{1,2})_(\d{1,2})")


@dataclass(frozen=True, slots=True)
class ImageShape:
    """The pixel grid of a model whose inputs are the pixels of a square image."""

    size: int
    #: The value of a fully inked pixel (the training maximum: 16 for digits).
    ink: float

    def to_dict(self) -> dict[str, Any]:
        """The card's ``image`` entry."""
        return {"rows": self.size, "columns": self.size, "ink": self.ink}


def image_shape(schema: list[dict[str, Any]]) -> ImageShape | None:
    """The grid when the columns are exactly ``p_<r>_<c>`` of an n x n image, numeric and
    in row order (up to 32 x 32); None for any other model."""
    size = round(len(schema) ** 0.5)
    if size < 2 or size > 32 or size * size != len(schema):
        return None
    expected = [f"p_{r}_{c}" for r in range(size) for c in range(size)]
    if [column.get("name") for column in schema] != expected:
        return None
    if any(column.get("kind") != "numeric" for column in schema):
        return None
    ink = max((float(c["max"]) for c in schema if c.get("max") is not None), default=0.0)
    return ImageShape(size, ink) if ink > 0 else None


#: The card's JSON Schema (the OpenAPI document's ModelCard).
MODEL_CARD: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version", "task", "features", "metrics", "limits", "links"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "created_at": {"type": ["string", "null"]},
        "task": {"enum": ["regression", "classification"]},
        "target": {"type": ["string", "null"]},
        "estimator": {"type": ["string", "null"]},
        "classes": {"type": ["array", "null"]},
        "probabilities": {"type": "boolean"},
        "source": {"type": ["object", "null"]},
        "features": {
            "type": "array",
            "description": "the schema's columns, in model order (numeric ones with min, "
            "max and median; categorical ones with their categories)",
            "items": {"type": "object", "required": ["name", "kind", "nullable"]},
        },
        "metrics": {"type": "object"},
        "importance": {
            "type": ["array", "null"],
            "description": "holdout permutation importance of each column, largest first",
        },
        "live_quality": {
            "type": ["object", "null"],
            "description": "the served version's primary metric over the labels of the "
            "latest monitored period, with its 95% interval and the holdout value",
            "properties": {
                "metric": {"type": "string"},
                "value": {"type": "number"},
                "low": {"type": "number"},
                "high": {"type": "number"},
                "holdout": {"type": ["number", "null"]},
                "dropped": {"type": "boolean"},
                "rows": {"type": "integer"},
                "end": {"type": "string"},
            },
        },
        "image": {
            "type": ["object", "null"],
            "description": "the pixel grid of a model whose columns are p_<row>_<column>",
        },
        "limits": {
            "type": "object",
            "description": "what one request may hold here",
            "required": ["max_rows", "max_bytes"],
            "properties": {
                "max_rows": {"type": "integer"},
                "max_bytes": {"type": "integer"},
                "error_details": {
                    "type": "integer",
                    "description": "the most problems one 422 lists",
                },
            },
        },
        "links": {
            "type": "object",
            "required": ["predict", "report", "drift"],
            "description": "paths relative to the API's root",
            "properties": {
                "predict": {"type": "string"},
                "report": {"type": ["string", "null"]},
                "drift": {"type": ["string", "null"]},
            },
        },
    },
}


def model_card(
    model: LoadedModel,
    settings: Settings,
    *,
    has_report: bool,
    has_drift_report: bool,
    live_quality: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the page shows of a model: its manifest's public facts, the form's fields,
    the request limits to page a CSV by, and links to the reports that exist."""
    manifest = model.manifest
    name = model.name
    schema = list(manifest.get("schema") or [])
    image = image_shape(schema)
    metrics = manifest.get("metrics") or {}
    return {
        "name": name,
        "version": model.version,
        "created_at": manifest.get("created_at"),
        "task": manifest.get("task"),
        "target": manifest.get("target"),
        "estimator": manifest.get("estimator"),
        "classes": manifest.get("classes"),
        # False for a classifier that answers labels only (no predict_proba).
        "probabilities": model.predictor.has_probabilities,
        "source": manifest.get("source"),
        "features": schema,
        "metrics": {
            "primary": metrics.get("primary"),
            "higher_is_better": metrics.get("higher_is_better"),
            "holdout": metrics.get("holdout") or {},
            "baseline": metrics.get("baseline") or {},
            "cv": metrics.get("cv"),
        },
        "importance": manifest.get("importance"),
        # The primary metric over the labels of the latest monitored period (None without).
        "live_quality": live_quality,
        "image": image.to_dict() if image is not None else None,
        "limits": {
            "max_rows": settings.max_request_rows,
            "max_bytes": settings.max_request_bytes,
            # A 422 lists at most this many problems (the page re-sends what it cut).
            "error_details": MAX_ERROR_DETAILS,
        },
        # Relative to the page, which is served at the API's root.
        "links": {
            "predict": f"models/{name}/predict",
            "report": f"models/{name}/report" if has_report else None,
            "drift": f"models/{name}/drift" if has_drift_report else None,
        },
    }


def latest_report(s3: Any, bucket: str, model: LoadedModel) -> tuple[bool, dict[str, Any] | None]:
    """Whether the model has a latest monitoring report, and the served version's live
    quality in it (False, None without capture, or when S3 cannot say: the card then
    omits them)."""
    if not bucket:
        return False, None
    try:
        found = s3_store.read_json(s3, bucket, latest_report_key(model.name, "json"))
    except Exception:
        logger.warning("cannot read the latest report of %s", model.name, exc_info=True)
        return False, None
    if found is None:
        return False, None
    document = found[0]
    section = (document.get("quality") or {}).get(model.version)
    end = (document.get("window") or {}).get("end", "")
    return True, point(end, model.version, section) if isinstance(section, dict) else None
