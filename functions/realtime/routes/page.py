"""The try-it page's routes: the page, its assets, a model's card and its reports."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from predictor.serving.messages import model_headers
from realtime import card, try_page
from realtime import operations as op
from realtime.context import current_model, model_json, runtime, text_response
from realtime.routes import route

router = Router()  # type: ignore[no-untyped-call]


@route(router, "GET", "/", op.page(
    "tryPage", "The try-it page (HTML; its script and style under /assets)", op.HTML
))  # fmt: skip
def try_it() -> Response[str]:
    """The try-it page: a form, a CSV upload and a model card for each served model."""
    page = try_page.static_text(try_page.PAGE_FILE)
    return text_response(page, try_page.HTML, try_page.PAGE_HEADERS)


@route(router, "GET", "/assets/{file}", op.page(
    "pageAsset", "The page's script or style sheet", ("text/javascript", "text/css"),
    op.ASSET,
))  # fmt: skip
def page_asset(file: str) -> Response[str]:
    """The page's script and style sheet."""
    text, content_type = try_page.asset(file)
    return text_response(text, content_type, try_page.PAGE_HEADERS)


@route(router, "GET", "/models/{name}/card", op.get(
    "modelCard", "What the page shows of a model: facts, form fields, limits, report links",
    op.ref("ModelCard"), [op.NAME], op.errors("Error", "404", "503"),
))  # fmt: skip
def model_card(name: str) -> Response[str]:
    """What the page shows of a model: facts, form fields, limits, report links."""
    served = runtime()
    model = current_model(name)
    drift, quality = card.latest_report(served.s3, served.settings.capture_bucket, model)
    report = try_page.has_training_report(served.models.reader, model)
    shown = card.model_card(
        model, served.settings, has_report=report, has_drift_report=drift, live_quality=quality
    )
    return model_json(model, shown)


@route(router, "GET", "/models/{name}/report", op.page(
    "trainingReport", "The served version's training report", op.HTML, op.NAME
))  # fmt: skip
def training_report(name: str) -> Response[str]:
    """The served version's training report (HTML)."""
    model = current_model(name)
    body = try_page.training_report(runtime().models.reader, model)
    return text_response(body, try_page.HTML, {**try_page.REPORT_HEADERS, **model_headers(model)})


@route(router, "GET", "/models/{name}/drift", op.page(
    "driftReport", "The model's latest drift report", op.HTML, op.NAME
))  # fmt: skip
def drift_report(name: str) -> Response[str]:
    """The model's latest drift report (HTML)."""
    served = runtime()
    model = current_model(name)
    body = try_page.drift_report(served.s3, served.settings.capture_bucket, model.name)
    return text_response(body, try_page.HTML, try_page.REPORT_HEADERS)
