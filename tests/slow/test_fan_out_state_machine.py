"""Large files through the state machine of template.yaml, run by moto's ASL interpreter.

The batch handler gets an S3 event and starts the state machine; moto executes the
template's definition and invokes the real step handlers through the local Lambda
Invoke endpoint (:mod:`infra.local_lambda`). Files are small here and the thresholds
tiny, so that a run has many ranges and takes a second or two.
"""

from __future__ import annotations

import copy
import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from batch import app as batch_app
from batch import fan_out_app
from infra.lambda_context import LambdaContext
from infra.local_env import DATA_BUCKET, MODEL_BUCKET, LocalAws
from predictor.batch.fan_out import ranges as range_scoring
from predictor.batch.fan_out.plan import run_name
from predictor.io.s3_store import ObjectRef
from predictor.models.registry import RegistryReader
from tests.helpers import (
    HEADER,
    ROWS,
    Artifacts,
    batch_outputs,
    load_event,
    read,
    score_whole,
)
from training.registry_admin import ModelRegistry

#: Files of 1 KiB or more go to the state machine, in ranges of about 600 bytes.
MIN_MIB, RANGE_MIB = "0.001", "0.0006"


@pytest.fixture(scope="module")
def stack(wine_linear: Artifacts) -> Iterator[LocalAws]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "MOTO_PORT"):
            env.setenv(name, "unset")  # restored (to absent) when the module ends
        local = LocalAws(states=True).start()
        assert local.state_machine_arn is not None
        env.setenv("MODEL_BUCKET", MODEL_BUCKET)
        env.setenv("MODEL_NAME", "wine")
        env.setenv("FAN_OUT_STATE_MACHINE_ARN", local.state_machine_arn)
        env.setenv("FAN_OUT_MIN_MIB", MIN_MIB)
        env.setenv("FAN_OUT_RANGE_MIB", RANGE_MIB)
        env.setenv("BATCH_CHUNK_ROWS", "7")
        registry = ModelRegistry(local.s3, MODEL_BUCKET)
        version = wine_linear.publish(registry)["version"]
        registry.set_alias("wine", "production", version)
        for container in (batch_app.container, fan_out_app.container):
            container.reset()
        batch_app._states_client.cache_clear()
        try:
            yield local
        finally:
            for container in (batch_app.container, fan_out_app.container):
                container.reset()
            batch_app._states_client.cache_clear()
            local.stop()


