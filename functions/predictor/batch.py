"""Batch scoring of one CSV object: ``incoming/<rel>`` -> predictions, errors, report.

Outputs (same bucket; ``<out>`` is ``<rel>``, with ``.csv`` appended to a ``.csv.gz``
input's name so that ``x.csv`` and ``x.csv.gz`` never share outputs):

- ``predictions/<out>``: each good row's original text plus ``prediction`` (and one
  ``probability_<class>`` column per class), in input order; bad rows left out.
- ``errors/<out>``: ``line,column,reason,row`` for each problem of each bad row
  (only when there is one).
- ``reports/<rel>.json``: status, model, input ETag/version, row counts, timings.

The outputs under a key always agree with its report: a run removes the outputs it did
not produce (an earlier version's errors, or predictions when the new version fails).
Only the object's current version is scored: an event for a version that has since
been overwritten (a late or repeated delivery) is skipped, and so is a run whose object
is overwritten while it runs (the newer version has its own event).

Both CSV outputs stream through S3 multipart uploads completed at the end and aborted on
any failure, so a partial object is never visible. A lease object claimed with S3
conditional writes makes concurrent duplicates harmless, and a finished report for the
same ETag makes later duplicates no-ops. Files that can never be scored get a ``failed``
report; transient problems raise :class:`RetryableError` so the message is retried.
The lease is released on every outcome, so the next event for the key starts at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from predictor.csv_stream import (
    Chunk,
    CsvStream,
    csv_field,
    open_text,
    record_problems,
    shown_raw,
)
from predictor.errors import InputError, MissingColumnsError, PredictorError
from predictor.inference import Predictions
from predictor.registry import LoadedModel

logger = logging.getLogger(__name__)

INCOMING = "incoming/"
PREDICTIONS = "predictions/"
ERRORS = "errors/"
REPORTS = "reports/"
#: Multipart part size: S3 needs at least 5 MiB for every part but the last.
PART_SIZE = 8 * 1024 * 1024
#: Stop starting chunks when less than this many seconds remain before the deadline.
MIN_SECONDS_LEFT = 10.0


class RetryableError(PredictorError):
    """The object could not be scored now but may be later: let the queue retry it."""


class DeadlineError(RetryableError):
    """Too little time left before the Lambda deadline to score another chunk."""


class InProgressError(RetryableError):
    """Another invocation holds the lease on this object."""


@dataclass(frozen=True, slots=True)
class InputObject:
    """An object to score, as an S3 event names it."""

    bucket: str
    key: str
    etag: str
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutputKeys:
    """Where the outputs of one input object go."""

    predictions: str
    errors: str
    report: str
    lease: str


def output_keys(key: str) -> OutputKeys | None:
    """Output keys for an ``incoming/`` CSV (``.csv`` or ``.csv.gz``); None for anything else."""
    if not key.startswith(INCOMING):
        return None
    relative = key[len(INCOMING) :]
    if relative.endswith(".csv.gz"):
        output = relative + ".csv"  # the outputs are plain CSV, named after the whole input
    elif relative.endswith(".csv"):
        output = relative
    else:
        return None
    if relative in (".csv", ".csv.gz"):
        return None
    return OutputKeys(
        predictions=PREDICTIONS + output,
        errors=ERRORS + output,
        report=f"{REPORTS}{relative}.json",
        lease=f"{REPORTS}{relative}.lease",
    )


class MultipartWriter:
    """Buffered writes to one S3 object through a multipart upload, visible on complete."""

    def __init__(self, s3: Any, bucket: str, key: str, content_type: str = "text/csv") -> None:
        self._s3, self.bucket, self.key = s3, bucket, key
        self._content_type = content_type
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._buffer: list[bytes] = []
        self._buffered = 0

    def write(self, data: bytes) -> None:
        """Append ``data``; uploads a part whenever PART_SIZE bytes are buffered."""
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= PART_SIZE:
            self._upload_part()

    def _upload_part(self) -> None:
        if self._upload_id is None:
            created = self._s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self._content_type
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        response = self._s3.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=b"".join(self._buffer),
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer, self._buffered = [], 0

    def complete(self) -> None:
        """Upload what is buffered and make the object visible."""
        self._upload_part()
        self._s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None

    def abort(self) -> None:
        """Discard the upload (nothing becomes visible); safe to call more than once."""
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        try:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
        except Exception:
            # The bucket's lifecycle rule removes incomplete uploads; the original
            # error matters more than this one.
            logger.warning("could not abort the upload of %s", self.key, exc_info=True)


def _utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _read_json(s3: Any, bucket: str, key: str) -> tuple[dict[str, Any], str] | None:
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(response["Body"].read()), response["ETag"]


def _finished_report(s3: Any, obj: InputObject, keys: OutputKeys) -> dict[str, Any] | None:
    """The report of an earlier run of this very object version, if it finished."""
    found = _read_json(s3, obj.bucket, keys.report)
    if found is None:
        return None
    report = found[0]
    scored = report.get("input", {})
    same = scored.get("etag") == obj.etag and (
        not obj.version_id or not scored.get("version_id") or scored["version_id"] == obj.version_id
    )
    return report if same and report.get("status") in ("succeeded", "failed") else None


def _claim_lease(s3: Any, obj: InputObject, keys: OutputKeys, seconds: float) -> str:
    """Take the lease on this input and return its ETag (InProgressError if another holds it).

    A lease for the same object version that has not expired belongs to a run still
    going; a lease for another version, or an expired one, is taken over atomically.
    """
    body = json.dumps(
        {"etag": obj.etag, "version_id": obj.version_id, "expires": time.time() + seconds}
    ).encode()
    try:
        return str(
            s3.put_object(Bucket=obj.bucket, Key=keys.lease, Body=body, IfNoneMatch="*")["ETag"]
        )
    except Exception as exc:
        if _error_code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise
    found = _read_json(s3, obj.bucket, keys.lease)
    if found is not None:
        lease, lease_etag = found
        same_version = lease.get("etag") == obj.etag and lease.get("version_id") == obj.version_id
        if same_version and lease.get("expires", 0) > time.time():
            raise InProgressError(f"{obj.key} is being scored by another invocation")
        conditions = {"IfMatch": lease_etag}
    else:
        conditions = {"IfNoneMatch": "*"}
    try:  # expired, or left by another version of the input: take it over atomically
        return str(
            s3.put_object(Bucket=obj.bucket, Key=keys.lease, Body=body, **conditions)["ETag"]
        )
    except Exception as exc:
        if _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise InProgressError(f"{obj.key} was claimed by another invocation") from exc
        raise


def _release_lease(s3: Any, obj: InputObject, keys: OutputKeys, lease_etag: str) -> None:
    """Delete our lease (only if still ours), so the next run of this key starts at once."""
    try:
        s3.delete_object(Bucket=obj.bucket, Key=keys.lease, IfMatch=lease_etag)
    except Exception as exc:
        if _error_code(exc) not in ("PreconditionFailed", "NoSuchKey"):  # taken over, or gone
            logger.warning("could not release the lease on %s", obj.key, exc_info=True)


def _remove_outputs(s3: Any, bucket: str, keys: list[str]) -> None:
    """Delete outputs an earlier run left that this run did not produce."""
    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)


def _format_numbers(values: np.ndarray) -> list[str]:
    """Shortest text that reads back to the same float32 (what the model computed)."""
    return list(np.asarray(values, dtype=np.float32).astype(str))


class _ChunkScorer:
    """Validates, predicts and formats one chunk of records at a time."""

    def __init__(self, model: LoadedModel, columns: list[str], delimiter: str) -> None:
        self.model = model
        self.schema = model.predictor.schema
        self.delimiter = delimiter
        self.width = len(columns)
        missing = self.schema.missing_columns(columns)
        if missing:
            raise MissingColumnsError(missing)
        # Only the columns the model uses are turned into arrays.
        self.positions = {
            name: columns.index(name) for name in self.schema.names if name in columns
        }
        self.read = self.scored = self.rejected = 0

    def check_record(self, fields: list[str]) -> str | None:
        """Why one record is not a row of the model's (None when it is one)."""
        columns = {name: [fields[position]] for name, position in self.positions.items()}
        errors = self.schema.validate(columns, 1, text=True).errors
        return f"{errors[0].column}: {errors[0].reason}" if errors else None

    def output_header(self, header_raw: str) -> str:
        """The input header plus the prediction columns."""
        names = ["prediction"]
        classes = getattr(self.model.predictor, "classes", None)
        if classes:
            names += [f"probability_{c}" for c in classes]
        extra = self.delimiter.join(csv_field(n, self.delimiter) for n in names)
        return f"{header_raw}{self.delimiter}{extra}\n"

    def score(self, chunk: Chunk) -> tuple[str, list[list[str]]]:
        """Output text of the good rows, and error rows (line, column, reason, raw)."""
        fields = chunk.fields
        refused = record_problems(chunk, self.width)
        problems = [
            [str(chunk.lines[index]), "", reason, shown_raw(chunk.raws[index])]
            for index, reason in refused.items()
        ]
        good: Sequence[int] = range(len(fields))
        if refused:
            good = [index for index in good if index not in refused]
        rejected = len(problems)
        text = ""
        if good:
            rows = fields if len(good) == len(fields) else [fields[i] for i in good]
            transposed = list(zip(*rows, strict=True))
            columns = {
                name: np.array(transposed[position], dtype=object)
                for name, position in self.positions.items()
            }
            validated = self.schema.validate(columns, len(rows), text=True)
            bad_rows = set()
            for error in validated.errors:
                index = good[error.row]
                bad_rows.add(index)
                line = str(chunk.lines[index])
                problems.append([line, error.column or "", error.reason, chunk.raws[index]])
            rejected += len(bad_rows)
            if validated.accepted:
                predictions = self.model.predictor.predict(validated.features)
                raws = chunk.raws
                accepted = [raws[good[int(i)]] for i in validated.rows]
                text = self._format(accepted, predictions)
            self.scored += validated.accepted
        self.read += len(chunk)
        self.rejected += rejected
        problems.sort(key=lambda p: int(p[0]))
        return text, problems

    def _format(self, raws: list[str], predictions: Predictions) -> str:
        d = self.delimiter
        if predictions.probabilities is None:
            appended = _format_numbers(predictions.values)
        else:
            labels = [csv_field(str(v), d) for v in predictions.values]
            probabilities = np.asarray(predictions.probabilities, dtype=np.float32).astype(str)
            appended = [
                label + d + d.join(row) for label, row in zip(labels, probabilities, strict=True)
            ]
        return "".join(f"{raw}{d}{extra}\n" for raw, extra in zip(raws, appended, strict=True))


