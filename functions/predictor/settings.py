"""Typed settings of the serving functions, read from environment variables in one place.

The template wires each variable; each default is written once, as the dataclass field's
default. Handlers read the settings once, at the start of their first invocation, and a
misconfiguration is reported there, the same way on every route (see
:mod:`predictor.runtime`). Nothing here depends on the account or region (boto3 takes
the region from ``AWS_REGION``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any
from urllib.parse import urlparse

from predictor.errors import ConfigError

#: The registry's key prefix in its bucket (the serving roles may read only under it).
MODEL_PREFIX = "models"


@dataclass(frozen=True, slots=True)
class RegistryLocation:
    """Where a model registry lives: a bucket and a key prefix (``s3://bucket/prefix``)."""

    bucket: str
    prefix: str = MODEL_PREFIX

    @classmethod
    def from_uri(cls, text: str) -> RegistryLocation:
        """``s3://bucket[/prefix]`` (or a bare bucket name); ValueError otherwise."""
        parsed = urlparse(text if "://" in text else f"s3://{text}")
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"expected s3://bucket[/prefix], got {text!r}")
        return cls(parsed.netloc, parsed.path.strip("/") or MODEL_PREFIX)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RegistryLocation:
        """The registry named by ``MODEL_BUCKET`` (ConfigError when it is unset)."""
        bucket = environ.get("MODEL_BUCKET", "").strip()
        if not bucket:
            raise ConfigError("MODEL_BUCKET is required (the model registry's bucket)")
        return cls(bucket)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def _text(raw: str) -> str:
    return raw


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(raw)
    return value


#: A served-model pattern: a registry name, or a name with ``*`` / ``?`` wildcards.
_MODEL_PATTERN = re.compile(r"^[A-Za-z0-9*?][A-Za-z0-9._*?-]{0,99}$")


def _model_patterns(raw: str) -> tuple[str, ...]:
    """``a,b,region-*`` or ``*``: the names (or wildcard patterns) a function may serve."""
    patterns = tuple(part.strip() for part in raw.split(","))
    if not all(_MODEL_PATTERN.fullmatch(p) and ".." not in p for p in patterns):
        raise ValueError(raw)
    return patterns


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):
        raise ValueError(raw)
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value) or value < 0:
        raise ValueError(raw)
    return value


def _percentage(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 100:
        raise ValueError(raw)
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """What a serving function needs to know about its model and its limits."""

    model_bucket: str
    model_name: str
    model_alias: str = "production"
    alias_recheck_seconds: float = 60.0
    max_request_rows: int = 10_000
    max_request_bytes: int = 6 * 1024 * 1024
    batch_chunk_rows: int = 50_000
    #: onnxruntime's threads per model: 1 for one small request at a time (latency),
    #: 0 for every core (batch chunks of tens of thousands of rows).
    inference_threads: int = 1
    #: Registry names (or ``*`` / ``?`` patterns) this function serves besides
    #: ``model_name``, the default; empty: ``model_name`` alone.
    served_models: tuple[str, ...] = ()
    #: Loaded models are kept, least recently used first out, while the sum of their
    #: ONNX graphs' sizes stays within this many MiB (the last one used is always kept).
    model_cache_mib: int = 256
    #: The state machine that scores large files in byte ranges (batch function only;
    #: empty: every file is scored in one invocation).
    fan_out_state_machine: str = ""
    #: Files of at least this many MiB (and not gzipped) go to the state machine.
    fan_out_min_mib: float = 256.0
    #: The size of each byte range, in MiB (the planner's step).
    fan_out_range_mib: float = 64.0
    #: Ranges scored at once (the Distributed Map's MaxConcurrency).
    fan_out_max_concurrency: int = 100
    #: The bucket monitoring keeps profiles and sampled requests in (under
    #: ``monitoring/``); empty: nothing is captured.
    capture_bucket: str = ""
    #: The percentage of realtime requests stored whole (SageMaker's capture format).
    capture_sample_percent: float = 0.0
    #: A container stores its profiles this often (or, frozen by Lambda meanwhile, when
    #: its next request thaws it).
    capture_flush_seconds: float = 60.0

    @property
    def registry(self) -> RegistryLocation:
        """The registry the served model comes from."""
        return RegistryLocation(self.model_bucket)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``environ``; report every missing or invalid variable at once."""
        defaults = {f.name: f.default for f in fields(cls)}
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, variable, parse, what in _VARIABLES:
            raw = environ.get(variable, "").strip()
            if not raw:
                if defaults[name] is MISSING:
                    problems.append(f"{variable} is required ({what})")
                continue
            try:
                values[name] = parse(raw)
            except ValueError:
                problems.append(f"{variable}={raw!r} is not {what}")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return cls(**values)


#: (field, environment variable, parser, what a valid value is) for each setting.
_VARIABLES: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
    ("model_bucket", "MODEL_BUCKET", _text, "a bucket name"),
    ("model_name", "MODEL_NAME", _text, "a model name"),
    ("model_alias", "MODEL_ALIAS", _text, "an alias"),
    ("alias_recheck_seconds", "ALIAS_RECHECK_SECONDS", _non_negative_float, "a number >= 0"),
    ("max_request_rows", "MAX_REQUEST_ROWS", _positive_int, "an integer > 0"),
    ("max_request_bytes", "MAX_REQUEST_BYTES", _positive_int, "an integer > 0"),
    ("batch_chunk_rows", "BATCH_CHUNK_ROWS", _positive_int, "an integer > 0"),
    ("inference_threads", "INFERENCE_THREADS", _non_negative_int, "an integer >= 0"),
    (
        "served_models",
        "SERVED_MODELS",
        _model_patterns,
        "a comma-separated list of model names or patterns such as region-* or *",
    ),
    ("model_cache_mib", "MODEL_CACHE_MIB", _positive_int, "an integer > 0"),
    ("fan_out_state_machine", "FAN_OUT_STATE_MACHINE_ARN", _text, "a state machine ARN"),
    ("fan_out_min_mib", "FAN_OUT_MIN_MIB", _positive_float, "a number of MiB > 0"),
    ("fan_out_range_mib", "FAN_OUT_RANGE_MIB", _positive_float, "a number of MiB > 0"),
    ("fan_out_max_concurrency", "FAN_OUT_MAX_CONCURRENCY", _positive_int, "an integer > 0"),
    ("capture_bucket", "CAPTURE_BUCKET", _text, "a bucket name"),
    ("capture_sample_percent", "CAPTURE_SAMPLE_PERCENT", _percentage, "a percentage 0-100"),
    ("capture_flush_seconds", "CAPTURE_FLUSH_SECONDS", _positive_float, "a number > 0"),
)
