"""The try-it page (``GET /``), its two assets, and the training and monitoring reports it
links to (the model card it is built from: :mod:`realtime.card`).

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
from pathlib import Path
from typing import Any

from predictor.errors import IntegrityError, NotFoundError, ReportUnavailableError
from predictor.io import s3_store
from predictor.models.registry import LoadedModel, RegistryReader
from predictor.monitoring.layout import latest_report_key

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