@pytest.fixture(autouse=True)
def endpoint(stack: LocalAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handlers' clients point at the stack (the shared fixtures unset the endpoint)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint)


def s3_event(key: str, head: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(load_event("batch_s3_put.json"))
    entry = event["Records"][0]["s3"]["object"]
    entry.update(
        key=key,
        eTag=head["ETag"].strip('"'),
        versionId=head["VersionId"],
        size=head["ContentLength"],
    )
    return event


def drop(stack: LocalAws, name: str, body: bytes) -> dict[str, Any]:
    """Put ``incoming/<name>``, deliver its event to the batch handler; its answer."""
    key = f"incoming/{name}"
    stack.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
    head = stack.s3.head_object(Bucket=DATA_BUCKET, Key=key)
    return deliver(s3_event(key, head))


def deliver(event: dict[str, Any]) -> dict[str, Any]:
    (answer,) = batch_app.lambda_handler(event, LambdaContext("batch"))["reports"]
    return dict(answer)


def wait(stack: LocalAws, execution: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = stack.states.describe_execution(executionArn=execution)["status"]
        if status != "RUNNING":
            return str(status)
        time.sleep(0.1)
    raise AssertionError(f"{execution} still running after {seconds} s")


def wine_version(stack: LocalAws) -> str:
    return RegistryReader(stack.s3, MODEL_BUCKET).resolve("wine", "production")


def leftovers(stack: LocalAws) -> tuple[list[str], list[str]]:
    """Run parts and open multipart uploads left in the data bucket."""
    parts = stack.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="runs/").get("Contents", [])
    uploads = stack.s3.list_multipart_uploads(Bucket=DATA_BUCKET).get("Uploads", [])
    return [p["Key"] for p in parts], [u["Key"] for u in uploads]


def quoted(ending: str = "\n", *, final_newline: bool = True, bom: bool = False) -> bytes:
    lines = [HEADER.replace(";", ",") + ",note"]
    notes = ["plain", '"two\nlines"', '"a, comma"', '"say ""hi""\nthen\nthree"', ""]
    for i, row in enumerate(ROWS[:60]):
        lines.append(row.replace(";", ",") + "," + notes[i % len(notes)])
    lines[9] = lines[9].replace(",", ",x", 1)
    text = ending.join(lines).replace("\n", ending) if ending != "\n" else "\n".join(lines)
    return (b"\xef\xbb\xbf" if bom else b"") + (text + (ending if final_newline else "")).encode()


def semicolon_file(rows: int = 200) -> bytes:
    return ("\n".join([HEADER, *ROWS[:rows]]) + "\n").encode()


@pytest.fixture
def around_ranges(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[..., Any]], None]:
    """Wrap the range step: ``wrap(hook)`` calls ``hook(item, score)`` for each range."""

    def wrap(hook: Callable[..., Any]) -> None:
        original = range_scoring.score_range

        def score(s3: Any, plan: Any, item: Any, model: Any, **options: Any) -> Any:
            return hook(item, lambda: original(s3, plan, item, model, **options))

        monkeypatch.setattr(range_scoring, "score_range", score)

    return wrap


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("sm-lf.csv", quoted()),
        ("sm-crlf.csv", quoted("\r\n")),
        ("sm-no-final-newline.csv", quoted(final_newline=False)),
        ("sm-bom.csv", quoted(bom=True)),
        ("sm-semicolon.csv", semicolon_file()),
    ],
)
def test_a_large_file_is_scored_in_ranges_to_the_same_bytes(
    stack: LocalAws, name: str, body: bytes
) -> None:
    started = drop(stack, name, body)
    assert started["status"] == "running"
    execution = started["fan_out"]["execution"]
    assert wait(stack, execution) == "SUCCEEDED"
    got = batch_outputs(stack.s3, name)
    assert got == score_whole(stack.s3, name, body, wine_version(stack))
    report = json.loads(read(stack.s3, f"reports/{name}.json") or b"")
    assert report["fan_out"]["ranges"]["total"] > 3
    assert report["fan_out"]["ranges"]["done"] == report["fan_out"]["ranges"]["total"]
    assert report["fan_out"]["execution"] == execution
    assert set(report["fan_out"]["seconds"]) == {
        "plan",
        "score",
        "finalize",
        "range",
        "ranges_total",
    }
    assert leftovers(stack) == ([], [])


def test_small_and_gzipped_files_keep_the_single_invocation(stack: LocalAws) -> None:
    small = drop(stack, "sm-small.csv", semicolon_file(5))
    assert small["status"] == "succeeded"
    assert "fan_out" not in small
    zipped = drop(stack, "sm-big.csv.gz", gzip.compress(semicolon_file(400)))
    assert zipped["status"] == "succeeded"
    assert "fan_out" not in zipped
    assert zipped["rows"]["scored"] == 400


def test_progress_is_counted_in_the_running_report(
    stack: LocalAws, around_ranges: Callable[..., None]
) -> None:
    seen: list[dict[str, Any]] = []

    def watch(item: Any, score: Callable[[], Any]) -> Any:
        seen.append(json.loads(read(stack.s3, "reports/sm-progress.csv.json") or b"{}"))
        return score()

    around_ranges(watch)
    started = drop(stack, "sm-progress.csv", semicolon_file(300))
    assert wait(stack, started["fan_out"]["execution"]) == "SUCCEEDED"
    assert all(r["status"] == "running" for r in seen)
    done = [r["fan_out"]["ranges"]["done"] for r in seen]
    assert done == sorted(done)
    assert done[0] == 0
    assert done[-1] == len(seen) - 1
    assert {r["fan_out"]["ranges"]["total"] for r in seen} == {len(seen)}


