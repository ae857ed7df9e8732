"""The lean path's metrics lines, as powertools would write them, without powertools.

A scored request's three metrics (``Predictions``, ``Rows``, ``InferenceLatency``) with
the ``ModelVersion`` and ``service`` dimensions: the same CloudWatch EMF document
powertools' ``Metrics`` flushes, its fixed part built once per model version instead of
per request; and the ``ColdStart`` count of a container's first invocation, with the
``function_name`` and ``service`` dimensions. Namespace, service and whether metrics are
off come from powertools' own variables, read as powertools reads them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping

_TRUE = ("1", "y", "yes", "t", "true", "on")


def metrics_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """powertools' rule: off with ``POWERTOOLS_METRICS_DISABLED`` true, or with
    ``POWERTOOLS_DEV`` true while ``POWERTOOLS_METRICS_DISABLED`` is unset."""
    env = os.environ if environ is None else environ
    disabled = env.get("POWERTOOLS_METRICS_DISABLED")
    if disabled is not None:
        return disabled.strip().lower() in _TRUE
    return env.get("POWERTOOLS_DEV", "false").strip().lower() in _TRUE


def metrics_target(environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(namespace, service) as powertools' ``Metrics()`` reads them."""
    env = os.environ if environ is None else environ
    return env.get("POWERTOOLS_METRICS_NAMESPACE"), env.get("POWERTOOLS_SERVICE_NAME")


def cold_start_line(namespace: str | None, service: str | None, function_name: str) -> str:
    """The ``ColdStart`` document of a container's first invocation."""
    dimensions = {"function_name": function_name}
    if service:
        dimensions["service"] = service
    head = {
        "Namespace": namespace,
        "Dimensions": [list(dimensions)],
        "Metrics": [{"Name": "ColdStart", "Unit": "Count"}],
    }
    document = {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [head]},
        **dimensions,
        "ColdStart": [1.0],
    }
    return json.dumps(document, separators=(",", ":"))


_METRICS = (("Predictions", "Count"), ("Rows", "Count"), ("InferenceLatency", "Milliseconds"))


class PredictionMetricsLine:
    """EMF lines for one namespace and service; a template per model version."""

    def __init__(self, namespace: str | None, service: str | None) -> None:
        self._namespace, self._service = namespace, service
        self._templates: dict[str, str] = {}

    def line(self, version: str, rows: int, elapsed_ms: float) -> str:
        """The document for one scored request of ``rows`` rows."""
        template = self._templates.get(version)
        if template is None:
            template = self._templates[version] = self._template(version)
        return template % (int(time.time() * 1000), float(rows), elapsed_ms)

    def _template(self, version: str) -> str:
        head = {
            "Namespace": self._namespace,
            "Dimensions": [["ModelVersion", "service"]],
            "Metrics": [{"Name": name, "Unit": unit} for name, unit in _METRICS],
        }
        fixed = json.dumps([head]).replace("%", "%%")
        dimensions = json.dumps({"ModelVersion": version, "service": self._service})[1:-1]
        return (
            '{"_aws":{"Timestamp":%d,"CloudWatchMetrics":'
            + fixed
            + "},"
            + dimensions.replace("%", "%%")
            + ',"Predictions":[1.0],"Rows":[%r],"InferenceLatency":[%r]}'
        )
