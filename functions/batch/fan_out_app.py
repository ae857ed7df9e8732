"""The steps of the batch state machine (template.yaml): large files scored in byte ranges.

Two functions, each with its own role: :func:`control_handler` plans, checks, finalizes
and aborts runs (no model); :func:`range_handler` scores one range with the model the
plan names. Each adapts the state machine's payload to :mod:`predictor.batch.fan_out` and
answers the small document the next state reads (``status`` drives its Choice).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from predictor import batch_keys as batch_layout
from predictor.batch.fan_out import checking, finishing, planning
from predictor.batch.fan_out import ranges as range_scoring
from predictor.batch.fan_out.plan import Range, input_of, load_plan
from predictor.errors import ModelNotFoundError, UnservedModelError
from predictor.models.registry import RegistryReader
from predictor.monitoring import profile_store
from predictor.profiling.profiles import Profile
from predictor.runtime import Container

logger = Logger()
container = Container()
#: Outcomes of a run that ends at planning: nothing to score.
_ENDED = {"succeeded": "done", "failed": "failed", "skipped": "done"}


def _state(plan_key: str, pending: list[Range], round_number: int) -> dict[str, Any]:
    return {
        "status": "scoring",
        "plan_key": plan_key,
        "pending": [item.to_item() for item in pending],
        "round": round_number,
    }


def _cause(error: dict[str, Any]) -> str:
    """What a Catch caught, in one line: ``Type: message`` of the failed task."""
    cause = str(error.get("Cause") or "")
    try:
        document = json.loads(cause)
    except ValueError:
        document = None
    if isinstance(document, dict) and "errorMessage" in document:
        return f"{document.get('errorType', 'Error')}: {document['errorMessage']}"[:2000]
    return (cause or str(error.get("Error") or "the run failed"))[:2000]


@logger.inject_lambda_context(clear_state=True)  # no keys of the last event
def control_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``{"step": "plan" | "check" | "finalize" | "abort", "input": <state>}``."""
    runtime = container.get()
    s3, settings = runtime.s3, runtime.settings
    state = event["input"]
    obj = input_of(state)
    logger.append_keys(object_key=obj.key, step=event["step"])
    step = event["step"]
    if step == "plan":
        reader = RegistryReader(s3, settings.registry)

        def model() -> tuple[str, str]:
            """The file's model at the alias now (its version is pinned for every range)."""
            name = batch_layout.model_of(obj.key) or settings.model_name
            if not runtime.models.allows(name):
                served = ", ".join(m.name for m in runtime.models.servable().models)
                raise UnservedModelError(
                    f"this function does not serve a model {name!r}; it serves: {served}"
                )
            try:
                return name, reader.resolve(name, settings.model_alias)
            except ModelNotFoundError as exc:
                raise UnservedModelError(f"model {name!r} cannot be served: {exc}") from exc

        plan, report = planning.plan_run(
            s3,
            obj,
            reader,
            model,
            range_bytes=max(1, int(settings.fan_out_range_mib * 1024 * 1024)),
            execution=str(event.get("execution", "")),
        )
        if plan is None:
            logger.info("run ends at planning", extra={"status": report.status})
            return {"status": _ENDED[report.status], "report": report.status}
        return _state(plan.key, plan.ranges, 1)
    if step == "abort":  # after any failure, planning's included: there may be no plan
        error = _cause(state.get("error") or {})
        failed: list[int] = []
        run = state.get("run") or {}
        if run.get("plan_key") and run.get("pending"):  # the round the Map was scoring
            plan = load_plan(s3, obj.bucket, run["plan_key"])
            pending = [Range.from_item(item) for item in run["pending"]]
            failed = checking.unfinished(s3, plan, pending)
        report = finishing.abort_run(s3, obj, error, failed)
        logger.warning("run aborted", extra={"error": report.error})
        return {"status": "failed", "error": report.error}
    run = state["run"]
    plan = load_plan(s3, obj.bucket, run["plan_key"])
    if step == "check":
        scored = [Range.from_item(item) for item in run["pending"]]
        check = checking.check_run(s3, plan, scored, int(run["round"]))
        if check.status == "scoring":
            logger.info("re-scoring misplaced ranges", extra={"ranges": len(check.pending)})
            return _state(plan.key, check.pending, int(run["round"]) + 1)
        if check.status == "failed":
            report = finishing.abort_run(s3, obj, check.reason or "failed", check.failed)
            logger.warning("run failed", extra={"error": report.error})
            return {"status": "failed", "plan_key": plan.key, "error": report.error}
        return {"status": "finalizing", "plan_key": plan.key}
    if step == "finalize":

        def store(profile: Profile) -> None:
            if settings.capture_bucket:
                profile_store.store_file_profile(s3, settings.capture_bucket, profile, obj)

        report = finishing.finalize_run(s3, plan, on_profile=store)
        logger.info("run finished", extra={"status": report.status, "rows": report.rows.to_dict()})
        return {"status": report.status}
    raise ValueError(f"unknown step {step!r}")


@logger.inject_lambda_context(clear_state=True)  # no keys of the last event
def range_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``{"bucket", "plan_key", "range": {"index", "start", "end"}}``: score one range."""
    runtime = container.get()
    plan = load_plan(runtime.s3, event["bucket"], event["plan_key"])
    item = Range.from_item(event["range"])
    logger.append_keys(object_key=plan.input.key, range=item.index)
    model = runtime.models.get(plan.model_name, plan.model_version)
    result = range_scoring.score_range(
        runtime.s3,
        plan,
        item,
        model,
        chunk_rows=runtime.settings.batch_chunk_rows,
        worker=str(getattr(context, "log_stream_name", "")),  # one per container
    )
    range_scoring.count_progress(runtime.s3, plan)
    logger.info("scored range", extra={"rows": result.rows.to_dict(), "seconds": result.seconds})
    return {"index": result.index, "start": result.start, "end": result.end}
