"""The try-it page (``GET /``), its two assets, the model card it is built from, and the
training and drift reports it links to.

The page is static HTML, CSS and JavaScript (``realtime/static/``), read once per
container. In the browser it asks ``GET /models`` for the chooser and
``GET /models/{name}/card`` for the rest, and builds the form with DOM calls that insert
every manifest value as text. Everything is served with a Content-Security-Policy that
allows this origin's own script, style and requests and nothing else, so a value that
looks like markup stays text even if a bug tried to make it HTML.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from predictor.errors import IntegrityError, NotFoundError, ReportUnavailableError
from predictor.io import s3_store
from predictor.models.registry import LoadedModel, RegistryReader
from predictor.monitoring.layout import latest_report_key
from predictor.serving.scoring import MAX_ERROR_DETAILS
from predictor.settings import Settings

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
PAGE_FILE = "index.html"
HTML = "text/html; charset=utf-8"
#: The assets ``GET /assets/{file}`` serves: nothing else under static/ is reachable.
ASSETS = {
    "try.js": "text/javascript; charset=utf-8",
    "try.css": "text/css; charset=utf-8",
}
#: The training report's file in the registry (training.report.REPORT_HTML).
REPORT_ARTIFACT = "report.html"

#: The page: its own script, style and API calls; no inline code, frames, forms posted
#: elsewhere or base rewriting. Pictures only from this origin or data: URLs.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
#: The reports: self-contained pages of inline CSS and SVG, without any script.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
#: What every page and asset is sent with.
_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # A deployment changes page and assets together: never mix two of them.
    "Cache-Control": "no-cache",
}
PAGE_HEADERS = {**_COMMON_HEADERS, "Content-Security-Policy": PAGE_CSP}
REPORT_HEADERS = {**_COMMON_HEADERS, "Content-Security-Policy": REPORT_CSP}

#: The columns of an image model: ``p_<row>_<column>`` (the digits data's names).
_PIXEL = re.compile(r"p_(\d{1,2})_(\d{1,2})")


@functools.cache
def static_text(filename: str) -> str:
    """A static file's text, read once per container."""
    return (STATIC_DIR / filename).read_text(encoding="utf-8")


def asset(filename: str) -> tuple[str, str]:
    """An asset's text and content type; an unknown name is a 404."""
    content_type = ASSETS.get(filename)
    if content_type is None:
        raise NotFoundError(f"no asset {filename!r}: the page uses {sorted(ASSETS)}")
    return static_text(filename), content_type


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


def model_card(
    model: LoadedModel, settings: Settings, *, has_report: bool, has_drift_report: bool
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


def drift_report_exists(s3: Any, bucket: str, model: str) -> bool:
    """Whether the model has a latest drift report (False without capture, or when S3
    cannot say: the card then simply omits the link)."""
    if not bucket:
        return False
    try:
        return s3_store.object_size(s3, bucket, latest_report_key(model, "html")) is not None
    except Exception:
        logger.warning("cannot look for the drift report of %s", model, exc_info=True)
        return False


def training_report(reader: RegistryReader, model: LoadedModel) -> str:
    """The version's training report, verified against its manifest like every artifact."""
    if REPORT_ARTIFACT not in (model.manifest.get("artifacts") or {}):
        raise NotFoundError(f"{model.name} {model.version} was published without a training report")
    try:
        return reader.read_artifact(model.manifest, REPORT_ARTIFACT).decode("utf-8")
    except (IntegrityError, UnicodeDecodeError) as exc:
        raise ReportUnavailableError(
            f"the training report of {model.name} {model.version} cannot be served: {exc}"
        ) from exc


def has_training_report(reader: RegistryReader, model: LoadedModel) -> bool:
    """Whether the card may link to the training report: it is listed and verifies.

    Checked once per version and container (the reader is the container's): a link is
    never offered to a report that would be refused.
    """
    if REPORT_ARTIFACT not in (model.manifest.get("artifacts") or {}):
        return False
    key = (reader, model.name, model.version)
    if key not in _VERIFIED_REPORTS:
        if len(_VERIFIED_REPORTS) >= _MAX_VERIFIED_REPORTS:
            _VERIFIED_REPORTS.clear()
        try:
            training_report(reader, model)
            _VERIFIED_REPORTS[key] = True
        except ReportUnavailableError:
            logger.warning("the card does not link the training report", exc_info=True)
            _VERIFIED_REPORTS[key] = False
    return _VERIFIED_REPORTS[key]


#: (the container's registry reader, model, version) -> whether its training report verified.
_VERIFIED_REPORTS: dict[tuple[RegistryReader, str, str], bool] = {}
_MAX_VERIFIED_REPORTS = 256


def drift_report(s3: Any, bucket: str, model: str) -> str:
    """The model's latest drift report; a 404 while there is none."""
    if not bucket:
        raise NotFoundError("this function does not capture what it scores: no drift report")
    body = s3_store.get_bytes(s3, bucket, latest_report_key(model, "html"))
    if body is None:
        raise NotFoundError(f"{model} has no drift report yet")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReportUnavailableError(
            f"the latest drift report of {model} cannot be served: it is not UTF-8 text "
            f"({exc.reason} at byte {exc.start})"
        ) from exc