def score_object(
    s3: Any,
    obj: InputObject,
    load_model: Callable[[], LoadedModel],
    *,
    chunk_rows: int,
    seconds_left: Callable[[], float],
) -> dict[str, Any]:
    """Score one ``incoming/`` object and return its report (see the module docstring).

    Raises :class:`RetryableError` (or an S3 error) when the object should be tried
    again; returns a ``failed`` report for files that can never be scored and a
    ``skipped`` one (not stored) for events that no longer describe the object.
    """
    keys = output_keys(obj.key)
    if keys is None:
        raise ValueError(f"not an incoming CSV: {obj.key}")
    finished = _finished_report(s3, obj, keys)
    if finished is not None:
        logger.info("already scored: %s (%s)", obj.key, finished["status"])
        return {**finished, "duplicate": True}
    lease = _claim_lease(s3, obj, keys, seconds_left() + 60)
    try:
        finished = _finished_report(s3, obj, keys)  # finished while we were claiming
        if finished is not None:
            return {**finished, "duplicate": True}
        return _score_claimed(s3, obj, keys, load_model, chunk_rows, seconds_left)
    finally:
        _release_lease(s3, obj, keys, lease)


def _open_current(s3: Any, obj: InputObject) -> tuple[Any, str | None]:
    """The object's body if the event still describes its current version, else why not."""
    try:
        response = s3.get_object(Bucket=obj.bucket, Key=obj.key, IfMatch=obj.etag)
    except Exception as exc:
        code = _error_code(exc)
        if code in ("NoSuchKey", "NoSuchVersion"):
            return None, "the object was deleted since the event"
        if code != "PreconditionFailed":
            raise
        return None, _why_not_current(s3, obj)
    current = response.get("VersionId")
    if obj.version_id and current and current != obj.version_id:
        response["Body"].close()
        return None, (
            f"the event is for version {obj.version_id}, but version {current} (same content) "
            "is the current one and has its own event"
        )
    return response["Body"], None


