"""Batch scoring: S3 ObjectCreated under ``incoming/`` -> (SQS ->) this Lambda function.

Production path: S3 notifications go to an SQS queue (with a DLQ) that feeds this
function with ``ReportBatchItemFailures``; each SQS record is processed on its own by
the powertools batch utility, so one failed file is retried without the others. A bare
S3 event (what ``sam local generate-event s3 put`` produces) is accepted too.
The work itself is :func:`predictor.batch.run.score_object`; settings, client and models come
from this function's :class:`~predictor.runtime.Container`: ``incoming/<model>/<file>``
is scored by ``<model>`` when the function serves it (``SERVED_MODELS``), a file right
under ``incoming/`` by the default model. A file of at least
``FAN_OUT_MIN_MIB`` (not gzipped: a gzip stream cannot be cut) starts the batch state
machine instead, which scores it in byte ranges in parallel (:mod:`predictor.batch.fan_out`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from predictor import batch_keys as batch_layout
from predictor import errors
from predictor.batch.fan_out import planning
from predictor.batch.report import BatchReport
from predictor.batch.run import score_object
from predictor.batch_keys import output_keys
from predictor.io import s3_store
from predictor.io.s3_store import ObjectRef
from predictor.models.registry import LoadedModel
from predictor.monitoring import profile_store
from predictor.profiling.profiles import Profile
from predictor.runtime import Container, Runtime

logger = Logger()
metrics = Metrics()
container = Container()
container.register_snapshot_hooks()  # SnapStart: warm before the snapshot, refresh after


def _deadline(context: LambdaContext | None) -> Callable[[], float]:
    """Seconds left before this invocation's deadline (unbounded without a context)."""
    if context is None:
        return lambda: float("inf")
    return lambda: context.get_remaining_time_in_millis() / 1000


def s3_objects(notification: dict[str, Any]) -> list[ObjectRef]:
    """The ``incoming/`` CSV objects an S3 notification names (keys URL-decoded).

    ``s3:TestEvent`` messages, other event types and keys outside ``incoming/`` give
    nothing: outputs are written elsewhere, so they never trigger another run.
    """
    if notification.get("Event") == "s3:TestEvent":
        logger.info("ignoring s3:TestEvent")
        return []
    found = []
    for record in notification.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        entry = record["s3"]["object"]
        key = unquote_plus(entry["key"])  # S3 encodes keys: "my+file%C3%A9.csv"
        if output_keys(key) is None:
            logger.info("ignoring %s: not a CSV under incoming/", key)
            continue
        size = entry.get("size")
        found.append(
            ObjectRef(
                bucket,
                key,
                entry.get("eTag", ""),
                entry.get("versionId"),
                int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
            )
        )
    return found


@functools.cache
def _states_client() -> Any:
    import boto3  # here, not at import: only a run in ranges needs it

    return boto3.client("stepfunctions")


def _in_ranges(obj: ObjectRef, min_bytes: int) -> bool:
    """Whether ``obj`` is large enough for the state machine (and can be cut at all)."""
    keys = output_keys(obj.key)
    if keys is None or keys.gzipped:
        return False
    size = obj.size
    if size is None:  # a hand-made event: ask S3
        size = s3_store.object_size(container.get().s3, obj.bucket, obj.key) or 0
    return size >= min_bytes


def store_batch_profile(runtime: Runtime, source: ObjectRef, profile: Profile) -> None:
    """Store the profile of a scored file for monitoring (a failure is counted)."""
    bucket = runtime.settings.capture_bucket
    if bucket and not profile_store.store_file_profile(runtime.s3, bucket, profile, source):
        metrics.add_metric(name="CaptureErrors", unit=MetricUnit.Count, value=1)


def score(obj: ObjectRef, seconds_left: Callable[[], float]) -> BatchReport:
    """Score one object (or start its run in ranges) and record its metrics."""
    runtime = container.get()
    logger.append_keys(object_key=obj.key)
    settings = runtime.settings
    min_bytes = int(settings.fan_out_min_mib * 1024 * 1024)
    if settings.fan_out_state_machine and _in_ranges(obj, min_bytes):
        obj = planning.with_version(runtime.s3, obj)
        started = planning.start_run(
            _states_client(), settings.fan_out_state_machine, obj, settings.fan_out_max_concurrency
        )
        logger.info(
            "scoring in byte ranges" if not started.duplicate else "already scored in ranges",
            extra={"execution": (started.fan_out or {}).get("execution")},
        )
        return started

    def load_model() -> LoadedModel:
        model = model_for_file(runtime, obj.key)
        logger.append_keys(model_name=model.name, model_version=model.version)
        return model

    report = score_object(
        runtime.s3,
        obj,
        load_model,
        chunk_rows=runtime.settings.batch_chunk_rows,
        seconds_left=seconds_left,
        on_profile=functools.partial(store_batch_profile, runtime, obj),
    )
    if report.duplicate or report.status == "skipped":
        return report
    metrics.add_metric(name="RowsScored", unit=MetricUnit.Count, value=report.rows.scored)
    metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=report.rows.rejected)
    metrics.add_metric(
        name="FilesFailed", unit=MetricUnit.Count, value=int(report.status == "failed")
    )
    metrics.add_metric(name="FileSeconds", unit=MetricUnit.Seconds, value=report.seconds)
    logger.info(
        "scored file",
        extra={"status": report.status, "rows": report.rows.to_dict(), "seconds": report.seconds},
    )
    return report


def model_for_file(runtime: Runtime, key: str) -> LoadedModel:
    """The model of a file: ``incoming/<model>/...`` names it, a file right under
    ``incoming/`` takes the default model. A model this function does not serve, or that
    the registry cannot serve, is an UnservedModelError: a failed report saying why."""
    name = batch_layout.model_of(key)
    if name is None:
        return runtime.models.get()
    if not runtime.models.allows(name):
        served = ", ".join(m.name for m in runtime.models.servable().models)
        raise errors.UnservedModelError(
            f"this function does not serve a model {name!r} (incoming/{name}/ names it); it "
            f"serves: {served}. Put the file under incoming/<one of those>/, or right under "
            "incoming/ for the default model"
        )
    try:
        return runtime.models.get(name)
    except errors.UnknownModelError as exc:
        raise errors.UnservedModelError(f"model {name!r} cannot be served: {exc}") from exc


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    """One SQS message: an S3 notification, possibly naming several objects."""
    for obj in s3_objects(json.loads(record.body)):
        score(obj, _deadline(lambda_context))


@logger.inject_lambda_context(clear_state=True)  # no keys of the last event
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: SQS batches (partial failures reported) or a bare S3 event.

    A misconfigured function fails the invocation (the message is retried, then lands in
    the dead-letter queue) after one clear log line.
    """
    container.get()
    records = event.get("Records", [])
    if records and records[0].get("eventSource") == "aws:s3":
        reports = [score(obj, _deadline(context)).to_dict() for obj in s3_objects(event)]
        return {"reports": reports}
    # A processor per invocation: it holds the batch's successes and failures, and
    # sharing one would mix two invocations' results if they ever ran in one process.
    processor = BatchProcessor(event_type=EventType.SQS)
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
