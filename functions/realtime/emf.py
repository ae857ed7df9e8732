"""The metrics line of a scored request, as powertools would write it, in one print.

The warm path's three metrics (``Predictions``, ``Rows``, ``InferenceLatency``) with the
``ModelVersion`` and ``service`` dimensions: the same CloudWatch EMF document powertools'
``Metrics`` flushes, its fixed part built once per model version instead of per request.
"""

from __future__ import annotations

import json
import time

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
