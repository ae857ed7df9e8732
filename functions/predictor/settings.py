"""Typed settings of the serving functions, read from environment variables in one place.

The template wires each variable with ``!Ref``; nothing here has a hidden default that
depends on the account or region (boto3 takes the region from ``AWS_REGION``).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from predictor.errors import ConfigError


def _text(raw: str) -> str:
    return raw


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value) or value < 0:
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

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``environ``; report every missing or invalid variable at once."""
        problems: list[str] = []

        def read[T](name: str, parse: Callable[[str], T], what: str, default: T | None) -> T:
            raw = environ.get(name, "").strip()
            if not raw:
                if default is None:
                    problems.append(f"{name} is required ({what})")
                return default  # type: ignore[return-value]
            try:
                return parse(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not {what}")
                return default  # type: ignore[return-value]

        settings = cls(
            model_bucket=read("MODEL_BUCKET", _text, "a bucket name", None),
            model_name=read("MODEL_NAME", _text, "a model name", None),
            model_alias=read("MODEL_ALIAS", _text, "an alias", "production"),
            alias_recheck_seconds=read(
                "ALIAS_RECHECK_SECONDS", _non_negative_float, "a number >= 0", 60.0
            ),
            max_request_rows=read("MAX_REQUEST_ROWS", _positive_int, "an integer > 0", 10_000),
            max_request_bytes=read(
                "MAX_REQUEST_BYTES", _positive_int, "an integer > 0", 6 * 1024 * 1024
            ),
            batch_chunk_rows=read("BATCH_CHUNK_ROWS", _positive_int, "an integer > 0", 50_000),
        )
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return settings


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read from ``os.environ`` on first use and cached."""
    return Settings.from_env(os.environ)