def test_a_range_failing_once_is_retried(
    stack: LocalAws, around_ranges: Callable[..., None]
) -> None:
    failures: list[int] = []

    def flaky(item: Any, score: Callable[[], Any]) -> Any:
        if item.index == 2 and not failures:
            failures.append(item.index)
            raise ConnectionError("S3 went away for a moment")
        return score()

    around_ranges(flaky)
    body = semicolon_file(300)
    started = drop(stack, "sm-flaky.csv", body)
    assert wait(stack, started["fan_out"]["execution"]) == "SUCCEEDED"
    assert failures == [2]
    assert batch_outputs(stack.s3, "sm-flaky.csv") == score_whole(
        stack.s3, "sm-flaky.csv", body, wine_version(stack)
    )


def test_a_range_failing_always_fails_the_run_and_leaves_nothing(
    stack: LocalAws, around_ranges: Callable[..., None]
) -> None:
    attempts: list[int] = []

    def broken(item: Any, score: Callable[[], Any]) -> Any:
        if item.index == 1:
            attempts.append(item.index)
            raise RuntimeError("this range cannot be scored")
        return score()

    around_ranges(broken)
    started = drop(stack, "sm-broken.csv", semicolon_file(300))
    assert wait(stack, started["fan_out"]["execution"], seconds=90) == "FAILED"
    assert len(attempts) == 4  # the first try and three retries
    got = batch_outputs(stack.s3, "sm-broken.csv")
    assert got["status"] == "failed"
    assert got["predictions"] is None
    assert got["errors"] is None
    report = json.loads(read(stack.s3, "reports/sm-broken.csv.json") or b"")
    assert report["fan_out"]["failed_ranges"] == [1]
    assert report["error"].startswith("range(s) 1 failed")
    assert leftovers(stack) == ([], [])


def test_the_pinned_version_is_scored_when_the_object_is_overwritten(
    stack: LocalAws, around_ranges: Callable[..., None]
) -> None:
    first, second = semicolon_file(300), semicolon_file(150)
    read_by_ranges: list[int] = []
    overwritten = threading.Event()

    def overwrite(item: Any, score: Callable[[], Any]) -> Any:
        if not overwritten.is_set():
            overwritten.set()
            stack.s3.put_object(Bucket=DATA_BUCKET, Key="incoming/sm-moving.csv", Body=second)
        result = score()
        read_by_ranges.append(result.rows.read)
        return result

    around_ranges(overwrite)
    started = drop(stack, "sm-moving.csv", first)
    assert wait(stack, started["fan_out"]["execution"]) == "SUCCEEDED"
    assert sum(read_by_ranges) == 300  # every range read the version of the event
    # The run of the first version ends "skipped": its outputs would be stale. The
    # second version's event then scores the second version.
    assert read(stack.s3, "predictions/sm-moving.csv") is None
    head = stack.s3.head_object(Bucket=DATA_BUCKET, Key="incoming/sm-moving.csv")
    again = deliver(s3_event("incoming/sm-moving.csv", head))
    assert wait(stack, again["fan_out"]["execution"]) == "SUCCEEDED"
    assert batch_outputs(stack.s3, "sm-moving.csv") == score_whole(
        stack.s3, "sm-moving.csv", second, wine_version(stack)
    )


