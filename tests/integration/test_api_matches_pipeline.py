"""Property: for any valid rows, the API's predictions equal the scikit-learn pipeline's."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.lambda_context import LambdaContext
from predictor.schema import FeatureSchema
from tests.helpers import Artifacts, invoke, post
from training.registry_admin import ModelRegistry


def rows_within(schema: FeatureSchema) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Rows of finite numbers around each column's training range (and a bit beyond)."""
    columns = {}
    for column in schema.columns:
        low, high = column.minimum or 0.0, column.maximum or 1.0
        span = high - low
        bounds = np.array([low - 0.5 * span, high + 0.5 * span], dtype=np.float32)
        columns[column.name] = st.floats(
            float(bounds[0]), float(bounds[1]), allow_nan=False, allow_infinity=False, width=32
        )
    # At least 4 rows per request: 60 requests always make the 200 rows asked for.
    return st.lists(st.fixed_dictionaries(columns), min_size=4, max_size=8)


def test_api_predictions_equal_the_pipeline(
    wine: str, serve: ModelRegistry, lambda_context: LambdaContext, wine_boosting: Artifacts
) -> None:
    version = wine_boosting.publish(serve)["version"]
    serve.set_alias("wine", "production", version)
    canonical = serve.load_joblib("wine", version)
    schema = canonical.predictor.schema
    tolerance = max(1e-4, 10 * canonical.manifest["onnx"]["max_abs_difference"])
    checked = []

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
        derandomize=True,
    )
    @given(rows=rows_within(schema))
    def check(rows: list[dict[str, Any]]) -> None:
        status, body, _ = invoke(post(json.dumps({"instances": rows})), lambda_context)
        assert status == 200, body
        features = schema.validate(
            {c: [r[c] for r in rows] for c in schema.names}, len(rows), text=False
        ).features
        expected = canonical.predictor.predict(features).values
        np.testing.assert_allclose(body["predictions"], expected, atol=tolerance, rtol=0)
        checked.extend(rows)

    check()
    assert len(checked) >= 200