def _why_not_current(s3: Any, obj: InputObject) -> str:
    """Why the current object's ETag is not the event's: overwritten, or a made-up event."""
    if obj.version_id:
        try:
            head = s3.head_object(Bucket=obj.bucket, Key=obj.key, VersionId=obj.version_id)
            if head.get("ETag") == f'"{obj.etag}"' or head.get("ETag") == obj.etag:
                return (
                    f"version {obj.version_id} has been overwritten since the event: the "
                    "current version has its own event"
                )
        except Exception as exc:
            if _error_code(exc) not in ("NoSuchKey", "NoSuchVersion", "404", "400"):
                raise
        return (
            f"no version of the object has ETag {obj.etag} and version id {obj.version_id}: "
            "the event was not sent by S3 for this object (a hand-made or sample event?)"
        )
    return (
        f"the object's ETag is no longer {obj.etag}: it changed since the event, or the event "
        "was not sent by S3 for this object (a hand-made or sample event?)"
    )


def _still_current(s3: Any, obj: InputObject) -> bool:
    """Whether the object is still the version this run scored (checked before committing)."""
    try:
        head = s3.head_object(Bucket=obj.bucket, Key=obj.key)
    except Exception as exc:
        if _error_code(exc) in ("NoSuchKey", "404"):
            return False
        raise
    if head.get("ETag", "").strip('"') != obj.etag.strip('"'):
        return False
    current = head.get("VersionId")
    return not (obj.version_id and current and current != obj.version_id)