def test_the_same_bytes_uploaded_again_while_scored_are_scored_from_events_without_versions(
    stack: LocalAws, around_ranges: Callable[..., None]
) -> None:
    key, body = "incoming/sm-same.csv", semicolon_file(300)
    uploaded_again = threading.Event()

    def upload_again(item: Any, score: Callable[[], Any]) -> Any:
        if not uploaded_again.is_set():
            uploaded_again.set()
            stack.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
        return score()

    around_ranges(upload_again)
    stack.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
    # both uploads' events as the local stack's S3 sends them: key, size and etag only
    event = s3_event(key, stack.s3.head_object(Bucket=DATA_BUCKET, Key=key))
    del event["Records"][0]["s3"]["object"]["versionId"]
    first = deliver(event)
    assert wait(stack, first["fan_out"]["execution"]) == "SUCCEEDED"
    assert read(stack.s3, "predictions/sm-same.csv") is None  # its version was replaced
    second = deliver(event)
    assert not second.get("duplicate")
    assert second["fan_out"]["execution"] != first["fan_out"]["execution"]
    assert wait(stack, second["fan_out"]["execution"]) == "SUCCEEDED"
    assert batch_outputs(stack.s3, "sm-same.csv") == score_whole(
        stack.s3, "sm-same.csv", body, wine_version(stack)
    )
    assert deliver(event)["duplicate"] is True  # a repeat of the last event: the same run


def test_duplicate_events_start_one_run(stack: LocalAws) -> None:
    key = "incoming/sm-twice.csv"
    stack.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=semicolon_file(200))
    event = s3_event(key, stack.s3.head_object(Bucket=DATA_BUCKET, Key=key))
    first, second = deliver(event), deliver(event)
    assert not first.get("duplicate")
    # Step Functions answers a second start of a running execution with the same one.
    assert second["fan_out"]["execution"] == first["fan_out"]["execution"]
    assert wait(stack, first["fan_out"]["execution"]) == "SUCCEEDED"
    third = deliver(event)  # after the run: still the same run, not a new one
    assert third["duplicate"] is True
    executions = stack.states.list_executions(stateMachineArn=stack.state_machine_arn)
    names = [e["name"] for e in executions["executions"]]
    assert (
        names.count(
            run_name(
                ObjectRef(DATA_BUCKET, key, "", event["Records"][0]["s3"]["object"]["versionId"])
            )
        )
        == 1
    )


def test_a_run_in_ranges_stores_the_profile_the_whole_file_gives(
    stack: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Monitoring sees a file scored in ranges exactly as one scored whole: the ranges'
    profiles, merged by the finalizer, equal the single invocation's.
    """
    from predictor.batch.run import score_object
    from predictor.profiling.profiles import Profile

    monkeypatch.setenv("CAPTURE_BUCKET", DATA_BUCKET)
    fan_out_app.container.reset()
    batch_app.container.reset()
    body = quoted()
    started = drop(stack, "sm-profiled.csv", body)
    assert wait(stack, started["fan_out"]["execution"]) == "SUCCEEDED"
    listed = stack.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="monitoring/profiles/")
    (key,) = [entry["Key"] for entry in listed["Contents"]]
    stored = json.loads(stack.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read())
    whole: list[Profile] = []
    model = RegistryReader(stack.s3, MODEL_BUCKET).load_onnx("wine", wine_version(stack))
    stack.s3.put_object(Bucket=DATA_BUCKET, Key="incoming/whole/sm-profiled.csv", Body=body)
    head = stack.s3.head_object(Bucket=DATA_BUCKET, Key="incoming/whole/sm-profiled.csv")
    obj = ObjectRef(DATA_BUCKET, "incoming/whole/sm-profiled.csv", head["ETag"], head["VersionId"])
    score_object(
        stack.s3, obj, lambda: model, chunk_rows=7, seconds_left=lambda: 900.0,
        on_profile=whole.append,
    )  # fmt: skip
    assert stored == whole[0].to_dict()
    rows = json.loads(read(stack.s3, "reports/sm-profiled.csv.json") or b"")["rows"]
    assert stored["rows"] == rows["scored"]
    assert stored["refused_rows"] == rows["rejected"] > 0
    fan_out_app.container.reset()
    batch_app.container.reset()
