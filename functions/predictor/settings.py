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
from dataclasses import dataclass, field, fields
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


@dataclass(frozen=True, slots=True)
class Rule:
    """How a variable's text becomes a value: ``parse`` (ValueError: invalid) and what
    a valid value is, for the error."""

    parse: Callable[[str], Any]
    valid: str


def _checked(convert: Callable[[str], Any], accept: Callable[[Any], bool]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        value = convert(raw)
        if not accept(value):
            raise ValueError(raw)
        return value

    return parse


#: A served-model pattern: a registry name, or a name with ``*`` / ``?`` wildcards.
_MODEL_PATTERN = re.compile(r"^[A-Za-z0-9*?][A-Za-z0-9._*?-]{0,99}$")
#: An S3 bucket name (lower-case letters, digits, dots and hyphens, 3 to 63 characters).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
#: The longest period one monitor run may cover.
MAX_LOOKBACK_MINUTES = 31 * 24 * 60


def _model_patterns(raw: str) -> tuple[str, ...]:
    """``a,b,region-*`` or ``*``: the names (or wildcard patterns) a function may serve."""
    patterns = tuple(part.strip() for part in raw.split(","))
    if not all(_MODEL_PATTERN.fullmatch(p) and ".." not in p for p in patterns):
        raise ValueError(raw)
    return patterns


def _whole_in(low: int, high: int) -> Rule:
    def parse(raw: str) -> int:
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise ValueError(raw)
        return int(raw)

    return Rule(parse, f"an integer from {low} to {high}")


MODEL_NAME = Rule(str, "a model name")
ALIAS = Rule(str, "an alias")
ARN = Rule(str, "a state machine ARN")
BUCKET = Rule(_checked(str, lambda v: bool(_BUCKET.fullmatch(v))), "a bucket name")
POSITIVE_INT = Rule(_checked(int, lambda v: v > 0), "an integer > 0")
NON_NEGATIVE_INT = Rule(_checked(int, lambda v: v >= 0), "an integer >= 0")
POSITIVE_NUMBER = Rule(_checked(float, lambda v: 0 < v < math.inf), "a number > 0")
NON_NEGATIVE_NUMBER = Rule(_checked(float, lambda v: 0 <= v < math.inf), "a number >= 0")
PERCENTAGE = Rule(_checked(float, lambda v: 0 <= v <= 100), "a percentage 0-100")
MODEL_PATTERNS = Rule(
    _model_patterns, "a comma-separated list of model names or patterns such as region-* or *"
)


def _boolean(raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise ValueError(raw)
    return raw.lower() == "true"


BOOLEAN = Rule(_boolean, "true or false")


def setting(default: Any, rule: Rule, variable: str = "") -> Any:
    """A settings field read from ``variable`` (by default the field's name upper-cased)."""
    return field(default=default, metadata={"rule": rule, "variable": variable})


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable :class:`Settings` reads."""

    name: str
    field: str
    default: Any
    rule: Rule


@dataclass(frozen=True, slots=True)
class Settings:
    """What every function needs to know: its models, its limits, capture and the monitor.

    One model for every function; each reads the variables it needs, and says which
    it requires (:meth:`from_env`'s ``required``: the serving functions their model, the
    monitor the capture bucket). ``docs/configuration.md`` lists the variables from
    here, each field's ``#:`` comment its description.
    """

    #: The model registry's bucket.
    model_bucket: str = setting("", BUCKET)
    #: The model served by default (and the only one, unless ``SERVED_MODELS``).
    model_name: str = setting("", MODEL_NAME)
    #: The alias served; promotion and rollback move it, no redeploy.
    model_alias: str = setting("production", ALIAS)
    #: How often, in seconds, a warm function looks for a new version behind the alias.
    alias_recheck_seconds: float = setting(60.0, NON_NEGATIVE_NUMBER)
    #: Rows per realtime request (more: 413).
    max_request_rows: int = setting(10_000, POSITIVE_INT)
    #: Bytes per realtime request body (more: 413).
    max_request_bytes: int = setting(6 * 1024 * 1024, POSITIVE_INT)
    #: Rows scored at a time in batch (bounds memory).
    batch_chunk_rows: int = setting(50_000, POSITIVE_INT)
    #: onnxruntime's threads per model: 1 for one small request at a time (latency),
    #: 0 for every core (batch chunks of tens of thousands of rows).
    inference_threads: int = setting(1, NON_NEGATIVE_INT)
    #: Registry names (or ``*`` / ``?`` patterns) served besides ``MODEL_NAME``, the
    #: default; empty: ``MODEL_NAME`` alone.
    served_models: tuple[str, ...] = setting((), MODEL_PATTERNS)
    #: Loaded models are kept, least recently used first out, while their ONNX graphs
    #: add up to at most this many MiB (the last one used is always kept).
    model_cache_mib: int = setting(256, POSITIVE_INT)
    #: The state machine that scores large files in byte ranges (batch function only);
    #: empty: every file is scored in one invocation.
    fan_out_state_machine: str = setting("", ARN, variable="FAN_OUT_STATE_MACHINE_ARN")
    #: Files of at least this many MiB (and not gzipped) go to the state machine.
    fan_out_min_mib: float = setting(256.0, POSITIVE_NUMBER)
    #: The size of each byte range, in MiB (the planner's step).
    fan_out_range_mib: float = setting(64.0, POSITIVE_NUMBER)
    #: Ranges of one file scored at once (the Distributed Map's MaxConcurrency).
    fan_out_max_concurrency: int = setting(100, POSITIVE_INT)
    #: The bucket monitoring keeps profiles and sampled requests in (under
    #: ``monitoring/``); empty: nothing is captured.
    capture_bucket: str = setting("", BUCKET)
    #: The percentage of realtime requests stored whole (SageMaker's capture format).
    capture_sample_percent: float = setting(0.0, PERCENTAGE)
    #: A container stores its profiles this often, in seconds (or, frozen by Lambda
    #: meanwhile, when its next request thaws it).
    capture_flush_seconds: float = setting(60.0, POSITIVE_NUMBER)
    #: Keep each scored row (its inference id, prediction and input) under
    #: ``monitoring/predictions/`` of the capture bucket, for joining with labels.
    keep_predictions: bool = setting(False, BOOLEAN)
    #: Days kept predictions wait for their labels (the monitor reads no older ones).
    feedback_retention_days: int = setting(30, _whole_in(1, 3650))
    #: The monitor's period: it reports the rows profiled in this many last minutes.
    monitor_lookback_minutes: int = setting(60, _whole_in(5, MAX_LOOKBACK_MINUTES))
    #: The monitor reads a window once it closed this many seconds ago (the flush).
    monitor_settle_seconds: int = setting(120, _whole_in(0, 3600))

    @property
    def registry(self) -> RegistryLocation:
        """The registry the served model comes from."""
        return RegistryLocation(self.model_bucket)

    @classmethod
    def variables(cls) -> tuple[Variable, ...]:
        """Every variable the settings read, in declaration order."""
        return tuple(
            Variable(
                f.metadata["variable"] or f.name.upper(), f.name, f.default, f.metadata["rule"]
            )
            for f in fields(cls)
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], required: tuple[str, ...] = ("model_bucket", "model_name")
    ) -> Settings:
        """Build settings from ``environ``; report every missing or invalid variable at once.

        ``required``: the settings this function cannot go without (field names).
        """
        values: dict[str, Any] = {}
        problems: list[str] = []
        for variable in cls.variables():
            raw = environ.get(variable.name, "").strip()
            if not raw:
                if variable.field in required:
                    problems.append(f"{variable.name} is required ({variable.rule.valid})")
                continue
            try:
                values[variable.field] = variable.rule.parse(raw)
            except ValueError:
                problems.append(f"{variable.name}={raw!r} is not {variable.rule.valid}")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return cls(**values)