def _score_claimed(
    s3: Any,
    obj: InputObject,
    keys: OutputKeys,
    load_model: Callable[[], LoadedModel],
    chunk_rows: int,
    seconds_left: Callable[[], float],
) -> dict[str, Any]:
    """The scoring itself, once this invocation holds the lease."""
    model = load_model()
    started = time.time()
    report: dict[str, Any] = {
        "status": "running",
        "model": {"name": model.name, "version": model.version},
        "input": {
            "bucket": obj.bucket,
            "key": obj.key,
            "etag": obj.etag,
            "version_id": obj.version_id,
        },
        "outputs": {"predictions": None, "errors": None},
        "rows": {"read": 0, "scored": 0, "rejected": 0},
        "started_at": _utc(started),
    }
    body, stale = _open_current(s3, obj)
    if stale is not None:
        # Nothing is written: the outputs belong to the object's current version.
        logger.info("skipping %s: %s", obj.key, stale)
        return {**report, "status": "skipped", "reason": stale}

    predictions = MultipartWriter(s3, obj.bucket, keys.predictions)
    errors = MultipartWriter(s3, obj.bucket, keys.errors)
    scorer: _ChunkScorer | None = None
    slowest = 0.0
    try:
        stream = CsvStream(open_text(body, gzipped=obj.key.endswith(".gz")))
        scorer = _ChunkScorer(model, stream.columns, stream.delimiter)
        predictions.write(scorer.output_header(stream.header_raw).encode())
        wrote_errors = False
        for chunk in stream.chunks(chunk_rows, scorer.check_record):
            if seconds_left() < max(MIN_SECONDS_LEFT, 2 * slowest):
                raise DeadlineError(
                    f"stopped before the deadline after {scorer.read} rows of {obj.key}"
                )
            began = time.monotonic()
            text, problems = scorer.score(chunk)
            predictions.write(text.encode())
            if problems:
                if not wrote_errors:
                    errors.write(b"line,column,reason,row\n")
                    wrote_errors = True
                errors.write(_error_lines(problems))
            slowest = max(slowest, time.monotonic() - began)
        if scorer.read == 0:
            raise InputError("the file has a header but no rows")
        if not _still_current(s3, obj):
            predictions.abort()
            errors.abort()
            reason = "the object was overwritten or deleted while it was scored"
            logger.info("skipping %s: %s", obj.key, reason)
            return {**report, "status": "skipped", "reason": reason}
        predictions.complete()
        report["outputs"]["predictions"] = keys.predictions
        if wrote_errors:
            errors.complete()
            report["outputs"]["errors"] = keys.errors
        report["status"] = "succeeded"
    except InputError as exc:
        predictions.abort()
        errors.abort()
        report["status"] = "failed"
        report["error"] = str(exc)
        logger.warning("cannot score %s: %s", obj.key, exc)
    except BaseException:
        predictions.abort()
        errors.abort()
        raise
    if scorer is not None:
        report["rows"] = {"read": scorer.read, "scored": scorer.scored, "rejected": scorer.rejected}
    produced = set(report["outputs"].values())
    _remove_outputs(
        s3, obj.bucket, [k for k in (keys.predictions, keys.errors) if k not in produced]
    )
    finished_at = time.time()
    report["finished_at"] = _utc(finished_at)
    report["seconds"] = round(finished_at - started, 3)
    s3.put_object(
        Bucket=obj.bucket,
        Key=keys.report,
        Body=json.dumps(report, indent=2).encode(),
        ContentType="application/json",
    )
    return report


def _error_lines(problems: list[list[str]]) -> bytes:
    return "".join(
        ",".join(csv_field(field, ",") for field in problem) + "\n" for problem in problems
    ).encode()
